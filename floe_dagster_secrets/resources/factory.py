"""Build the secrets resource a manifest asks for, so code locations never hard-code a backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from floe_dagster_secrets.errors import BackendNotInstalledError
from floe_dagster_secrets.resources.base import FloeSecretsResource
from floe_dagster_secrets.resources.eso import ESOSecretsResource
from floe_dagster_secrets.resources.kubernetes import K8sSecretsResource
from floe_dagster_secrets.resources.local import LocalSecretsResource
from floe_dagster_secrets.resources.vault import VaultSecretsResource

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest

_RESOURCES: dict[str, type[FloeSecretsResource]] = {
    "local": LocalSecretsResource,
    "k8s": K8sSecretsResource,
    "vault": VaultSecretsResource,
    "external-secrets": ESOSecretsResource,
}


def secrets_resource_from_manifest(
    manifest: Manifest, *, base_dir: str | Path | None = None
) -> FloeSecretsResource:
    """The resource for ``plugins.secrets`` of ``manifest``, configured with references only.

    Args:
        manifest: The loaded manifest.
        base_dir: Directory that relative store paths are resolved against (usually the
            manifest's own directory), so a run reads the same store whatever its working
            directory. ``None`` leaves them relative to the working directory.

    Raises:
        BackendNotInstalledError: the manifest names a backend that has no Dagster resource yet.
    """
    section = manifest.plugins.secrets
    resource_class = _RESOURCES.get(section.type)
    if resource_class is None:
        known = ", ".join(sorted(_RESOURCES))
        raise BackendNotInstalledError(
            f"There is no Dagster resource for the '{section.type}' secrets backend yet",
            fix=f"use one of: {known} in plugins.secrets.type for Dagster code locations",
            backend=section.type,
        )
    kwargs = dict(section.config.backend_kwargs()) if section.config is not None else {}
    path = kwargs.get("path")
    if base_dir is not None and isinstance(path, str) and not Path(path).is_absolute():
        kwargs["path"] = str(Path(base_dir, path).absolute())
    return resource_class(namespace=section.namespace, **kwargs)
