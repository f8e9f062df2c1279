"""Read what the pre-flight check needs: which secrets exist, with which keys and versions.

One metadata-only LIST per namespace (``PartialObjectMetadataList``: names, annotations,
``resourceVersion``, never ``data``) answers for every secret floe wrote, whose key names are in
its ``floe.dev/keys`` annotation. Only a referenced secret that floe did not write, and whose
keys matter, costs one more read (``describe_secret``), which with Kubernetes is the apiserver's
Table (type, key count; no value): key names come only with values, so such a Secret is judged by
its key count (fewer keys than required fails the run before any Job; as many passes, names
unchecked; see ``SecretMetadata.check_keys``).

With the Kubernetes backend, :class:`PreflightReader` answers from a WATCH-fed
:class:`~floe_dagster_secrets.kube.watch.MetadataCache` instead of that LIST, once
the cache is synced. The cache only ever saves requests, it never decides a failure: a secret it
reports missing, or lacking a key, is read again with the direct LIST before the run is failed
(the watch may lag a secret created a moment ago), and while it is not synced (first launch in a
namespace, or watch down for longer than the staleness bound) every check is the direct LIST.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from floe_dagster_secrets.backends.base import (
    ChecksSyncBeforeRun,
    ProvidesKubernetesClient,
    SecretsPlugin,
)
from floe_dagster_secrets.kube.watch import MetadataCache
from floe_dagster_secrets.types import SecretMetadata


def secrets_metadata(
    plugin: SecretsPlugin, namespace: str, required_keys: Mapping[str, Sequence[str]]
) -> dict[str, SecretMetadata]:
    """Metadata (with key names where they matter) of the referenced secrets that exist."""
    listed = {meta.name: meta for meta in plugin.list_secrets(namespace)}
    return _with_keys(plugin, namespace, required_keys, listed)


def _with_keys(
    plugin: SecretsPlugin,
    namespace: str,
    required_keys: Mapping[str, Sequence[str]],
    known: Mapping[str, SecretMetadata | None],
) -> dict[str, SecretMetadata]:
    found: dict[str, SecretMetadata] = {}
    for name, keys in required_keys.items():
        meta = known.get(name)
        if meta is None:
            continue
        if keys and not meta.keys_known:
            meta = plugin.describe_secret(name, namespace)
        found[name] = meta
    return found


def needs_recheck(meta: SecretMetadata | None, keys: Sequence[str]) -> bool:
    """Whether a cached answer would fail the check, so it must be confirmed by a direct read.

    Missing, or known keys that lack a required one (a key just added may not have reached the
    cache yet). Unknown keys (a secret floe did not write) are read directly anyway.
    """
    if meta is None:
        return True
    return meta.keys_known and any(k not in meta.keys for k in keys)


class PreflightReader:
    """The pre-flight check's reads: a WATCH-fed cache when it is synced, else a direct LIST.

    Args:
        plugin: Backend to read directly (fallback, re-checks, secrets floe did not write).
        cache: Cache of the plugin's namespaces; ``None`` reads directly every time.
    """

    def __init__(self, plugin: SecretsPlugin, *, cache: MetadataCache | None = None) -> None:
        self.plugin = plugin
        self.cache = cache

    @classmethod
    def for_plugin(cls, plugin: SecretsPlugin, **watch_options: Any) -> PreflightReader:
        """A reader with a metadata cache when ``plugin``'s secrets are Kubernetes Secrets."""
        if not isinstance(plugin, ProvidesKubernetesClient):
            return cls(plugin)
        # the plugin's own client (created lazily): same credentials and RBAC as direct reads
        return cls(plugin, cache=MetadataCache(plugin.kubernetes_api_client, **watch_options))

    def secrets_metadata(
        self, namespace: str, required_keys: Mapping[str, Sequence[str]]
    ) -> dict[str, SecretMetadata]:
        """Metadata of the referenced secrets that exist (see the module docstring).

        The first call for a namespace starts its watch and reads directly. A secret an operator
        syncs from an external store must also be Ready and fresh, when the backend can tell
        (``ChecksSyncBeforeRun``; raises the first that is not).
        """
        found = self._secrets_metadata(namespace, required_keys)
        if isinstance(self.plugin, ChecksSyncBeforeRun):
            errors = self.plugin.unsynced(namespace, found)
            if errors:
                raise errors[0]
        return found

    def _secrets_metadata(
        self, namespace: str, required_keys: Mapping[str, Sequence[str]]
    ) -> dict[str, SecretMetadata]:
        cached = self.cache.lookup(namespace, required_keys) if self.cache is not None else None
        if cached is None:
            return secrets_metadata(self.plugin, namespace, required_keys)
        recheck = {
            name: keys
            for name, keys in required_keys.items()
            if needs_recheck(cached.get(name), keys)
        }
        trusted = {name: keys for name, keys in required_keys.items() if name not in recheck}
        found = _with_keys(self.plugin, namespace, trusted, cached)
        if recheck:
            found.update(secrets_metadata(self.plugin, namespace, recheck))
        return found

    def close(self) -> None:
        """Stop the cache's watches (the plugin is its owner's to close)."""
        if self.cache is not None:
            self.cache.close()
