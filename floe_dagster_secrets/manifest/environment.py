"""Which environment a manifest is for, when it does not say (ADR-0023 has no ``environment:``).

The ADR's own manifests name no environment, yet its rules need one ("MUST use separate secrets
per environment", "MUST NOT share secrets across environments"). So ``environment:`` is optional
and, when absent, comes from the first of:

1. an explicit choice: ``--environment`` on the command line, else ``$FLOE_ENVIRONMENT``;
2. the file name: ``manifest.prod.yaml`` is for ``prod`` (used for manifests found beside
   each other, see :mod:`floe_dagster_secrets.manifest.group`);
3. the secret names: ``snowflake-prod-credentials`` and ``polaris-prod-credentials`` say
   ``prod`` (names of two environments are an error: one manifest is for one environment);
4. else :data:`DEFAULT_ENVIRONMENT`.

An explicit choice that contradicts the manifest's own ``environment:`` is an error, so a
production manifest cannot be checked as if it were ``dev``. Everything here is pure: the
caller reads ``$FLOE_ENVIRONMENT`` and file names and passes them in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from floe_dagster_secrets.kube.names import DNS1123_LABEL_FRAGMENT
from floe_dagster_secrets.manifest.naming import (
    KNOWN_ENVIRONMENTS,
    canonical_environment,
    check_dns1123_label,
    join_words,
    same_environment,
)

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "ENVIRONMENT_VARIABLE",
    "EnvironmentChoice",
    "EnvironmentProblem",
    "environment_from_file_name",
    "environments_in_names",
    "resolve_environment",
]

DEFAULT_ENVIRONMENT = "default"
"""The environment of a manifest that names none and whose secret names name none either."""

ENVIRONMENT_VARIABLE = "FLOE_ENVIRONMENT"
"""The process environment variable that says which environment a manifest is for."""

_FILE_NAME_RE = re.compile(rf"^manifest[.-]({DNS1123_LABEL_FRAGMENT})\.ya?ml\Z")


class EnvironmentProblem(ValueError):
    """The environment cannot be resolved; the message says what to write instead."""


@dataclass(frozen=True)
class EnvironmentChoice:
    """An environment given from outside the manifest, and where it came from.

    ``origin`` is shown in messages: ``--environment``, ``FLOE_ENVIRONMENT``, ``the file name
    manifest.prod.yaml``. ``explicit`` choices must agree with the manifest's own
    ``environment:``; a file name only fills in a missing one.
    """

    value: str
    origin: str
    explicit: bool = True


def environment_from_file_name(path: str | PurePath) -> EnvironmentChoice | None:
    """``manifest.prod.yaml`` / ``manifest-prod.yml`` -> ``prod``; other names -> ``None``."""
    name = PurePath(path).name
    match = _FILE_NAME_RE.match(name)
    if match is None:
        return None
    return EnvironmentChoice(match.group(1), f"the file name {name}", explicit=False)


def environments_in_names(names: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Environment words in secret names, grouped by environment (aliases together).

    Returns:
        canonical environment -> [(word as written, secret name), ...], in first-seen order.
    """
    found: dict[str, list[tuple[str, str]]] = {}
    for name in dict.fromkeys(names):
        for part in re.split(r"[-.]", name):
            if part in KNOWN_ENVIRONMENTS:
                entry = (part, name)
                group = found.setdefault(canonical_environment(part), [])
                if entry not in group:
                    group.append(entry)
    return found


def _spelling(uses: Sequence[tuple[str, str]]) -> str:
    """The word the names use most (first on a tie): ``prod`` for prod-named secrets."""
    words = [word for word, _ in uses]
    return max(dict.fromkeys(words), key=words.count)


def resolve_environment(
    declared: str | None,
    secret_names: Iterable[str],
    choices: Sequence[EnvironmentChoice],
) -> tuple[str, str]:
    """The manifest's environment and where it came from (for messages).

    Args:
        declared: The manifest's own ``environment:``, or ``None`` when it has none.
        secret_names: Every secret name the manifest mentions.
        choices: Outside choices, strongest first (``--environment``/``$FLOE_ENVIRONMENT``,
            then the file name).

    Returns:
        ``(environment, origin)``; origin is ``manifest``, a choice's origin, ``the secret names``
        or ``default``.

    Raises:
        EnvironmentProblem: A choice is not a valid name, contradicts ``environment:``, or the
            secret names name two environments.
    """
    for choice in choices:
        try:
            check_dns1123_label(choice.value)
        except ValueError as e:
            raise EnvironmentProblem(
                f"{choice.origin} gives an environment that is {e}; e.g. --environment prod"
            ) from None
    explicit = [choice for choice in choices if choice.explicit]
    if declared is not None:
        for choice in explicit:
            if not same_environment(declared, choice.value):
                raise EnvironmentProblem(
                    f"the manifest says environment '{declared}' but {choice.origin} says "
                    f"'{choice.value}': a manifest is for one environment; check the manifest "
                    f"you pass, or drop {choice.origin}"
                )
        return declared, "manifest"
    if choices:
        return choices[0].value, choices[0].origin
    in_names = environments_in_names(secret_names)
    if len(in_names) == 1:
        return _spelling(next(iter(in_names.values()))), "the secret names"
    if len(in_names) > 1:
        listed = join_words(
            f"{_spelling(uses)} ({', '.join(dict.fromkeys(name for _, name in uses))})"
            for uses in in_names.values()
        )
        first = _spelling(next(iter(in_names.values())))
        raise EnvironmentProblem(
            f"not given, and the secret names belong to several environments: {listed}; one "
            "manifest is for one environment (ADR-0023: MUST NOT share secrets across "
            f"environments). Write the line `environment: {first}` at the top of the manifest "
            f"(or pass --environment / set {ENVIRONMENT_VARIABLE}) and use that environment's "
            "secrets only"
        )
    return DEFAULT_ENVIRONMENT, "default"
