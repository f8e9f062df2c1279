"""The vocabulary of adapter specs (secret fields, settings) and the check of compute settings.

An :class:`AdapterSpec` says which profile fields come from the connection secret (as
``env_var('DBT_ENV_SECRET_<KEY>')``) and which non-secret settings come from
``plugins.compute.config``.

The manifest is committed to git, so it must hold no credential. A setting whose name looks like
one (``password``, ``token``, ``private_key`` …) is refused with a pointer to the connection
secret, at any depth; so is a value that is plainly a private key. Declared settings are
type-checked and defaulted; undeclared ones pass through to dbt as they are, because adapters
have many options floe need not know (dbt ignores keys it does not know).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from floe_dagster_secrets.credential_names import is_dbt_setting_name
from floe_dagster_secrets.errors import InvalidManifestError, InvalidSecretReferenceError
from floe_dagster_secrets.manifest.bounds import (
    JINJA_MARKERS,
    BoundExceededError,
    jinja_locations,
)
from floe_dagster_secrets.manifest.naming import dotted_path

_PEM_MARKER = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def looks_like_credential_name(name: str) -> bool:
    """Whether a setting name reads like a credential (``password``, ``api_key``, ``token`` …)."""
    return is_dbt_setting_name(name)  # the rule: floe_dagster_secrets.credential_names


def looks_like_credential_value(value: object) -> bool:
    """Whether a value is plainly secret material (a PEM private key)."""
    return isinstance(value, str) and bool(_PEM_MARKER.search(value))


@dataclass(frozen=True)
class Setting:
    """One non-secret setting a compute type reads from ``plugins.compute.config``.

    Attributes:
        name: The key in the manifest and in the dbt target.
        kind: ``str``, ``int`` or ``bool``.
        required: The manifest must give it.
        default: Used when the manifest does not give it (``None``: left out of the profile).
        choices: The allowed values, if limited.
        aliases: Other names the manifest may use (``database`` for BigQuery's ``project``).
        minimum / maximum: Bounds for an ``int``.
    """

    name: str
    kind: type
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def check(self, compute_type: str, value: Any) -> Any:
        """Return the value if it has the right type, choice and range; else a manifest error."""
        where = f"plugins.compute.config.{self.name}"
        ok = isinstance(value, self.kind) and not (self.kind is int and isinstance(value, bool))
        if not ok:
            raise InvalidManifestError(
                f"{where} for compute type '{compute_type}' must be of type {self.kind.__name__}, "
                f"not {type(value).__name__}",
                fix=f"write {where} as a {self.kind.__name__}",
                path=where,
            )
        if self.choices and value not in self.choices:
            raise InvalidManifestError(
                f"{where} for compute type '{compute_type}' is '{value}'",
                fix=f"set it to one of: {', '.join(self.choices)}",
                path=where,
            )
        too_small = self.minimum is not None and value < self.minimum
        too_big = self.maximum is not None and value > self.maximum
        if too_small or too_big:
            bounds = f"at least {self.minimum}" if too_small else f"at most {self.maximum}"
            raise InvalidManifestError(
                f"{where} for compute type '{compute_type}' is {value}",
                fix=f"set it to {bounds}",
                path=where,
            )
        return value


def _refuse_credentials(compute_type: str, value: Any, where: str) -> None:
    """Fail on a credential-like name or value anywhere inside an undeclared setting."""
    name = where.rsplit(".", 1)[-1]
    if looks_like_credential_name(name) or looks_like_credential_value(value):
        raise InvalidSecretReferenceError(
            f"{where} looks like a credential, and the manifest must hold none "
            f"(compute type '{compute_type}')",
            fix="remove it from the manifest and put the value in the connection secret "
            "(plugins.compute.connection_secret_ref); the profile reads secret keys as "
            "env_var('DBT_ENV_SECRET_<KEY>')",
            path=where,
        )
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _refuse_credentials(compute_type, inner, f"{where}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _refuse_credentials(compute_type, inner, f"{where}[{index}]")


_YAML_SCALARS = (str, int, float, bool, type(None))


def _check_plain(compute_type: str, value: Any, where: str) -> None:
    """Undeclared settings must be plain YAML data, so the rendered file is deterministic."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise InvalidManifestError(
                    f"{where} has a non-text key", fix="use text keys only", path=where
                )
            _check_plain(compute_type, inner, f"{where}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_plain(compute_type, inner, f"{where}[{index}]")
    elif not isinstance(value, _YAML_SCALARS):
        raise InvalidManifestError(
            f"{where} for compute type '{compute_type}' is a {type(value).__name__}",
            fix="use text, numbers, booleans, lists or mappings only",
            path=where,
        )


_CONFIG_LOC = ("plugins", "compute", "config")


def refuse_jinja(given: Any) -> None:
    """Refuse settings (keys or text, at any depth) holding Jinja, naming the first one.

    Settings are written into ``profiles.yml`` as they are and dbt evaluates Jinja there: a
    template in a non-secret field could copy a secret into it (and from there into
    ``target/manifest.json`` or a schema name) or run code. Also bounds the size and depth of
    the settings, so every later walk over them is bounded.

    Raises:
        InvalidManifestError: Jinja found, or settings too large or too deep to be real.
    """
    try:
        found = jinja_locations(given, _CONFIG_LOC)
    except BoundExceededError as e:
        raise InvalidManifestError(
            f"plugins.compute.config {e}",
            fix="write plugins.compute.config as a small mapping of plain settings",
            path="plugins.compute.config",
        ) from None
    if not found:
        return
    loc, is_key = found[0]
    where = dotted_path(loc)
    markers = ", ".join(f"'{marker}'" for marker in JINJA_MARKERS)
    raise InvalidManifestError(
        f"{where} {'has a key that holds' if is_key else 'holds'} Jinja ({markers}), which dbt "
        "would evaluate: floe writes settings into profiles.yml as they are, so a template "
        "there could copy a secret into a non-secret field or run code",
        fix=f"write the plain value in {where}; secret fields come from the connection secret "
        "as env_var('DBT_ENV_SECRET_<KEY>'), which floe writes itself",
        path=where,
    )


def resolve_settings(
    compute_type: str,
    declared: tuple[Setting, ...],
    given: Mapping[str, Any],
    *,
    secret_fields: Mapping[str, tuple[str, ...]],
    managed: frozenset[str],
) -> dict[str, Any]:
    """Check ``plugins.compute.config`` and return the settings for the dbt target.

    Args:
        compute_type: For messages.
        declared: The settings the compute type knows.
        given: ``plugins.compute.config`` as written.
        secret_fields: Top-level profile keys that come from the secret -> their secret keys.
        managed: Top-level profile keys floe writes itself.

    Returns:
        Declared settings (given or defaulted) in declared order, then undeclared ones by name.

    Raises:
        InvalidManifestError: missing/ill-typed setting, or one floe manages itself.
        InvalidSecretReferenceError: a setting that is (or looks like) a credential.
    """
    if not isinstance(given, Mapping):
        raise InvalidManifestError(
            "plugins.compute.config must be a mapping",
            fix="write plugins.compute.config as key: value pairs",
            path="plugins.compute.config",
        )
    refuse_jinja(given)
    names = {name: s for s in declared for name in (s.name, *s.aliases)}
    resolved: dict[str, Any] = {}
    for s in declared:
        present = [n for n in (s.name, *s.aliases) if n in given]
        if len(present) > 1:
            raise InvalidManifestError(
                f"plugins.compute.config sets {' and '.join(present)}, which mean the same",
                fix=f"keep only '{s.name}'",
                path=f"plugins.compute.config.{s.name}",
            )
        value = given[present[0]] if present else s.default
        if value is None:
            if s.required:
                raise InvalidManifestError(
                    f"plugins.compute.config.{s.name} is required for compute type "
                    f"'{compute_type}'",
                    fix=f"add '{s.name}: <value>' under plugins.compute.config",
                    path=f"plugins.compute.config.{s.name}",
                )
            continue
        resolved[s.name] = s.check(compute_type, value)
    for name in sorted((k for k in given if k not in names), key=str):
        where = f"plugins.compute.config.{name}"
        if not isinstance(name, str):
            raise InvalidManifestError(
                "plugins.compute.config has a non-text key", fix="use text keys", path=where
            )
        if name in secret_fields:
            keys = ", ".join(secret_fields[name])
            raise InvalidSecretReferenceError(
                f"{where} comes from the connection secret (key {keys}), not the manifest",
                fix=f"remove '{name}' from plugins.compute.config and keep {keys} in the secret "
                "named by plugins.compute.connection_secret_ref",
                path=where,
            )
        _refuse_credentials(compute_type, given[name], where)
        if name in managed:
            raise InvalidManifestError(
                f"{where} is written by floe for compute type '{compute_type}'",
                fix=f"remove '{name}' from plugins.compute.config",
                path=where,
            )
        _check_plain(compute_type, given[name], where)
        resolved[name] = given[name]
    return resolved


SECRET_ENV_PREFIX = "DBT_ENV_SECRET_"  # noqa: S105 (a name prefix)
"""dbt scrubs the values of variables with this prefix from its logs (dbt_common's constant)."""

ProfilePath = tuple[str | int, ...]


@dataclass(frozen=True)
class SecretField:
    """One profile field that is filled from one key of the connection secret.

    Attributes:
        path: Where the field sits in the dbt target (``("attach", 0, "options", "x")``).
        key: The key of the connection secret (``SNOWFLAKE_PASSWORD``).
        optional: The secret may omit the key; the profile then reads an empty string.
    """

    path: ProfilePath
    key: str
    optional: bool = False


Builder = Callable[[Mapping[str, Any], Callable[[str], str]], dict[str, Any]]


@dataclass(frozen=True)
class AdapterSpec:
    """How one compute type becomes one dbt target.

    Attributes:
        compute_type: The manifest's ``plugins.compute.type``.
        auth_methods: Secret fields per authentication method (the setting ``auth`` picks one).
        settings: The non-secret settings read from ``plugins.compute.config``.
        build: Builds the target from resolved settings and a function that turns a secret key
            into its ``env_var()`` reference; it never sees a value.
        managed: Top-level profile keys floe writes itself, which settings may not set.
    """

    compute_type: str
    auth_methods: Mapping[str, tuple[SecretField, ...]]
    settings: tuple[Setting, ...]
    build: Builder
    managed: frozenset[str] = field(default_factory=frozenset)

    @property
    def default_auth(self) -> str:
        """The first authentication method is the default."""
        return next(iter(self.auth_methods))

    def secret_fields(self, auth: str) -> tuple[SecretField, ...]:
        """The secret fields of one authentication method."""
        return self.auth_methods[auth]

    def all_secret_fields(self) -> tuple[SecretField, ...]:
        """Every secret field of every authentication method, de-duplicated by path."""
        seen: dict[ProfilePath, SecretField] = {}
        for fields in self.auth_methods.values():
            for f in fields:
                seen.setdefault(f.path, f)
        return tuple(seen.values())


def secret_env_name(key: str) -> str:
    """The env var that carries a secret key in the pod: ``DBT_ENV_SECRET_<KEY>``."""
    return f"{SECRET_ENV_PREFIX}{key}"


def env_var_reference(key: str, *, optional: bool = False) -> str:
    """The Jinja reference a profile uses for a secret key; an optional key defaults to ''."""
    default = ", ''" if optional else ""
    return f"{{{{ env_var('{secret_env_name(key)}'{default}) }}}}"


ENV_REFERENCE = re.compile(r"\{\{ env_var\('DBT_ENV_SECRET_[A-Za-z_][A-Za-z0-9_]*'(, '')?\) \}\}")
"""Exactly what :func:`env_var_reference` writes; a credential field must match it in full."""
