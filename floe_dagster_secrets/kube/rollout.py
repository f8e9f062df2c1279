"""Restart the long-running workloads that consume a secret, as ``kubectl rollout restart`` does.

A Kubernetes Secret read through ``envFrom``/``env`` is copied into the container at start, so a
rotated credential only reaches a Deployment when its pods are replaced. This module finds the
Deployments, StatefulSets and DaemonSets whose pod templates reference a secret and bumps their
``kubectl.kubernetes.io/restartedAt`` template annotation, which makes the controller roll them.

Jobs, CronJobs and bare Pods are never touched: a run in flight keeps the credential it started
with, and the next run picks up the new one. Workloads that Stakater Reloader already restarts on
a secret change are skipped (restarting them too would roll them twice).

:func:`plan_restarts` is pure (workload dicts in, plan out); :func:`find_workloads` and
:func:`restart_workload` do the I/O through a ``kubernetes.client.ApiClient``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from floe_dagster_secrets.errors import BackendUnavailableError, SecretAccessDeniedError
from floe_dagster_secrets.kube.http import METADATA_ACCEPT

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RELOADER_AUTO = "reloader.stakater.com/auto"
RELOADER_SECRET = "secret.reloader.stakater.com/reload"  # noqa: S105 - an annotation name
RELOADER_SEARCH = "reloader.stakater.com/search"
RELOADER_MATCH = "reloader.stakater.com/match"

# Kind → (plural resource name used by kubectl, AppsV1Api method suffix).
WORKLOAD_KINDS = {
    "Deployment": ("deployment", "deployment"),
    "StatefulSet": ("statefulset", "stateful_set"),
    "DaemonSet": ("daemonset", "daemon_set"),
}


@dataclass(frozen=True)
class Workload:
    """One long-running workload: kind and name, e.g. ``Deployment`` ``dagster-daemon``."""

    kind: str
    name: str
    namespace: str

    @property
    def ref(self) -> str:
        """The ``kind/name`` form kubectl takes, e.g. ``deployment/dagster-daemon``."""
        return f"{WORKLOAD_KINDS[self.kind][0]}/{self.name}"

    @property
    def restart_command(self) -> str:
        """The command that does this restart by hand."""
        return f"kubectl rollout restart {self.ref} -n {self.namespace}"


@dataclass(frozen=True)
class RestartPlan:
    """Which workloads consume a secret: the ones to restart and the ones Reloader handles."""

    secret: str
    namespace: str
    restart: tuple[Workload, ...] = ()
    skipped_reloader: tuple[Workload, ...] = field(default_factory=tuple)


def _truthy(value: object) -> bool:
    return str(value).strip().lower() == "true"


def _listed(value: object, name: str) -> bool:
    return name in {part.strip() for part in str(value or "").split(",")}


def _volume_secrets(volume: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    secret = volume.get("secret") or {}
    if secret.get("secretName"):
        names.add(str(secret["secretName"]))
    for source in (volume.get("projected") or {}).get("sources") or []:
        projected = source.get("secret") or {}
        if projected.get("name"):
            names.add(str(projected["name"]))
    return names


def _container_secrets(container: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for env_from in container.get("envFrom") or []:
        ref = env_from.get("secretRef") or {}
        if ref.get("name"):
            names.add(str(ref["name"]))
    for env in container.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
        if ref.get("name"):
            names.add(str(ref["name"]))
    return names


def referenced_secrets(pod_spec: Mapping[str, Any]) -> set[str]:
    """Names of the secrets a pod spec reads: env, envFrom, secret and projected volumes.

    Containers and initContainers both count. ``imagePullSecrets`` do not: they are not
    credentials the workload itself uses.
    """
    names: set[str] = set()
    for key in ("containers", "initContainers"):
        for container in pod_spec.get(key) or []:
            names |= _container_secrets(container)
    for volume in pod_spec.get("volumes") or []:
        names |= _volume_secrets(volume)
    return names


def reloader_handles(
    workload_annotations: Mapping[str, Any],
    secret: str,
    secret_annotations: Mapping[str, Any],
) -> bool:
    """Whether Stakater Reloader restarts this workload itself when ``secret`` changes."""
    if _truthy(workload_annotations.get(RELOADER_AUTO)):
        return True
    if _listed(workload_annotations.get(RELOADER_SECRET), secret):
        return True
    return _truthy(workload_annotations.get(RELOADER_SEARCH)) and _truthy(
        secret_annotations.get(RELOADER_MATCH)
    )


def plan_restarts(
    workloads: Iterable[Mapping[str, Any]],
    secret: str,
    namespace: str,
    *,
    secret_annotations: Mapping[str, Any] | None = None,
) -> RestartPlan:
    """Decide which workloads to restart after ``secret`` changed. Pure: no I/O.

    Args:
        workloads: Workload objects as dicts (``kind``, ``metadata``, ``spec.template.spec``);
            kinds other than Deployment/StatefulSet/DaemonSet (Jobs, CronJobs, Pods) are ignored.
        secret: The rotated secret's name.
        namespace: Its namespace; workloads elsewhere are ignored.
        secret_annotations: The secret's annotations (for Reloader's search/match mode).

    Returns:
        The plan, workloads sorted by kind then name.
    """
    restart: list[Workload] = []
    skipped: list[Workload] = []
    for obj in workloads:
        kind = str(obj.get("kind") or "")
        metadata = obj.get("metadata") or {}
        if kind not in WORKLOAD_KINDS or metadata.get("namespace", namespace) != namespace:
            continue
        pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        if secret not in referenced_secrets(pod_spec):
            continue
        workload = Workload(kind, str(metadata.get("name")), namespace)
        annotations = metadata.get("annotations") or {}
        if reloader_handles(annotations, secret, secret_annotations or {}):
            skipped.append(workload)
        else:
            restart.append(workload)
    order = list(WORKLOAD_KINDS)

    def key(item: Workload) -> tuple[int, str]:
        return (order.index(item.kind), item.name)

    return RestartPlan(
        secret, namespace, tuple(sorted(restart, key=key)), tuple(sorted(skipped, key=key))
    )


def restart_patch(now: datetime | None = None) -> dict[str, Any]:
    """The patch ``kubectl rollout restart`` sends: the template's restartedAt annotation."""
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    stamp = moment.isoformat().replace("+00:00", "Z")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


