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

The dbt profiles ConfigMap the launcher mounts is checked too (:func:`profiles_config_map_check`):
a pod whose ConfigMap volume is missing never starts, and the kubelet only says so in events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from floe_dagster_secrets.backends._retry import describe_network_failure, http_status
from floe_dagster_secrets.backends.base import (
    ChecksSyncBeforeRun,
    ProvidesKubernetesClient,
    SecretsPlugin,
)
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.kube.pod_spec import PROFILES_CONFIG_MAP
from floe_dagster_secrets.kube.watch import MetadataCache
from floe_dagster_secrets.types import SecretMetadata

CONFIG_MAP_READ_TIMEOUT = (10.0, 30.0)
"""(connect, read) seconds for the profiles ConfigMap read."""


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


@dataclass(frozen=True)
class ConfigMapCheck:
    """What the pre-flight learned about the profiles ConfigMap.

    Attributes:
        error: Set when the ConfigMap does not exist: the run must fail before its Job.
        warning: Set when it could not be read (forbidden, API trouble): the run goes on, as it
            would with dagster-k8s, and the warning says what could not be checked.
    """

    error: FloeSecretsError | None = None
    warning: str | None = None


def profiles_config_map_check(core_api: Any, name: str, namespace: str) -> ConfigMapCheck:
    """Whether the dbt profiles ConfigMap ``name`` the run's pod mounts exists in ``namespace``.

    Read with the launcher's own ``CoreV1Api`` (the one dagster-k8s creates Jobs with; the
    ConfigMap holds ``env_var()`` references only, never a value). Only a 404 fails the run: a
    launcher whose account may not read ConfigMaps launches as before, with a warning.
    """
    try:
        core_api.read_namespaced_config_map(
            name, namespace, _request_timeout=CONFIG_MAP_READ_TIMEOUT
        )
    except Exception as e:  # only a 404 is a verdict; anything else warns
        status = http_status(e)
        if status == 404:
            return ConfigMapCheck(error=_missing_config_map(name, namespace))
        what = f"answered {status}" if status else describe_network_failure(e)
        return ConfigMapCheck(warning=_unchecked(name, namespace, what))
    return ConfigMapCheck()


def _missing_config_map(name: str, namespace: str) -> FloeSecretsError:
    render = (
        f"`floe profiles render --configmap --namespace {namespace}` then `kubectl apply -f "
        "dbt-profiles-configmap.yaml`"
    )
    create = (
        f"create it with {render}"
        if name == PROFILES_CONFIG_MAP
        else f"create ConfigMap '{name}' holding profiles.yml ({render} writes one named "
        f"'{PROFILES_CONFIG_MAP}')"
    )
    return FloeSecretsError(
        f"ConfigMap '{name}' holding the run's dbt profiles.yml does not exist in namespace "
        f"'{namespace}'; the run's pod would mount it and never start, so no Job was created",
        fix=f"{create}, or set the launcher's dbt_profiles_config_map (null: mount none), then "
        "launch the run again",
        backend="k8s",
        namespace=namespace,
    )


def _unchecked(name: str, namespace: str, what: str) -> str:
    return (
        f"could not check that ConfigMap '{name}' (dbt profiles) exists in namespace "
        f"'{namespace}': the Kubernetes API {what}; launching anyway. If the run's pod stays "
        "in ContainerCreating, create the ConfigMap (`floe profiles render --configmap`) or "
        "grant the launcher's account 'get' on configmaps to have it checked"
    )
