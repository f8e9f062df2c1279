"""The cheapest read of the watched secrets' versions, per backend. Metadata only, never values.

A sensor tick costs one of these reads, so each backend gets the read that scales best:

- **Kubernetes** (and anything without a better answer): the plugin's ``secret_versions``, one
  metadata-only LIST of the namespace that carries every ``resourceVersion`` — one request per
  namespace whatever the number of secrets.
- **Vault**: the KV ``metadata`` of each *referenced* path (``current_version``), one GET each.
  Listing the folder as well would cost a request more and need ``list`` on the folder, which
  the least-privilege policy (:mod:`floe_dagster_secrets.backends.vault.policy`) does not grant.
- **Any backend that defines** ``secret_versions_of(names, namespace) -> {name: version}`` is
  asked for exactly the watched names. This is the seam for the External Secrets Operator
  backend, whose version is that of the synced target Secret, and for third-party plugins.

A secret that does not exist is simply absent from the answer; the cursor records it as missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.errors import FloeSecretsError, SecretNotFoundError

VersionsOf = Callable[[list[str], str], dict[str, str]]


def _vault_versions(plugin: Any, namespace: str, names: list[str]) -> dict[str, str]:
    """``current_version`` from each path's KV metadata (a 404 means the secret is missing)."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            metadata = plugin.read_metadata(name, namespace)
        except SecretNotFoundError:
            continue
        current = metadata.get("current_version")
        if current is not None:
            versions[name] = str(current)
    return versions


def read_versions(plugin: SecretsPlugin, namespace: str, names: Iterable[str]) -> dict[str, str]:
    """Name → version for those of ``names`` that exist in ``namespace``.

    Raises:
        FloeSecretsError: the backend could not be read (unreachable, sealed, access denied);
            the sensor lets it fail the tick, so the cursor stays as it was.
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}
    selective = getattr(plugin, "secret_versions_of", None)
    if callable(selective):
        answer = cast("VersionsOf", selective)(wanted, namespace)
        return {name: str(answer[name]) for name in wanted if name in answer}
    if plugin.name == "vault" and callable(getattr(plugin, "read_metadata", None)):
        return _vault_versions(plugin, namespace, wanted)
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
