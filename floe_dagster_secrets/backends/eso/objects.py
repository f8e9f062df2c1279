"""Pure helpers of the External Secrets Operator backend: ExternalSecret bodies and their status.

Everything here runs without a cluster. An ExternalSecret floe writes names the keys it maps and
where each comes from (``remoteRef.key`` + ``property``), never a value, so listing and
describing ExternalSecrets can never leak one. The sync state (``Ready`` condition, reason,
``refreshTime``, ``syncedResourceVersion``) is read into :class:`SyncState` for ``status``, the
forced-sync wait and the launcher's pre-flight check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from floe_dagster_secrets.backends import validation
from floe_dagster_secrets.types import SecretMetadata, SyncState

BACKEND = "external-secrets"
GROUP = "external-secrets.io"
ApiVersion = Literal["v1", "v1beta1"]
DEFAULT_API_VERSION: ApiVersion = "v1"
"""What ESO serves since 0.17 (0.16 served v1 and v1beta1; 0.17 stopped serving v1beta1)."""
KIND = "ExternalSecret"
PLURAL = "externalsecrets"
STORE_KIND = "ClusterSecretStore"
STORE_PLURAL = "clustersecretstores"
FORCE_SYNC_ANNOTATION = "force-sync"
"""Changing it makes ESO reconcile at once instead of at the next refresh interval."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "floe"
SECRET_TYPE = "ExternalSecret"  # noqa: S105 - a kind, not a password

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> timedelta:
    """A Go duration (``1h``, ``30m``, ``1h30m``, ``0``) as a timedelta; ``0`` means never."""
    if text.strip() == "0":
        return timedelta(0)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"not a Go duration: {text!r}")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def api_path(api_version: str, namespace: str | None = None, name: str | None = None) -> str:
    """REST path of the ExternalSecrets of ``namespace`` (or one of them)."""
    base = f"/apis/{GROUP}/{api_version}"
    if namespace is None:
        return f"{base}/{PLURAL}"
    path = f"{base}/namespaces/{namespace}/{PLURAL}"
    return f"{path}/{name}" if name else path


def store_path(api_version: str, name: str | None = None) -> str:
    """REST path of the ClusterSecretStores (cluster-scoped), or of one of them."""
    base = f"/apis/{GROUP}/{api_version}/{STORE_PLURAL}"
    return f"{base}/{name}" if name else base


def remote_key(prefix: str, namespace: str, name: str) -> str:
    """Where a secret lives in the source store: ``{prefix}{namespace}/{name}``.

    The same layout as the Vault backend's KV paths, so a secret written by ``floe secrets``
    with the vault backend can be synced by ESO without moving it.
    """
    return f"{prefix}{namespace}/{name}"


@dataclass(frozen=True)
class KeyRef:
    """One ``spec.data[]`` entry: env key ``secret_key`` from ``remote_key`` (and ``property``).

    ``property`` None means the whole remote secret (ADR-0023's GCP and Azure examples).
    """

    secret_key: str
    remote_key: str
    property: str | None = None

    def to_k8s(self) -> dict[str, Any]:
        """The ``data[]`` entry as ESO reads it."""
        remote: dict[str, str] = {"key": self.remote_key}
        if self.property is not None:
            remote["property"] = self.property
        return {"secretKey": self.secret_key, "remoteRef": remote}


def external_secret_from_refs(
    name: str,
    namespace: str,
    refs: Sequence[KeyRef],
    *,
    store: str,
    refresh_interval: str = "1h",
    api_version: ApiVersion = DEFAULT_API_VERSION,
) -> dict[str, Any]:
    """An ExternalSecret that fills Secret ``name`` with ``refs`` from ClusterSecretStore ``store``.

    ``target.creationPolicy: Owner`` makes the Secret owned by the ExternalSecret (deleted with
    it), and each key is mapped explicitly (``remoteRef.key``/``property``), so the object says
    which keys the Secret will hold without anyone reading a value. ``refs`` keep their order.
    """
    validation.check_namespace(namespace, backend=BACKEND)
    validation.check_secret_name(name, namespace, backend=BACKEND)
    return {
        "apiVersion": f"{GROUP}/{api_version}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        },
        "spec": {
            "refreshInterval": refresh_interval,
            "secretStoreRef": {"name": store, "kind": STORE_KIND},
            "target": {"name": name, "creationPolicy": "Owner"},
            "data": [ref.to_k8s() for ref in refs],
        },
    }


