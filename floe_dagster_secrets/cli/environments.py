"""``floe secrets validate`` across environments: no secret may be used by two of them.

ADR-0023: "MUST NOT share secrets across environments". Besides the manifest it validates,
``validate`` reads the other environments' manifests found beside it (``manifest.<env>.yaml``
in the same directory) and those given with ``--with-manifest``, and fails naming both files
when one secret appears in two environments (:mod:`floe_dagster_secrets.manifest.group`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from floe_dagster_secrets.cli.output import Emit
from floe_dagster_secrets.cli.target import Target
from floe_dagster_secrets.manifest.group import check_environment_group, sibling_manifests


def check_environments(
    target: Target, given: Sequence[Path], *, emit: Emit, strict: bool = False
) -> int:
    """Check the manifest against the other environments' manifests; returns how many were read.

    One line on ``emit`` (stderr) says which environments were compared, when there were any.

    Raises:
        InvalidManifestError: A secret is used by two environments, or another manifest is
            invalid or names no environment.
    """
    manifest = target.manifest(required=True, strict=strict)
    assert manifest is not None  # noqa: S101 - manifest(required=True) raises instead
    path = target.manifest_file
    group = check_environment_group(manifest, path, [*sibling_manifests(path), *given])
    if len(group) > 1:
        listed = ", ".join(f"{member.environment} ({file})" for file, member in group)
        emit(f"✓ no secret shared across environments: {listed}")
    return len(group)
