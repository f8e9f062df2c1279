"""External Secrets Operator: ExternalSecrets that sync a cloud store into Kubernetes Secrets.

What floe writes and reads (ADR-0023, in the API version ESO serves today, ``external-secrets.io/
v1``; ``v1beta1`` only when ``api_version`` asks for it, for clusters on ESO before 0.17):

- One ``ExternalSecret`` per secret: ``refreshInterval``, ``secretStoreRef`` to a
  ``ClusterSecretStore``, ``target.creationPolicy: Owner``, and one ``data[]`` entry per key
  (``remoteRef.key`` = ``{remote_key_prefix}{namespace}/{name}``, ``property`` = the key). It
  names keys and locations, never a value.
- ``get_secret`` reads the Secret ESO synced (the target), never the cloud store.
- ``list_secrets`` / ``describe_secret`` / ``status`` read ExternalSecrets (their ``Ready``
  condition, reason, ``refreshTime``) plus the target Secrets' metadata (their
  ``resourceVersion`` is the version: it changes exactly when ESO writes new data).
- ``create_secret`` / ``update_secret`` write the value into the source first where floe can
  (the Vault store: through the Vault backend, at the same KV path layout), then force a sync
  (``force-sync`` annotation) and wait, bounded and with progress, until ESO has synced it.
  AWS, GCP and Azure values are written with the provider's own tools; floe then manages the
  ExternalSecret (:meth:`ESOSecretsPlugin.apply_external_secret`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from floe_dagster_secrets.backends import validation
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.eso.api import MERGE_PATCH, EsoApi
from floe_dagster_secrets.backends.eso.objects import (
    BACKEND,
    DEFAULT_API_VERSION,
    FORCE_SYNC_ANNOTATION,
    ApiVersion,
    api_path,
    external_secret_body,
    metadata_from_external_secret,
    remote_key,
    store_path,
    sync_state,
    target_name,
)
from floe_dagster_secrets.backends.eso.preflight import sync_errors
from floe_dagster_secrets.backends.eso.render import STORE_LABELS
from floe_dagster_secrets.backends.eso.stores import (
    Provider,
    StoreSettings,
    cluster_secret_store_body,
)
from floe_dagster_secrets.backends.eso.sync import (
    Progress,
    SyncWait,
    force_sync_value,
    wait_for_sync,
)
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.errors import (
    FloeSecretsError,
    InvalidManifestError,
    InvalidSecretValueError,
    SecretNotFoundError,
    with_step_context,
)
from floe_dagster_secrets.kube.http import METADATA_ACCEPT
from floe_dagster_secrets.kube.pod_spec import (
    RunPodContribution,
    RunPodSettings,
    kubernetes_secrets_contribution,
)
from floe_dagster_secrets.types import SecretData, SecretMetadata, SyncState

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
    from floe_dagster_secrets.manifest.secrets_config import BackendConfig

__all__ = ["ESOSecretsPlugin", "SyncState", "SyncWait"]

_WRITABLE: dict[str, str] = {
    "aws": "aws secretsmanager put-secret-value --secret-id {key} --secret-string '{{...}}'",
    "gcp": "gcloud secrets versions add {key} --data-file=FILE",
    "azure": "az keyvault secret set --vault-name VAULT --name {key} --file FILE",
}


class ESOSecretsPlugin(SecretsPlugin):
    """Secrets synced by the External Secrets Operator from a ClusterSecretStore.

    The constructor takes the manifest's ``ExternalSecretsConfig`` fields (none holds a
    credential) plus how to reach the cluster.

    Args:
        store: Name of the ClusterSecretStore every ExternalSecret reads from.
        refresh_interval: ESO's re-sync interval (Go duration; ``0`` never).
        provider: The store's provider (aws, gcp, azure, vault); needed to generate the store
            and to write values into Vault.
        region / project / vault_url / cluster_location / cluster_name / vault_address /
            vault_path / vault_role / vault_auth_mount / service_account /
            service_account_namespace: Store settings (see ``StoreSettings``).
        remote_key_prefix: Prefix of the remote key of every secret (``floe/``).
        api_version: ``v1`` (ESO ≥ 0.16) or ``v1beta1`` (ESO < 0.17 only).
        vault_token_env / vault_token_file: Where floe finds the Vault token it writes values
            with (names a variable or file; without either, floe logs in to Vault with
            Kubernetes auth as ``vault_role``).
        sync_timeout: Seconds to wait for a forced sync.
        kubeconfig / context / in_cluster / api_client: How to reach the cluster (as for the
            Kubernetes backend).
    """

    name: ClassVar[str] = BACKEND
    version: ClassVar[str] = "1.0.0"
    label: ClassVar[str] = "External Secrets Operator"
    config_model: ClassVar[type[BackendConfig] | str | None] = (
        "floe_dagster_secrets.manifest.secrets_config:ExternalSecretsConfig"
    )
    config_required: ClassVar[bool] = True
    resource: ClassVar[str | None] = "floe_dagster_secrets.resources.eso:ESOSecretsResource"
    version_source: ClassVar[str] = "resourceVersion of the Secret ESO synced"
    kubernetes_rules: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": ["list"]},
    )
    """The sensor's versions and the pre-flight's sync check read the ExternalSecrets' status
    (one LIST per namespace; they hold no values)."""

    def __init__(
        self,
        *,
        store: str,
        refresh_interval: str = "1h",
        provider: Provider | None = None,
        region: str | None = None,
        project: str | None = None,
        vault_url: str | None = None,
        cluster_location: str | None = None,
        cluster_name: str | None = None,
        service_account: str | None = None,
        service_account_namespace: str | None = None,
        vault_address: str | None = None,
        vault_path: str | None = None,
        vault_role: str | None = None,
        vault_auth_mount: str | None = None,
        remote_key_prefix: str = "floe/",
        api_version: ApiVersion = DEFAULT_API_VERSION,
        vault_token_env: str | None = None,
        vault_token_file: str | None = None,
        sync_timeout: float = 60.0,
        kubeconfig: str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        api_client: ApiClient | None = None,
    ) -> None:
        if api_version not in ("v1", "v1beta1"):
            raise InvalidManifestError(
                f"Unknown ESO API version '{api_version}'",
                fix="set plugins.secrets.config.api_version to v1 (ESO 0.16 and later) or "
                "v1beta1 (only clusters on ESO before 0.17)",
                backend=BACKEND,
            )
        self.store = store
        self.refresh_interval = refresh_interval
        self.provider = provider
        self.api_version: ApiVersion = api_version
        self.remote_key_prefix = remote_key_prefix
        self.settings = (
            StoreSettings(
                provider=provider,
                region=region,
                project=project,
                cluster_location=cluster_location,
                cluster_name=cluster_name,
                vault_url=vault_url,
                vault_address=vault_address,
                vault_path=vault_path or "secret",
                vault_role=vault_role,
                vault_auth_mount=vault_auth_mount or "kubernetes",
                service_account=service_account or "external-secrets",
                service_account_namespace=service_account_namespace or "external-secrets",
            )
            if provider is not None
            else None
        )
        self._vault_auth = {"token_env": vault_token_env, "token_file": vault_token_file}
        self.sync_wait = SyncWait(timeout=sync_timeout)
        self.progress: Progress | None = None
        self._k8s = K8sSecretsPlugin(
            kubeconfig=kubeconfig, context=context, in_cluster=in_cluster, api_client=api_client
        )
        self._api = EsoApi(self._k8s.kubernetes_api_client)
        self._source_plugin: VaultSecretsPlugin | None = None
        self._source_lock = threading.Lock()

    def run_pod_contribution(
        self, names: Sequence[str], settings: RunPodSettings
    ) -> RunPodContribution:
        """``envFrom`` of the Secret ESO syncs for each name (same name), each pre-flighted.

        The pre-flight also refuses a Secret whose ExternalSecret is not Ready and fresh
        (``ContributesToRunPod``).
        """
        return kubernetes_secrets_contribution(names, settings)

    def secrets_api_client(self) -> ApiClient:
        """The client of the cluster ESO's synced Secrets live in.

        Those are ordinary Kubernetes Secrets read through ``envFrom``, so ``rotate
        --restart-deployments`` restarts their consumers through it. (Deliberately not
        ``ProvidesKubernetesClient``: the pre-flight must judge ESO secrets by their
        ExternalSecrets, not by a Secret metadata cache.)
        """
        return self._k8s.kubernetes_api_client()

    def source_label(self) -> str:
        """How ADR-0023 names the store behind the ClusterSecretStore (``AWS Secrets Manager``)."""
        provider = self.settings.provider if self.settings is not None else None
        return STORE_LABELS.get(str(provider), f"ClusterSecretStore '{self.store}'")

    def set_progress(self, progress: Progress | None) -> None:
        """Where forced-sync waits report progress (the CLI passes a stderr printer)."""
        self.progress = progress

    def close(self) -> None:
        """Close the Kubernetes client and the Vault session this plugin created."""
        self._k8s.close()
        with self._source_lock:
            if self._source_plugin is not None:
                self._source_plugin.close()
                self._source_plugin = None

    # --- objects ------------------------------------------------------------------------------

    def remote_key(self, name: str, namespace: str) -> str:
        """The remote key a secret maps to in the store."""
        return remote_key(self.remote_key_prefix, namespace, name)

    def external_secret(self, name: str, namespace: str, keys: Sequence[str]) -> dict[str, Any]:
        """The ExternalSecret floe writes for ``name`` with ``keys`` (no value in it)."""
        return external_secret_body(
            name,
            namespace,
            keys,
            store=self.store,
            remote=self.remote_key(name, namespace),
            refresh_interval=self.refresh_interval,
            api_version=self.api_version,
        )

    def cluster_secret_store(self) -> dict[str, Any]:
        """The ClusterSecretStore ``store`` for the configured provider."""
        if self.settings is None:
            raise InvalidManifestError(
                f"No provider configured for ClusterSecretStore '{self.store}'",
                fix="set plugins.secrets.config.provider (aws, gcp, azure or vault) and its fields",
                backend=BACKEND,
            )
        return cluster_secret_store_body(self.store, self.settings, api_version=self.api_version)

    def apply_cluster_secret_store(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Create or update the ClusterSecretStore (server-side apply); the apiserver's answer."""
        return self._api.apply(
            store_path(self.api_version, self.store),
            self.cluster_secret_store(),
            namespace="",
            name=self.store,
            kind="ClusterSecretStore",
            dry_run=dry_run,
        )

    def apply_external_secret(
        self, name: str, namespace: str, keys: Sequence[str], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Create or update the ExternalSecret of ``name`` (server-side apply)."""
        return self._api.apply(
            api_path(self.api_version, namespace, name),
            self.external_secret(name, namespace, keys),
            namespace=namespace,
            name=name,
            kind="ExternalSecret",
            dry_run=dry_run,
        )

    # --- reads ----------------------------------------------------------------------------------

    def read_external_secret(self, name: str, namespace: str) -> dict[str, Any]:
        """The ExternalSecret as the apiserver has it (spec and status; no value)."""
        validation.check_namespace(namespace, backend=BACKEND)
        validation.check_secret_name(name, namespace, backend=BACKEND)
        return self._api.send(
            "GET",
            api_path(self.api_version, namespace, name),
            verb="get",
            namespace=namespace,
            name=name,
        )

    def _external_secrets(self, namespace: str) -> list[dict[str, Any]]:
        validation.check_namespace(namespace, backend=BACKEND)
        answer = self._api.send(
            "GET", api_path(self.api_version, namespace), verb="list", namespace=namespace
        )
        return list(answer.get("items") or [])

    def _target_version(self, name: str, namespace: str) -> str:
        try:
            meta = self._api.send(
                "GET",
                f"/api/v1/namespaces/{namespace}/secrets/{name}",
                verb="get",
                namespace=namespace,
                name=name,
                kind="Secret",
                accept=METADATA_ACCEPT,
            )
        except SecretNotFoundError:
            return ""
        return str((meta.get("metadata") or {}).get("resourceVersion") or "")

    def get_secret(self, name: str, namespace: str) -> SecretData:
        """The keys of the Secret ESO synced for ``name`` (as ``SecretValue``).

        Raises:
            SecretNotFoundError: No ExternalSecret, or it has not synced (ESO's reason given).
        """
        obj = self.read_external_secret(name, namespace)
        target = target_name(obj)
        try:
            return self._k8s.get_secret(target, namespace)
        except SecretNotFoundError as e:
            state = sync_state(obj)
            raise SecretNotFoundError(
                f"ExternalSecret '{name}' has not synced its Secret '{target}' yet "
                f"({state.label()}: {state.message})",
                fix=f"check ClusterSecretStore '{self.store}' and that the remote key "
                f"'{self.remote_key(name, namespace)}' exists, then `floe secrets status`",
                backend=BACKEND,
                secret=name,
                namespace=namespace,
            ) from e

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        """The ExternalSecret's keys, store and sync state; version of its synced Secret."""
        obj = self.read_external_secret(name, namespace)
        version = self._target_version(target_name(obj), namespace)
        return metadata_from_external_secret(obj, namespace, target_version=version)

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        """Every ExternalSecret in the namespace, with sync state: two LISTs, no value read.

        One LIST of ExternalSecrets and one metadata-only LIST of Secrets (for versions).
        """
        items = self._external_secrets(namespace)
        versions = {
            str(obj["metadata"]["name"]): str(obj["metadata"].get("resourceVersion", ""))
            for obj in self._k8s.list_metadata(namespace)
        }
        found = [
            metadata_from_external_secret(
                obj, namespace, target_version=versions.get(target_name(obj), "")
            )
            for obj in items
        ]
        return sorted(found, key=lambda meta: meta.name)

    def sync_states(self, namespace: str) -> list[SecretMetadata]:
        """Every ExternalSecret with its sync state (``ReportsSyncState``): the listing."""
        return self.list_secrets(namespace)

    def unsynced(
        self, namespace: str, found: Mapping[str, SecretMetadata]
    ) -> list[FloeSecretsError]:
        """``ChecksSyncBeforeRun``: the found ExternalSecrets not Ready or stale (no request)."""
        del namespace  # the metadata already carries each sync state
        return list(sync_errors(found.values()))

    # --- sync -----------------------------------------------------------------------------------

    def force_sync(self, name: str, namespace: str, *, wait: bool = True) -> SyncState:
        """Ask ESO to sync ``name`` now (``force-sync`` annotation) and wait until it has.

        Raises:
            BackendUnavailableError: No successful sync within ``sync_timeout`` (ESO's reason).
        """
        current = sync_state(self.read_external_secret(name, namespace))
        _check_refreshable(current, name, namespace)
        before = current.synced_version
        patch = {
            "metadata": {"annotations": {FORCE_SYNC_ANNOTATION: force_sync_value(time.time())}}
        }
        answer = self._api.send(
            "PATCH",
            api_path(self.api_version, namespace, name),
            verb="patch",
            namespace=namespace,
            name=name,
            body=patch,
            content_type=MERGE_PATCH,
        )
        if not wait:
            return sync_state(answer)
        return self.wait_synced(name, namespace, before=before)

    def wait_synced(self, name: str, namespace: str, *, before: str = "") -> SyncState:
        """Wait (bounded) until ``name`` reports a successful sync other than ``before``."""
        return wait_for_sync(
            lambda: self.read_external_secret(name, namespace),
            name=name,
            namespace=namespace,
            before=before,
            wait=self.sync_wait,
            progress=self.progress,
        )

    # --- writes ---------------------------------------------------------------------------------

    def _source(self, name: str, namespace: str) -> VaultSecretsPlugin:
        """The Vault backend that writes values at the paths the ExternalSecrets read."""
        settings = self.settings
        if settings is None or settings.provider != "vault":
            provider = settings.provider if settings else "unknown"
            command = _WRITABLE.get(provider, "the provider's own tools").format(
                key=self.remote_key(name, namespace)
            )
            raise InvalidSecretValueError(
                f"floe does not write values into the {provider} store behind "
                f"ClusterSecretStore '{self.store}'",
                fix=f"write the value with `{command}`, then create or refresh the "
                "ExternalSecret (ESOSecretsPlugin.apply_external_secret / force_sync)",
                backend=BACKEND,
                secret=name,
                namespace=namespace,
            )
        with self._source_lock:
            if self._source_plugin is None:
                from floe_dagster_secrets.backends.vault import VaultSecretsPlugin

                token_given = any(self._vault_auth.values())
                self._source_plugin = VaultSecretsPlugin(
                    address=str(settings.vault_address),
                    auth_method="token" if token_given else "kubernetes",
                    role=settings.vault_role or "floe",
                    mount_path=settings.vault_auth_mount,
                    secret_path_prefix=self.remote_key_prefix,
                    kv_mount=settings.vault_path,
                    token_env=self._vault_auth["token_env"],
                    token_file=self._vault_auth["token_file"],
                )
            return self._source_plugin

    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        """Write the value into the store, create the ExternalSecret, wait for its first sync.

        Raises:
            SecretAlreadyExistsError: The remote key or the ExternalSecret exists already.
            InvalidSecretValueError: The store is not one floe writes (AWS, GCP, Azure): the
                message gives the provider's command.
        """
        clean = validation.check_secret_data(name, namespace, data, backend=BACKEND)
        source = self._source(name, namespace)
        source.create_secret(name, namespace, clean)
        try:
            self._api.send(
                "POST",
                api_path(self.api_version, namespace),
                verb="create",
                namespace=namespace,
                name=name,
                body=self.external_secret(name, namespace, list(clean)),
            )
        except FloeSecretsError as error:
            raise self._undo_store_write(source, name, namespace, error) from error
        self.wait_synced(name, namespace)
        return self.describe_secret(name, namespace)

    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        """Rotate: write the new value into the store, force a sync, wait until it arrived.

        New keys are added to the ExternalSecret's mapping (and dropped ones removed without
        ``merge``) before the sync is forced.
        """
        clean = validation.check_secret_data(name, namespace, data, backend=BACKEND)
        obj = self.read_external_secret(name, namespace)
        _check_refreshable(sync_state(obj), name, namespace)  # before anything is written
        mapped = metadata_from_external_secret(obj, namespace).keys
        self._source(name, namespace).update_secret(name, namespace, clean, merge=merge)
        keys = sorted(set(mapped) | set(clean)) if merge else sorted(clean)
        try:
            if tuple(keys) != mapped:
                self.apply_external_secret(name, namespace, keys)
            self.force_sync(name, namespace)
        except FloeSecretsError as error:
            # The store already holds the new version: say so, and what finishes the rotation.
            raise with_step_context(
                error,
                done=f"the new value is already in the store at "
                f"'{self.remote_key(name, namespace)}', but the ExternalSecret has not synced it",
                then=f"then run 'floe secrets rotate {name}' again (or wait for ESO's refresh, "
                f"every {self.refresh_interval})",
            ) from error
        return self.describe_secret(name, namespace)

    def _undo_store_write(
        self, source: VaultSecretsPlugin, name: str, namespace: str, error: FloeSecretsError
    ) -> FloeSecretsError:
        """Remove the value ``create`` just wrote, so a failed create leaves nothing behind."""
        remote = self.remote_key(name, namespace)
        try:
            source.delete_secret(name, namespace)
        except FloeSecretsError:
            return with_step_context(
                error,
                done=f"the value was written to the store at '{remote}' and could not be "
                "removed again",
                then=f"then delete '{remote}' from the store and run 'floe secrets create "
                f"{name}' again",
            )
        return with_step_context(
            error,
            done=f"the value written to the store at '{remote}' was removed again, so nothing "
            "is left half-done",
            then=f"then run 'floe secrets create {name}' again",
        )

    def delete_secret(self, name: str, namespace: str) -> None:
        """Delete the ExternalSecret and the Secret it owns; the store's value is kept.

        The Secret is deleted explicitly too: a cluster's garbage collector would do it
        (``creationPolicy: Owner``), but not at once, and a job must not read it in between.
        """
        obj = self.read_external_secret(name, namespace)
        self._api.send(
            "DELETE",
            api_path(self.api_version, namespace, name),
            verb="delete",
            namespace=namespace,
            name=name,
        )
        with contextlib.suppress(SecretNotFoundError):
            self._k8s.delete_secret(target_name(obj), namespace)


def _check_refreshable(state: SyncState, name: str, namespace: str) -> None:
    """Refuse to force a sync that ESO would ignore once the ExternalSecret has synced.

    ESO (``shouldRefresh``) never refreshes a ``CreatedOnce`` ExternalSecret again, nor a
    ``Periodic`` one with ``refreshInterval`` 0; an ``OnChange`` one refreshes when its
    annotations change, which is what the force-sync annotation does.
    """
    if not state.synced_version:
        return
    if state.refresh_policy == "CreatedOnce":
        raise InvalidManifestError(
            f"ExternalSecret '{name}' has refreshPolicy CreatedOnce, so ESO ignores a forced "
            "sync and would never copy the new value",
            fix=f"set its spec.refreshPolicy to Periodic or OnChange, "
            f"or delete its Secret (`kubectl delete secret {name} -n {namespace}`) after "
            "writing the new value to the store, which makes ESO fetch it again",
            backend=BACKEND,
            secret=name,
            namespace=namespace,
        )
    if state.refresh_policy != "OnChange" and not state.refresh_interval:
        raise InvalidManifestError(
            f"ExternalSecret '{name}' has refreshInterval 0, so ESO ignores a forced sync",
            fix="set plugins.secrets.config.refresh_interval to a duration (e.g. 1h) and "
            "re-apply the ExternalSecret, or recreate it",
            backend=BACKEND,
            secret=name,
            namespace=namespace,
        )
