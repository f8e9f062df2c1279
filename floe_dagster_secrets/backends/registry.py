"""Find backends through the ``floe.secrets`` entry-point group.

A third party adds a backend by shipping a package that declares
``[project.entry-points."floe.secrets"] mybackend = "pkg.module:MyPlugin"``; nothing here needs to
change. Loading is lazy, so an uninstalled extra only matters when its backend is asked for.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.errors import BackendNotInstalledError

ENTRY_POINT_GROUP = "floe.secrets"


def available_backends() -> dict[str, EntryPoint]:
    """Backend name → its entry point, for every installed backend."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_backend_class(name: str) -> type[SecretsPlugin]:
    """The plugin class registered as ``name``, with a clear error if it is missing."""
    backends = available_backends()
    if name not in backends:
        known = ", ".join(sorted(backends)) or "none"
        raise BackendNotInstalledError(
            f"No secrets backend named '{name}' is installed (installed: {known})",
            fix=f"set plugins.secrets.type to one of: {known}, or install the package that "
            f"provides '{name}'",
            backend=name,
        )
    try:
        plugin = backends[name].load()
    except ImportError as e:
        # A built-in backend's client library comes with the extra of the same name; a
        # backend's own `extra` declaration is on the class, which could not be imported.
        ours = backends[name].value.startswith("floe_dagster_secrets.")
        raise BackendNotInstalledError(
            f"The '{name}' secrets backend cannot be imported ({e.name or e})",
            fix=f"pip install 'floe-dagster-secrets[{name}]'"
            if ours
            else "install the package that provides it",
            backend=name,
        ) from e
    if not (isinstance(plugin, type) and issubclass(plugin, SecretsPlugin)):
        raise BackendNotInstalledError(
            f"Entry point '{name}' in group '{ENTRY_POINT_GROUP}' is not a SecretsPlugin subclass",
            fix="fix the entry point of the package that registers it",
            backend=name,
        )
    return plugin
