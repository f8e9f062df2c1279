"""The cheapest read of the watched secrets' versions. Metadata only, never values.

A sensor tick costs one of these reads, so each backend gets the read that scales best, chosen
by capability, never by the backend's name:

- A backend with :class:`~floe_dagster_secrets.backends.base.ReportsSelectedVersions` is asked
  for exactly the watched names (Vault: the KV ``metadata`` of each referenced path, one GET
  each, which the least-privilege policy grants where a folder listing would need ``list``).
- Any other: the plugin's ``secret_versions``; for Kubernetes one metadata-only LIST of the
  namespace that carries every ``resourceVersion``, one request whatever the number of secrets.

A secret that does not exist is simply absent from the answer; the cursor records it as missing.
"""

from __future__ import annotations

from collections.abc import Iterable

from floe_dagster_secrets.backends.base import ReportsSelectedVersions, SecretsPlugin
from floe_dagster_secrets.errors import FloeSecretsError


def read_versions(plugin: SecretsPlugin, namespace: str, names: Iterable[str]) -> dict[str, str]:
    """Name → version for those of ``names`` that exist in ``namespace``.

    Raises:
        FloeSecretsError: the backend could not be read (unreachable, sealed, access denied);
            the sensor lets it fail the tick, so the cursor stays as it was.
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}
    if isinstance(plugin, ReportsSelectedVersions):
        answer = plugin.secret_versions_of(wanted, namespace)
        return {name: str(answer[name]) for name in wanted if name in answer}
    everything = plugin.secret_versions(namespace)
    return {name: everything[name] for name in wanted if name in everything}


def tick_error(
    sensor: str, namespace: str, watched: Iterable[str], error: FloeSecretsError
) -> FloeSecretsError:
    """``error`` (same class) restated for a failed tick: which sensor, which secrets, what now.

    A backend error says what failed (a login, a list) but not that a sensor was asking, nor for
    which secrets; the tick's error in the UI should say both and that nothing was lost.
    """
    names = ", ".join(sorted(watched))
    return type(error)(
        f"Rotation sensor '{sensor}' could not read the versions of {names}: {error.problem}",
        fix=f"{error.fix}. No run was requested and the cursor is kept, so the next successful "
        "tick picks up any rotation made meanwhile",
        backend=error.backend,
        secret=error.secret,
        namespace=error.namespace or namespace,
        path=error.path,
    )
