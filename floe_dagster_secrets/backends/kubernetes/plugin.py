"""Kubernetes Secrets: the default backend (ADR-0023).

Namespace-scoped, and careful about what crosses the wire:

- ``list_secrets`` and ``secret_versions`` make one LIST request that asks the apiserver for
  ``PartialObjectMetadataList``: names, labels, annotations and ``resourceVersion`` come back,
  ``data`` never does. Listing a namespace and change detection therefore never transfer a value.
  Metadata has no key names, so floe records them in the ``floe.dev/keys`` annotation of the
  secrets it writes; a secret floe did not write is listed with its keys unknown.
- ``get_secret`` is the one call that reads values; each is wrapped in ``SecretValue`` (and so
  registered with the masker) before the caller sees it.
- Writes are checked against the apiserver's own rules first (name, keys, 1 MiB), so bad input
  is our error and nothing is half-written; updates carry the ``resourceVersion`` they read, so a
  concurrent writer yields ``SecretConflictError`` instead of a lost update.

Requests go through the ApiClient's ``call_api`` with ``_preload_content=False``: the JSON is
parsed here, no generated model ever holds a decoded value, and every request has a timeout.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from floe_dagster_secrets import audit
from floe_dagster_secrets.backends import validation
from floe_dagster_secrets.backends._retry import (
    DEFAULT_POLICY,
    RetryPolicy,
)
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from floe_dagster_secrets.kube import objects
from floe_dagster_secrets.kube.errors import translate
from floe_dagster_secrets.kube.http import METADATA_LIST_ACCEPT, call_json
from floe_dagster_secrets.kube.pod_spec import (
    RunPodContribution,
    RunPodSettings,
    kubernetes_secrets_contribution,
)
from floe_dagster_secrets.kube.table import TABLE_ACCEPT, TABLE_QUERY, metadata_from_table
from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.types import SecretData, SecretMetadata, SecretValue

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from floe_dagster_secrets.manifest.secrets_config import BackendConfig

_IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def running_in_cluster() -> bool:
    """Whether this process runs in a pod (service host variable and mounted token present)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and _IN_CLUSTER_TOKEN.exists()


