"""Rules that need the whole manifest, or several: ADR-0023's naming and per-environment secrets.

* A secret name that embeds another environment (``snowflake-prod-credentials`` in ``dev``) is
  always an error: "MUST NOT share secrets across environments".
* A name off the convention (``{service}-{environment}-credentials``,
  ``{service}-{purpose}-secret``) and a policy for a secret nothing references are warnings
  (:class:`FloeNamingWarning`), errors with ``strict=True``.
* :func:`check_no_shared_secrets` rejects one name used by manifests of two environments.

Problems are raised as a pydantic ``ValidationError`` located at the offending field, so the
loader reports them exactly like schema errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest.naming import (
    NAMING_CONVENTION,
    FloeNamingWarning,
    canonical_environment,
    dotted_path,
    embedded_environments,
    follows_naming_convention,
    join_words,
    suggest_name,
)

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest.schema import Manifest

__all__ = ["RuleProblem", "apply_rules", "check_no_shared_secrets", "rule_problems"]


@dataclass(frozen=True)
class RuleProblem:
    """One rule broken at one place; ``error`` False means a warning unless strict."""

    loc: tuple[int | str, ...]
    message: str
    error: bool


def rule_problems(manifest: Manifest) -> list[RuleProblem]:
    """Check every secret name once (at its first mention) and every policy for a use."""
    env = manifest.environment
    origin = manifest.environment_source
    said = "" if origin == "manifest" else f" (from {origin})"
    # A defaulted environment is no name to suggest: show the convention's placeholder instead.
    env_for_names = "{environment}" if origin == "default" else env
    problems: list[RuleProblem] = []
    checked: set[str] = set()
    referenced: set[str] = set()
    for loc, name in manifest.secret_name_locations():
        if loc[0] != "secrets":
            referenced.add(name)
        if name in checked:
            continue
        checked.add(name)
        others = embedded_environments(name, env)
        if others:
            problems.append(
                RuleProblem(
                    loc,
                    f"secret '{name}' belongs to environment {join_words(others)}, but this "
                    f"manifest is for '{env}'{said}: secrets MUST NOT be shared across "
                    f"environments (ADR-0023); use a secret of this environment, e.g. "
                    f"'{suggest_name(_without(name, others), env)}'",
                    error=True,
                )
            )
        elif not follows_naming_convention(name):
            problems.append(
                RuleProblem(
                    loc,
                    f"secret name '{name}' does not follow the ADR-0023 naming convention "
                    f"{NAMING_CONVENTION}, e.g. '{suggest_name(name, env_for_names)}'",
                    error=False,
                )
            )
    problems.extend(
        RuleProblem(
            ("secrets", name),
            f"policy for secret '{name}', which nothing in the manifest references: check the "
            "spelling, or reference it from plugins or ingestion",
            error=False,
        )
        for name in manifest.secrets
        if name not in referenced
    )
    return problems


def _without(name: str, environments: Sequence[str]) -> str:
    parts = [p for p in name.split("-") if p not in environments]
    return "-".join(parts) or name


def apply_rules(manifest: Manifest, *, strict: bool, source: str) -> None:
    """Raise the errors (and, when strict, the warnings) as a ValidationError; warn the rest.

    Raises:
        ValidationError: At least one rule is broken at error level.
    """
    problems = rule_problems(manifest)
    errors = [p for p in problems if p.error or strict]
    if errors:
        raise ValidationError.from_exception_data(
            "Manifest",
            [
                InitErrorDetails(
                    type=PydanticCustomError("floe_rule", "{message}", {"message": p.message}),
                    loc=p.loc,
                    input=None,
                )
                for p in errors
            ],
            hide_input=True,
        )
    for problem in problems:
        # stacklevel 1: the call site is deep inside pydantic; the message names file and field.
        warnings.warn(
            f"{source}: {dotted_path(problem.loc)}: {problem.message} (strict mode makes this an "
            "error)",
            FloeNamingWarning,
            stacklevel=1,
        )


def check_no_shared_secrets(
    manifests: Sequence[Manifest], sources: Sequence[str] | None = None
) -> None:
    """Reject a secret name referenced by manifests of two different environments.

    ADR-0023: secrets MUST NOT be shared across environments. Aliases count as one environment
    (``prod`` and ``production``); several manifests of one environment may share a secret.

    Args:
        manifests: One manifest per environment (or several for one).
        sources: The file of each manifest, in the same order, named in the message.

    Raises:
        InvalidManifestError: Some name is used by two environments; lists every such name.
    """
    if sources is not None and len(sources) != len(manifests):
        raise ValueError("give one source per manifest")
    users: dict[str, dict[str, str]] = {}  # name -> canonical env -> "env (file: field.path)"
    for index, manifest in enumerate(manifests):
        env = canonical_environment(manifest.environment)
        where = f"{sources[index]}: " if sources is not None else ""
        for ref in manifest.secret_references():
            users.setdefault(ref.name, {}).setdefault(
                env, f"{manifest.environment} ({where}{ref.field_path})"
            )
    shared = {name: envs for name, envs in users.items() if len(envs) > 1}
    if not shared:
        return
    lines = [f"'{name}' in {join_words(list(envs.values()))}" for name, envs in shared.items()]
    first = next(iter(shared))
    raise InvalidManifestError(
        "secrets shared across environments: " + "; ".join(lines),
        fix="give each environment its own secret (ADR-0023: MUST NOT share secrets across "
        f"environments), e.g. '{suggest_name(first, next(iter(shared[first])))}' and one per "
        "other environment",
        secret=first,
    )
