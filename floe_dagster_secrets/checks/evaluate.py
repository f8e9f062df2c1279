"""Judge one secret against its policy from metadata alone. Pure: no I/O, no Dagster.

A missing secret or a missing required key breaks the next run (ERROR); an overdue rotation does
not, yet (WARN). Key names come from ``describe_secret``; values are never read. For a Kubernetes
Secret floe did not write only the key count is known: fewer keys than required is an ERROR, as
many passes with ``key_names_checked`` False and a note in ``detail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from floe_dagster_secrets.types import UNNAMED_KEYS_WHY, SecretMetadata

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest

Status = Literal["ok", "missing", "missing_keys", "overdue", "denied", "unreadable"]


@dataclass(frozen=True)
class SecretRequirement:
    """What one secret must satisfy: keys it must hold, and how old it may be."""

    name: str
    keys: tuple[str, ...] = ()
    max_age_days: int | None = None


@dataclass(frozen=True)
class SecretFinding:
    """The verdict for one secret, and what the check's metadata shows of it."""

    requirement: SecretRequirement
    status: Status
    version: str | None = None
    age_days: int | None = None
    missing_keys: tuple[str, ...] = field(default_factory=tuple)
    detail: str = ""
    key_names_checked: bool = True

    @property
    def is_error(self) -> bool:
        """Missing, incomplete or unreadable: the next run would fail."""
        return self.status in ("missing", "missing_keys", "denied", "unreadable")

    def to_json(self) -> dict[str, Any]:
        """Names, version, ages: what the check metadata lists (never a value)."""
        return {
            "secret": self.requirement.name,
            "status": self.status,
            "version": self.version,
            "age_days": self.age_days,
            "max_age_days": self.requirement.max_age_days,
            "required_keys": list(self.requirement.keys),
            "missing_keys": list(self.missing_keys),
            "key_names_checked": self.key_names_checked,
            "detail": self.detail,
        }


def requirement_for(manifest: Manifest, name: str) -> SecretRequirement:
    """Policy keys and ``max_age_days`` of ``name``; plus dbt's keys for the connection secret."""
    from floe_dagster_secrets.dbt import required_secret_keys

    policy = manifest.secret_policy(name)
    keys = list(policy.keys)
    compute = manifest.plugins.compute
    if compute is not None and name == compute.connection_secret_ref:
        keys += required_secret_keys(compute.type, settings=compute.config)
    return SecretRequirement(name, tuple(dict.fromkeys(keys)), policy.max_age_days)


def evaluate(
    requirement: SecretRequirement, meta: SecretMetadata | None, *, now: datetime
) -> SecretFinding:
    """Compare a secret's metadata (None: not found) with its requirement at ``now``."""
    if meta is None:
        return SecretFinding(requirement, "missing", detail="secret not found")
    moment = meta.updated or meta.created
    age_days = (now - moment).days if moment is not None else None
    # key names of a Secret floe did not write are unknown (values are never read): its key
    # count still tells one with too few keys
    keys = meta.check_keys(requirement.keys)
    if not keys.complete:
        return SecretFinding(
            requirement,
            "missing_keys",
            meta.version,
            age_days,
            keys.missing,
            detail=keys.problem or "",
            key_names_checked=keys.names_checked,
        )
    limit = requirement.max_age_days
    if limit is not None and age_days is not None and age_days >= limit:
        return SecretFinding(
            requirement,
            "overdue",
            meta.version,
            age_days,
            detail=f"{age_days} days old, over max_age_days {limit}",
            key_names_checked=keys.names_checked,
        )
    return SecretFinding(
        requirement,
        "ok",
        meta.version,
        age_days,
        detail=keys.note or "",
        key_names_checked=keys.names_checked,
    )


def summarize(findings: Sequence[SecretFinding]) -> str:
    """One line for the check's description: the problems, or that all is well."""
    bad = [f"{f.requirement.name}: {f.detail}" for f in findings if f.status != "ok"]
    if bad:
        return "; ".join(bad)
    line = f"{len(findings)} secret(s) present, complete and within their max age"
    unchecked = [f.requirement.name for f in findings if not f.key_names_checked]
    if unchecked:
        line += (
            f"; key names of {', '.join(unchecked)} not checked, only their count "
            f"({UNNAMED_KEYS_WHY})"
        )
    return line