class K8sSecretsPlugin(SecretsPlugin):
    """Secrets stored as Kubernetes ``Secret`` objects.

    Args:
        kubeconfig: Path of a kubeconfig file (default: ``$KUBECONFIG`` or ``~/.kube/config``).
        context: kubeconfig context to use (default: its current context).
        in_cluster: Use the pod's ServiceAccount. ``None`` decides: in a pod and with neither
            ``kubeconfig`` nor ``context`` given, in-cluster; otherwise the kubeconfig.
        api_client: A ready ``kubernetes.client.ApiClient`` (tests, callers that share one);
            it is used as is and not closed by :meth:`close`.

    The client is created on first use, never in ``__init__``, and never through the kubernetes
    package's process-global default configuration.
    """

    name: ClassVar[str] = "k8s"
    version: ClassVar[str] = "1.0.0"
    label: ClassVar[str] = "Kubernetes Secrets"
    config_model: ClassVar[type[BackendConfig] | str | None] = (
        "floe_dagster_secrets.manifest.secrets_config:K8sSecretsConfig"
    )
    resource: ClassVar[str | None] = "floe_dagster_secrets.resources.kubernetes:K8sSecretsResource"
    version_source: ClassVar[str] = "Kubernetes resourceVersion"

    request_timeout: ClassVar[tuple[float, float]] = (5.0, 30.0)
    """(connect, read) seconds for every request."""
    retry_policy: ClassVar[RetryPolicy] = DEFAULT_POLICY
    list_page_size: ClassVar[int] = 50_000
    """Items per LIST page: a namespace up to this size is listed in one request.

    Pages carry ``PartialObjectMetadata`` only (about 0.3 KB a secret), so even a full page stays
    near 15 MB, while the rotation sensor keeps its one request per namespace per tick well past
    the 10,000 secrets a large platform namespace holds.
    """

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        api_client: ApiClient | None = None,
    ) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._in_cluster = in_cluster
        self._api_client = api_client
        self._owns_client = api_client is None
        self._client_lock = threading.Lock()

    # --- client -----------------------------------------------------------------------------

    def _client(self) -> ApiClient:
        # Locked: two threads making the first call must not both build (and leak) a client.
        with self._client_lock:
            if self._api_client is None:
                self._api_client = self._load_client()
            return self._api_client

    def _load_client(self) -> ApiClient:
        from kubernetes import client, config

        in_cluster = self._in_cluster
        if in_cluster is None:
            in_cluster = self._kubeconfig is None and self._context is None and running_in_cluster()
        configuration = client.Configuration()
        try:
            if in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            else:
                config.load_kube_config(
                    config_file=self._kubeconfig,
                    context=self._context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (config.ConfigException, OSError) as e:
            source = (
                "the pod's ServiceAccount"
                if in_cluster
                else f"kubeconfig {self._kubeconfig or '(default)'}"
                + (f", context '{self._context}'" if self._context else "")
            )
            raise BackendUnavailableError(
                f"Cannot load the Kubernetes configuration from {source}: {e}",
                fix="pass --kubeconfig/--context (or plugins.secrets.config) naming a cluster "
                "you can reach, or run inside the cluster",
                backend=self.name,
            ) from e
        # urllib3 would otherwise retry a failed connection 3 times by itself, under our own
        # bounded retries: 4 x 4 attempts and 4 read timeouts per attempt. One layer decides.
        configuration.retries = False
        return with_default_timeout(client.ApiClient(configuration), self.request_timeout)

    def kubernetes_api_client(self) -> ApiClient:
        """The ``ApiClient`` all of this plugin's requests use (``ProvidesKubernetesClient``).

        Created on the first call; closed by :meth:`close` unless it was passed in.
        """
        return self._client()

    def run_pod_contribution(
        self, names: Sequence[str], settings: RunPodSettings
    ) -> RunPodContribution:
        """``envFrom`` of each Secret (prefixed as configured), each pre-flighted; no account.

        The kubelet resolves ``envFrom`` itself, so the pod's service account needs no access
        to the Secrets (``ContributesToRunPod``).
        """
        return kubernetes_secrets_contribution(names, settings)

    def unsynced(
        self, namespace: str, found: Mapping[str, SecretMetadata]
    ) -> list[FloeSecretsError]:
        """``ChecksSyncBeforeRun``: Secrets that ESO wrote must have a Ready, fresh sync.

        One LIST of ExternalSecrets, only when a found Secret carries ESO's managed label (see
        :func:`floe_dagster_secrets.backends.eso.unsynced_targets`); otherwise no request.
        """
        from floe_dagster_secrets.backends.eso import unsynced_targets

        return unsynced_targets(self.kubernetes_api_client, namespace, found)

    def close(self) -> None:
        """Close the client this plugin created (a client passed in is left to its owner)."""
        with self._client_lock:
            if self._api_client is not None and self._owns_client:
                self._api_client.close()
                self._api_client = None

    # --- one request --------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        namespace: str,
        name: str | None = None,
        body: Mapping[str, Any] | None = None,
        query: list[tuple[str, Any]] | None = None,
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """One API request with timeouts, bounded retries and error translation; JSON result."""
        api = self._client()
        return call_json(
            api,
            method,
            path,
            timeout=self.request_timeout,
            policy=self.retry_policy,
            body=body,
            query=query,
            accept=accept,
            on_error=lambda error, attempts: translate(
                error,
                verb=verb,
                namespace=namespace,
                name=name,
                host=api.configuration.host,
                attempts=attempts,
            ),
        )

    @staticmethod
    def _path(namespace: str, name: str | None = None) -> str:
        base = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets"
        return f"{base}/{quote(name, safe='')}" if name else base

    def _read(self, name: str, namespace: str, *, verb: str = "get") -> dict[str, Any]:
        objects.check_name(name, namespace)
        return self._send(
            "GET", self._path(namespace, name), verb=verb, namespace=namespace, name=name
        )

    # --- SecretsPlugin ------------------------------------------------------------------------

    def get_secret(self, name: str, namespace: str) -> SecretData:
        """Every key of the secret, decoded, as ``SecretValue`` (registered with the masker).

        Raises:
            InvalidSecretValueError: A value is not UTF-8 text; the key is named, not the value.
        """
        obj = self._read(name, namespace)
        # the Secret read carries its resourceVersion: the run-log event needs no second read
        audit.record_version((obj.get("metadata") or {}).get("resourceVersion"))
        data: Mapping[str, str] = obj.get("data") or {}
        return {
            key: SecretValue(objects.decode_value(name, namespace, key, value))
            for key, value in sorted(data.items())
        }

    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        """Create an Opaque secret labelled ``app.kubernetes.io/managed-by: floe``.

        Raises:
            SecretAlreadyExistsError: It exists; ``floe secrets rotate NAME`` changes it.
        """
        objects.check_name(name, namespace)
        encoded = objects.encode_data(name, namespace, data)
        get_masker().register_all(data.values())
        created = self._send(
            "POST",
            self._path(namespace),
            verb="create",
            namespace=namespace,
            name=name,
            body=objects.secret_body(name, namespace, encoded),
        )
        return objects.metadata_from_object(created, namespace, data_keys=tuple(sorted(encoded)))

    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        """Write new values (rotation): merged into or replacing the current keys.

        The write carries the ``resourceVersion`` that was read, so a concurrent change makes
        it fail with ``SecretConflictError`` instead of silently losing one of the two writes.
        """
        objects.check_name(name, namespace)
        encoded = objects.encode_data(name, namespace, data)
        current = self._read(name, namespace, verb="update")
        new_data = {**(current.get("data") or {}), **encoded} if merge else encoded
        objects.check_encoded_size(name, namespace, new_data)
        get_masker().register_all(data.values())
        meta = dict(current.get("metadata") or {})
        if objects.is_managed(meta):
            annotations = dict(meta.get("annotations") or {})
            annotations[objects.KEYS_ANNOTATION] = objects.keys_annotation(new_data)
            meta["annotations"] = annotations
        meta.pop("managedFields", None)
        body = {**current, "metadata": meta, "data": new_data}
        body.pop("stringData", None)
        updated = self._send(
            "PUT",
            self._path(namespace, name),
            verb="update",
            namespace=namespace,
            name=name,
            body=body,
        )
        return objects.metadata_from_object(updated, namespace, data_keys=tuple(sorted(new_data)))

    def delete_secret(self, name: str, namespace: str) -> None:
        """Delete the secret; a missing one is ``SecretNotFoundError``."""
        objects.check_name(name, namespace)
        self._send(
            "DELETE", self._path(namespace, name), verb="delete", namespace=namespace, name=name
        )

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        """Type, key count and metadata of one secret, as the apiserver's Table: no value read.

        One LIST narrowed to the name (``fieldSelector``), so an identity with the ``list`` the
        metadata listing needs (the launcher, the sensor) needs no ``get``; an identity granted
        only ``get`` on named secrets (``resourceNames``) is answered by the same Table for that
        one object instead. Neither transfers a value. Key names come from floe's
        ``floe.dev/keys`` annotation; for a secret floe did not write they are not known
        (``keys_known`` False; the count is ``key_count``): Kubernetes shows them only
        with the values (:mod:`floe_dagster_secrets.kube.table`).

        Raises:
            SecretNotFoundError: No secret of that name in the namespace.
        """
        objects.check_name(name, namespace)
        try:
            table = self._send(
                "GET",
                self._path(namespace),
                verb="list",
                namespace=namespace,
                name=name,
                query=[*TABLE_QUERY, ("fieldSelector", f"metadata.name={name}")],
                accept=TABLE_ACCEPT,
            )
        except SecretAccessDeniedError:  # no list: get on this name (resourceNames) may do
            table = self._send(
                "GET",
                self._path(namespace, name),
                verb="get",
                namespace=namespace,
                name=name,
                query=list(TABLE_QUERY),
                accept=TABLE_ACCEPT,
            )
        found = metadata_from_table(table, namespace)
        if not found:
            raise SecretNotFoundError(
                f"Secret '{name}' not found in namespace '{namespace}'",
                fix=f"create it with `floe secrets create {name} --namespace {namespace}`",
                backend=self.name,
                secret=name,
                namespace=namespace,
            )
        return found[0]

    def list_metadata(self, namespace: str) -> list[dict[str, Any]]:
        """Every secret's ``PartialObjectMetadata`` in the namespace: no ``data``, ever.

        One LIST request per ``list_page_size`` secrets (one request for most namespaces).
        """
        validation.check_namespace(namespace, backend=self.name)
        return [
            item
            for page in self._list_pages(namespace, [], accept=METADATA_LIST_ACCEPT)
            for item in page.get("items") or []
        ]

    def _list_pages(
        self, namespace: str, query: list[tuple[str, Any]], *, accept: str
    ) -> Iterator[dict[str, Any]]:
        """Each page of a LIST of the namespace's Secrets, ``list_page_size`` at a time."""
        token: str | None = None
        while True:
            page_query = [*query, ("limit", self.list_page_size)]
            if token:
                page_query.append(("continue", token))
            page = self._send(
                "GET",
                self._path(namespace),
                verb="list",
                namespace=namespace,
                query=page_query,
                accept=accept,
            )
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        """Every secret in the namespace (floe's and others'), as metadata only, by name.

        Read as the apiserver's server-side Table, so each secret's real ``type`` and key count
        come without its values. Key names come from floe's ``floe.dev/keys`` annotation; for a
        secret floe did not write they are not known (``keys_known`` is False).
        """
        validation.check_namespace(namespace, backend=self.name)
        # the server-side Table (what kubectl get reads): type and key count, no data
        pages = self._list_pages(namespace, list(TABLE_QUERY), accept=TABLE_ACCEPT)
        found = [meta for page in pages for meta in metadata_from_table(page, namespace)]
        return sorted(found, key=lambda meta: meta.name)

    def secret_versions(self, namespace: str) -> dict[str, str]:
        """Name → ``resourceVersion`` of every secret, from the same metadata-only LIST."""
        return {
            str(obj["metadata"]["name"]): str(obj["metadata"].get("resourceVersion", ""))
            for obj in self.list_metadata(namespace)
        }


def with_default_timeout(api: ApiClient, timeout: tuple[float, float]) -> ApiClient:
    """``api``, its requests given ``timeout`` (connect, read) unless they set their own.

    The plugin's own requests always set one; this covers the other callers of the same client
    (``rotate --restart-deployments`` lists and patches workloads through it), which the
    kubernetes package would otherwise let wait for ever on a hung apiserver.
    """
    original = api.request

    def request(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("_request_timeout"):
            kwargs["_request_timeout"] = timeout
        return original(*args, **kwargs)

    api.request = request
    return api
