"""Find backends through the ``floe.secrets`` entry-point group.

A third party adds a backend by shipping a package that declares
``[project.entry-points."floe.secrets"] mybackend = "pkg.module:MyPlugin"``; nothing here needs to
change. Loading is lazy, so an uninstalled extra only matters when its backend is asked for.

The built-in backends are this package's own entry points, read from its own distribution's
metadata (one small file): asking for ``k8s`` or ``local`` does not scan every installed
package's entry points, which costs 5–20 ms a time in a venv of a few hundred packages and was
done once per lookup (``benchmarks/cli_latency.py``). Only a name that is not built in, or
:func:`available_backends`, scans them all.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.errors import BackendNotInstalledError

ENTRY_POINT_GROUP = "floe.secrets"
DISTRIBUTION = "floe-dagster-secrets"


def available_backends() -> dict[str, EntryPoint]:
    """Backend name → its entry point, for every installed backend."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.cache
def builtin_backends() -> dict[str, EntryPoint]:
    """Backend name → entry point, for the backends this package itself declares.

    Empty when the package runs without its distribution metadata (a bare source tree): every
    lookup then scans, as before.
    """
    try:
        declared = distribution(DISTRIBUTION).entry_points
    except PackageNotFoundError:
        return {}
    return {ep.name: ep for ep in declared.select(group=ENTRY_POINT_GROUP)}


def _entry_point(name: str) -> EntryPoint:
    """The entry point registered as ``name``: a built-in one without a scan, else any."""
    builtin = builtin_backends().get(name)
    if builtin is not None:
        return builtin
    backends = available_backends()
    if name not in backends:
        known = ", ".join(sorted(backends)) or "none"
        raise BackendNotInstalledError(
            f"No secrets backend named '{name}' is installed (installed: {known})",
            fix=f"set plugins.secrets.type to one of: {known}, or install the package that "
            f"provides '{name}'",
            backend=name,
        )
    return backends[name]


def load_backend_class(name: str) -> type[SecretsPlugin]:
    """The plugin class registered as ``name``, with a clear error if it is missing."""
    entry_point = _entry_point(name)
    try:
        plugin = entry_point.load()
    except ImportError as e:
        # A built-in backend's client library comes with the extra of the same name; a
        # backend's own `extra` declaration is on the class, which could not be imported.
        ours = entry_point.value.startswith("floe_dagster_secrets.")
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
