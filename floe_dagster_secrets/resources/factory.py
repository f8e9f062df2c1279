"""Build the secrets resource a manifest asks for, so code locations never hard-code a backend.

Which resource class serves a backend is the backend's own declaration
(``SecretsPlugin.resource``, a ``module:Class`` string since backends never import dagster),
found through the ``floe.secrets`` entry point: a third-party backend that declares one works
here without any change to this package.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from floe_dagster_secrets.backends.registry import load_backend_class
from floe_dagster_secrets.errors import BackendNotInstalledError
from floe_dagster_secrets.resources.base import FloeSecretsResource

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest


def resource_class_for(backend: str) -> type[FloeSecretsResource]:
    """The resource class the installed backend ``backend`` declares.

    Raises:
        BackendNotInstalledError: the backend is not installed, declares no resource, or its
            declaration does not name a ``FloeSecretsResource`` subclass.
    """
    plugin_class = load_backend_class(backend)
    declared = plugin_class.resource
    if not declared:
        raise BackendNotInstalledError(
            f"The '{backend}' secrets backend declares no Dagster resource",
            fix=f"set {plugin_class.__name__}.resource = 'module:ResourceClass' in the package "
            "that provides it, or use the plugin directly",
            backend=backend,
        )
    module_name, _, attribute = declared.partition(":")
    try:
        resource_class = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as e:
        raise BackendNotInstalledError(
            f"The '{backend}' secrets backend's resource '{declared}' cannot be imported",
            fix="install the package that provides it, or fix its resource declaration",
            backend=backend,
        ) from e
    if not (isinstance(resource_class, type) and issubclass(resource_class, FloeSecretsResource)):
        raise BackendNotInstalledError(
            f"The '{backend}' secrets backend's resource '{declared}' is not a "
            "FloeSecretsResource subclass",
            fix="fix the resource declaration of the package that provides it",
            backend=backend,
        )
    return resource_class


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
        BackendNotInstalledError: the manifest names a backend that has no Dagster resource.
    """
    section = manifest.plugins.secrets
    resource_class = resource_class_for(section.type)
    kwargs = dict(section.config.backend_kwargs()) if section.config is not None else {}
    path = kwargs.get("path")
    if base_dir is not None and isinstance(path, str) and not Path(path).is_absolute():
        kwargs["path"] = str(Path(base_dir, path).absolute())
    return resource_class(namespace=section.namespace, **kwargs)
