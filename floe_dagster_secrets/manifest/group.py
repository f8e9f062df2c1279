"""Several manifests, one per environment: ADR-0023's "MUST NOT share secrets across environments".

One manifest describes one environment, so a secret shared between environments is only visible
with their manifests side by side. They come together in two ways:

* **found beside each other:** in the directory of the manifest being validated, every file
  named ``manifest.yaml``/``manifest.yml`` or ``manifest.<env>.yaml``/``manifest.<env>.yml``
  (``manifest-<env>.yaml`` too), e.g. ``deploy/manifest.dev.yaml`` and
  ``deploy/manifest.prod.yaml``;
* **given together:** ``floe secrets validate --with-manifest PATH`` (repeatable), for layouts
  such as ``envs/dev/manifest.yaml`` and ``envs/prod/manifest.yaml``.

Each other manifest's environment is its own ``environment:``, else its file name, else its
secret names (``--environment`` and ``$FLOE_ENVIRONMENT`` speak for the manifest being validated
only). In a group, a manifest whose environment would be the default is an error: which
environment it is for must be known to tell whether two of them share a secret.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.kube.names import DNS1123_LABEL_FRAGMENT
from floe_dagster_secrets.manifest.loader import load_manifest
from floe_dagster_secrets.manifest.naming import FloeNamingWarning
from floe_dagster_secrets.manifest.rules import check_no_shared_secrets
from floe_dagster_secrets.manifest.schema import Manifest

__all__ = ["SIBLING_PATTERN", "check_environment_group", "sibling_manifests"]

SIBLING_PATTERN = re.compile(rf"^manifest([.-]{DNS1123_LABEL_FRAGMENT})?\.ya?ml\Z")
"""File names of the manifests found beside each other."""


def sibling_manifests(path: Path) -> list[Path]:
    """The other manifests in ``path``'s directory (see the module docstring), sorted."""
    directory = path.parent
    if not directory.is_dir():
        return []
    own = path.resolve()
    return sorted(
        candidate
        for candidate in directory.iterdir()
        if SIBLING_PATTERN.match(candidate.name)
        and candidate.is_file()
        and candidate.resolve() != own
    )


def _load_other(path: Path) -> Manifest:
    # Another environment's naming warnings are that manifest's business, not this command's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FloeNamingWarning)
        return load_manifest(path, read_environment_variable=False)


def check_environment_group(
    manifest: Manifest, path: Path, others: Sequence[Path]
) -> list[tuple[Path, Manifest]]:
    """Load ``others`` beside ``manifest`` and refuse a secret used by two environments.

    Args:
        manifest: The manifest being validated, already loaded (with ``--environment``).
        path: Its file.
        others: The other environments' manifests (found beside it, or given).

    Returns:
        ``(file, manifest)`` for every manifest of the group, ``manifest`` first; only it when
        ``others`` is empty.

    Raises:
        InvalidManifestError: Another manifest is invalid, one's environment cannot be told, or
            a secret is used by two environments (naming both files).
    """
    seen = {path.resolve()}
    group: list[tuple[Path, Manifest]] = [(path, manifest)]
    for other in others:
        if other.resolve() in seen:
            continue
        seen.add(other.resolve())
        group.append((other, _load_other(other)))
    if len(group) == 1:
        return group
    for file, member in group:
        if member.environment_source == "default":
            raise InvalidManifestError(
                f"{file} names no environment, so floe cannot tell whether it shares secrets "
                f"with {len(group) - 1} other environment manifest(s)",
                fix=f"write the line `environment: <name>` (e.g. `environment: prod`) at the top "
                f"of {file}, or name the file manifest.<environment>.yaml",
                path=str(file),
            )
    check_no_shared_secrets([m for _, m in group], [str(f) for f, _ in group])
    return group
