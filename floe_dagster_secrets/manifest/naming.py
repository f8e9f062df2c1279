"""Names the manifest is made of: Kubernetes names, env var names, ADR-0023's naming convention.

Every check here is a pure function over one string, so the schema can use them as pydantic
validators and the rules module can use them across the whole manifest. Messages about a name
that fails the Kubernetes rules never repeat the name: a value typed into the wrong field (a
password where a secret *name* belongs) must not reach an error message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Annotated

from pydantic import AfterValidator, Field

from floe_dagster_secrets.kube.names import (
    DNS1123_LABEL,
    DNS1123_LABEL_MAX,
    DNS1123_LABEL_PATTERN,
    DNS1123_SUBDOMAIN,
    DNS1123_SUBDOMAIN_MAX,
    DNS1123_SUBDOMAIN_PATTERN,
)

__all__ = [
    "ENVIRONMENT_ALIASES",
    "KNOWN_ENVIRONMENTS",
    "NAMING_CONVENTION",
    "DnsLabel",
    "EnvVarName",
    "FloeNamingWarning",
    "HttpUrlText",
    "ResourceName",
    "SecretName",
    "canonical_environment",
    "check_dns1123_label",
    "check_env_var_name",
    "check_http_url",
    "check_resource_name",
    "check_secret_name",
    "dotted_path",
    "embedded_environments",
    "follows_naming_convention",
    "join_words",
    "same_environment",
    "suggest_name",
]


class FloeNamingWarning(UserWarning):
    """A secret name breaks ADR-0023's naming convention (an error with ``strict=True``)."""


ENV_VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
HTTP_URL_PATTERN = r"^https?://[^\s/?#]+([/?#]\S*)?$"
_LABEL_RE = DNS1123_LABEL
_SUBDOMAIN_RE = DNS1123_SUBDOMAIN
_ENV_VAR_RE = re.compile(ENV_VAR_NAME_PATTERN)
_HTTP_URL_RE = re.compile(HTTP_URL_PATTERN)

# ADR-0023: {service}-{environment}-credentials, {service}-{purpose}-secret; its examples also
# show {service}-{purpose}-credentials (polaris-oauth-credentials) and a signing key
# (cube-jwt-signing-key), so the suffix may be credentials, secret or key after at least two parts.
NAMING_CONVENTION = "{service}-{environment}-credentials or {service}-{purpose}-secret"
_CONVENTION_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+-(credentials|secret|key)\Z")
_SUFFIXES = ("-credentials", "-secret", "-key")

# Words that name an environment when they appear as one '-'/'.'-separated part of a secret name.
# Aliases count as the same environment: a "production" manifest may use "snowflake-prod-...".
ENVIRONMENT_ALIASES: tuple[frozenset[str], ...] = (
    frozenset({"dev", "development"}),
    frozenset({"test"}),
    frozenset({"staging", "stage"}),
    frozenset({"qa"}),
    frozenset({"uat"}),
    frozenset({"prod", "production"}),
)
KNOWN_ENVIRONMENTS: frozenset[str] = frozenset().union(*ENVIRONMENT_ALIASES)

_K8S_NAME_RULE = (
    "at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
)


def _name_problem(value: str, *, max_len: int, allow_dots: bool) -> str | None:
    """Say what is wrong with a DNS-1123 name without repeating it (``None`` when it is fine)."""
    if not value:
        return "it is empty"
    if len(value) > max_len:
        return f"it is {len(value)} characters long, more than {max_len}"
    if value != value.lower():
        return "it has uppercase letters"
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789-" + ("." if allow_dots else "")
    if any(ch not in allowed for ch in value):
        kinds = "letters, digits, '-' and '.'" if allow_dots else "letters, digits and '-'"
        return f"it has characters other than lowercase {kinds}"
    if not (_SUBDOMAIN_RE if allow_dots else _LABEL_RE).match(value):
        return "each part must start and end with a letter or digit"
    return None


def check_secret_name(value: str) -> str:
    """Validate a Kubernetes Secret name (DNS-1123 subdomain); return it unchanged.

    Raises:
        ValueError: The name is not valid; the message says why without repeating the name.
    """
    return _check_subdomain(value, "Kubernetes Secret name")


def check_resource_name(value: str) -> str:
    """Validate the name of another Kubernetes object (a ClusterSecretStore); return it.

    Raises:
        ValueError: The name is not a DNS-1123 subdomain; the message does not repeat it.
    """
    return _check_subdomain(value, "Kubernetes resource name")


def _check_subdomain(value: str, what: str) -> str:
    problem = _name_problem(value, max_len=DNS1123_SUBDOMAIN_MAX, allow_dots=True)
    if problem:
        raise ValueError(f"not a valid {what}: {problem} ({_K8S_NAME_RULE})")
    return value


