"""Build the secrets plugin a manifest asks for, with command-line overrides on top.

The manifest's ``plugins.secrets.config`` mirrors the plugin constructor's keyword arguments
(``config.backend_kwargs()``), so building a plugin is: look the class up in the entry-point
registry, merge the overrides the user gave (``None`` meaning "not given"), and check every
argument is one the class accepts, so a misplaced option fails with our error and not a TypeError.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.registry import load_backend_class
from floe_dagster_secrets.errors import InvalidManifestError

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest


def accepted_options(plugin_class: type[SecretsPlugin]) -> frozenset[str]:
    """The keyword arguments ``plugin_class`` takes; empty for ``**kwargs``-only constructors."""
    parameters = inspect.signature(plugin_class).parameters.values()
    return frozenset(
        p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


def plugin_for(type_name: str, **kwargs: Any) -> SecretsPlugin:
    """An instance of the backend registered as ``type_name`` (``local``, ``k8s`` …).

    ``None`` values are dropped, so callers can pass optional command-line values straight in.

    Raises:
        BackendNotInstalledError: No backend of that name is installed or it cannot be imported.
        InvalidManifestError: An option the backend does not take was given.
    """
    plugin_class = load_backend_class(type_name)
    given = {key: value for key, value in kwargs.items() if value is not None}
    accepted = accepted_options(plugin_class)
    takes_any = any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(plugin_class).parameters.values()
    )
    unknown = sorted(set(given) - accepted)
    if unknown and not takes_any:
        takes = ", ".join(sorted(accepted)) or "no options"
        raise InvalidManifestError(
            f"The '{type_name}' secrets backend does not take the option(s) {', '.join(unknown)}",
            fix=f"remove them from plugins.secrets.config or the command line (it takes: {takes})",
            backend=type_name,
        )
    return plugin_class(**given)


def plugin_from_manifest(
    manifest: Manifest, *, base_dir: str | Path | None = None, **overrides: Any
) -> SecretsPlugin:
    """The plugin ``manifest.plugins.secrets`` describes, with ``overrides`` applied on top.

    Args:
        manifest: A loaded manifest.
        base_dir: Directory a relative store ``path`` in the manifest is resolved against — the
            manifest's own folder — so the CLI and the Dagster resources open the same store
            whatever the working directory. Overrides are left as given.
        **overrides: Constructor arguments that win over the manifest's config (``path`` for the
            local store, ``context``/``kubeconfig`` for Kubernetes); ``None`` means not given.
    """
    secrets = manifest.plugins.secrets
    config = secrets.config
    from_manifest: dict[str, Any] = config.backend_kwargs() if config is not None else {}
    path = from_manifest.get("path")
    if base_dir is not None and isinstance(path, str) and not Path(path).is_absolute():
        from_manifest["path"] = str(Path(base_dir, path).absolute())
    given = {key: value for key, value in overrides.items() if value is not None}
    return plugin_for(secrets.type, **{**from_manifest, **given})