def _translate(error: Exception, action: str, namespace: str) -> Exception:
    from kubernetes.client.exceptions import ApiException

    status = error.status if isinstance(error, ApiException) else None
    if status in (401, 403):
        return SecretAccessDeniedError(
            f"Not allowed to {action} in namespace {namespace} (HTTP {status})",
            fix="grant list/patch on deployments, statefulsets and daemonsets (apps API group) "
            "in this namespace",
            backend="k8s",
            namespace=namespace,
        )
    reason = f"HTTP {status}" if status is not None else type(error).__name__
    return BackendUnavailableError(
        f"Could not {action} in namespace {namespace} ({reason})",
        fix="check that the apiserver is reachable, then re-run",
        backend="k8s",
        namespace=namespace,
    )


def find_workloads(api_client: ApiClient, namespace: str) -> list[dict[str, Any]]:
    """Every Deployment, StatefulSet and DaemonSet in ``namespace``, as API dicts."""
    from kubernetes.client import AppsV1Api

    apps = AppsV1Api(api_client)
    found: list[dict[str, Any]] = []
    for kind, (_, method) in WORKLOAD_KINDS.items():
        try:
            listing = getattr(apps, f"list_namespaced_{method}")(namespace)
        except Exception as e:
            raise _translate(e, f"list {kind}s", namespace) from e
        for item in api_client.sanitize_for_serialization(listing).get("items") or []:
            item["kind"] = kind
            found.append(item)
    return found


def secret_annotations(api_client: ApiClient, name: str, namespace: str) -> dict[str, str]:
    """The annotations of one secret (Reloader's ``match``), by a metadata-only GET.

    A GET on the one name needs only ``get`` on it, which the ``restart`` RBAC role grants by
    ``resourceNames``; a LIST would need ``list`` on every secret in the namespace.
    """
    try:
        answer = api_client.call_api(
            "/api/v1/namespaces/{namespace}/secrets/{name}",
            "GET",
            path_params={"namespace": namespace, "name": name},
            header_params={"Accept": METADATA_ACCEPT},
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
    except Exception as e:
        raise _translate(e, f"read the metadata of secret {name}", namespace) from e
    metadata = (answer or {}).get("metadata") or {}
    return {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}


def restart_workload(
    api_client: ApiClient, workload: Workload, now: datetime | None = None
) -> None:
    """Patch ``workload``'s pod template restartedAt annotation (a rollout restart)."""
    from kubernetes.client import AppsV1Api

    method = getattr(AppsV1Api(api_client), f"patch_namespaced_{WORKLOAD_KINDS[workload.kind][1]}")
    try:
        method(workload.name, workload.namespace, restart_patch(now))
    except Exception as e:
        raise _translate(e, f"restart {workload.ref}", workload.namespace) from e


def names(workloads: Sequence[Workload]) -> str:
    """``dagster-daemon, statefulset/x`` — Deployments by bare name, the others kind/name."""
    return ", ".join(w.name if w.kind == "Deployment" else w.ref for w in workloads)