def check_dns1123_label(value: str) -> str:
    """Validate a DNS-1123 label (namespaces, environments); return it unchanged.

    Raises:
        ValueError: The label is not valid; the message says why without repeating it.
    """
    problem = _name_problem(value, max_len=DNS1123_LABEL_MAX, allow_dots=False)
    if problem:
        raise ValueError(
            f"not a valid DNS-1123 label: {problem} (at most 63 lowercase letters, digits and "
            "'-', starting and ending with a letter or digit)"
        )
    return value


def check_env_var_name(value: str) -> str:
    """Validate an environment variable name (what a secret key becomes in the pod).

    Raises:
        ValueError: The name is not ``[A-Za-z_][A-Za-z0-9_]*``.
    """
    if not _ENV_VAR_RE.fullmatch(value):
        raise ValueError(
            "not a valid environment variable name: use letters, digits and '_', not starting "
            "with a digit"
        )
    return value


def check_http_url(value: str) -> str:
    """Validate an ``http(s)://host[...]`` URL; return it unchanged (no normalisation).

    Raises:
        ValueError: The text is not an http or https URL with a host.
    """
    if not _HTTP_URL_RE.fullmatch(value):
        raise ValueError("not an http(s) URL: write it as https://host[:port][/path]")
    return value


ResourceName = Annotated[
    str,
    AfterValidator(check_resource_name),
    Field(
        json_schema_extra={
            "pattern": DNS1123_SUBDOMAIN_PATTERN,
            "maxLength": DNS1123_SUBDOMAIN_MAX,
        }
    ),
]
"""The name of a Kubernetes object other than a Secret (DNS-1123 subdomain)."""

SecretName = Annotated[
    str,
    AfterValidator(check_secret_name),
    Field(
        json_schema_extra={
            "pattern": DNS1123_SUBDOMAIN_PATTERN,
            "maxLength": DNS1123_SUBDOMAIN_MAX,
        }
    ),
]
"""A Kubernetes Secret name (DNS-1123 subdomain)."""

DnsLabel = Annotated[
    str,
    AfterValidator(check_dns1123_label),
    Field(json_schema_extra={"pattern": DNS1123_LABEL_PATTERN, "maxLength": DNS1123_LABEL_MAX}),
]
"""A DNS-1123 label: namespaces and environment names."""

EnvVarName = Annotated[
    str,
    AfterValidator(check_env_var_name),
    Field(json_schema_extra={"pattern": ENV_VAR_NAME_PATTERN}),
]
"""An environment variable name."""

HttpUrlText = Annotated[
    str,
    AfterValidator(check_http_url),
    Field(json_schema_extra={"pattern": HTTP_URL_PATTERN, "format": "uri"}),
]
"""An http(s) URL kept exactly as written."""


def _parts(name: str) -> list[str]:
    return [p for p in re.split(r"[-.]", name) if p]


def _aliases(word: str) -> frozenset[str]:
    for group in ENVIRONMENT_ALIASES:
        if word in group:
            return group
    return frozenset({word})


def same_environment(a: str, b: str) -> bool:
    """Whether two environment names mean the same environment (``prod`` and ``production``)."""
    return a == b or b in _aliases(a)


def canonical_environment(environment: str) -> str:
    """One spelling per environment (``development`` -> ``dev``), for grouping manifests."""
    return min(_aliases(environment), key=lambda word: (len(word), word))


def embedded_environments(name: str, environment: str) -> tuple[str, ...]:
    """Environment words in ``name`` that are not ``environment`` (nor an alias of it).

    ``snowflake-prod-credentials`` in ``dev`` gives ``("prod",)``. Parts of the manifest's own
    environment name count as its own (``prod`` in ``prod-eu``).
    """
    own: set[str] = set(_aliases(environment))
    for part in _parts(environment):
        own |= _aliases(part)
    found: list[str] = []
    for part in _parts(name):
        if part in KNOWN_ENVIRONMENTS and part not in own and part not in found:
            found.append(part)
    return tuple(found)


def follows_naming_convention(name: str) -> bool:
    """Whether ``name`` has ADR-0023's shape: ``{service}-{qualifier}-credentials|secret|key``."""
    return bool(_CONVENTION_RE.match(name))


def suggest_name(name: str, environment: str) -> str:
    """A convention-following name close to ``name``, for the fix text of a warning."""
    stem = name
    for suffix in _SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = re.sub(r"[^a-z0-9-]+", "-", stem).strip("-") or "service"
    parts = _parts(stem)
    if environment in parts and len(parts) >= 2:
        return f"{stem}-credentials"
    return f"{stem}-{environment}-credentials"


def dotted_path(loc: Sequence[int | str]) -> str:
    """Render a pydantic ``loc`` as ``plugins.compute.config`` / ``pipelines[0].source``.

    Keys that are not plain words (a secret name with a dot, an empty key) are quoted:
    ``secrets["a.b"].keys``. The ``[key]`` marker pydantic adds for dict-key errors is dropped:
    the path then ends at the offending key.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(top level)"


def join_words(words: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` for messages."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