def external_secret_body(
    name: str,
    namespace: str,
    keys: Sequence[str],
    *,
    store: str,
    remote: str,
    refresh_interval: str = "1h",
    api_version: ApiVersion = DEFAULT_API_VERSION,
) -> dict[str, Any]:
    """An ExternalSecret that syncs ``keys`` of ``remote`` into a Secret named ``name``.

    floe's default mapping: each env key is the property of the same name in ``remote``.
    """
    refs = [KeyRef(key, remote, key) for key in sorted(keys)]
    return external_secret_from_refs(
        name,
        namespace,
        refs,
        store=store,
        refresh_interval=refresh_interval,
        api_version=api_version,
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def sync_state(obj: Mapping[str, Any]) -> SyncState:
    """The :class:`SyncState` of an ExternalSecret as the apiserver returned it."""
    status: Mapping[str, Any] = obj.get("status") or {}
    spec: Mapping[str, Any] = obj.get("spec") or {}
    ready = next(
        (c for c in status.get("conditions") or () if c.get("type") == "Ready"),
        None,
    )
    try:
        interval = parse_go_duration(str(spec.get("refreshInterval") or "1h"))
    except ValueError:
        interval = timedelta(hours=1)
    return SyncState(
        ready=bool(ready and ready.get("status") == "True"),
        reason=str((ready or {}).get("reason") or "Pending"),
        message=str((ready or {}).get("message") or "ESO has not reconciled it yet"),
        refresh_time=_time(status.get("refreshTime")),
        synced_version=str(status.get("syncedResourceVersion") or ""),
        refresh_interval=interval,
        source=store_name(obj),
        # absent (older ESO releases, or left out) means ESO's interval-driven default
        refresh_policy=str(spec.get("refreshPolicy") or "Periodic"),
    )


def mapped_keys(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The target keys an ExternalSecret maps (``spec.data[].secretKey``)."""
    data = (obj.get("spec") or {}).get("data") or ()
    return tuple(sorted(str(item["secretKey"]) for item in data if item.get("secretKey")))


def store_name(obj: Mapping[str, Any]) -> str:
    """The store an ExternalSecret reads from."""
    return str(((obj.get("spec") or {}).get("secretStoreRef") or {}).get("name") or "")


def target_name(obj: Mapping[str, Any]) -> str:
    """The Secret an ExternalSecret writes (``spec.target.name``, default its own name)."""
    spec = obj.get("spec") or {}
    meta = obj.get("metadata") or {}
    return str((spec.get("target") or {}).get("name") or meta.get("name") or "")


def metadata_from_external_secret(
    obj: Mapping[str, Any], namespace: str, *, target_version: str = ""
) -> SecretMetadata:
    """SecretMetadata of an ExternalSecret: mapped keys, store, sync state; no value.

    ``version`` is the synced target Secret's ``resourceVersion`` (it changes exactly when ESO
    writes new data), empty while the Secret does not exist.
    """
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    state = sync_state(obj)
    labels = dict(meta.get("labels") or {})
    return SecretMetadata(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace") or namespace),
        backend=BACKEND,
        keys=mapped_keys(obj),
        version=target_version,
        type=SECRET_TYPE,
        created=_time(meta.get("creationTimestamp")),
        updated=state.refresh_time,
        managed_by_floe=labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE,
        labels=labels,
        extra={
            "store": store_name(obj),
            "target": target_name(obj),
            "refresh_interval": (obj.get("spec") or {}).get("refreshInterval"),
            "refresh_policy": state.refresh_policy,
        },
        sync=state,
    )
