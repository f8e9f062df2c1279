"""Least-privilege Kubernetes RBAC for floe, rendered from the manifest (``floe secrets rbac``).

Pure functions: manifest in, Kubernetes objects (plain dicts) out, no I/O. Four components, each
its own Role and RoleBinding so each identity gets only what its job needs:

- ``job-runner``: the ``floe-job-runner`` ServiceAccount that run and step pods use, with ``get``
  on exactly the secrets the manifest references (``resourceNames``), in the secrets namespace.
  Kubernetes RBAC cannot scope ``list``/``watch`` by name (a list returns every secret, values
  included), so the job runner gets neither.
- ``sensor``: the rotation sensor's metadata-only listing: ``list`` and ``watch`` on secrets,
  bound to the Dagster daemon's ServiceAccount. ``list`` on secrets can read values in
  Kubernetes RBAC, so grant it in the job namespace only (what this Role does).
- ``restart``: ``floe secrets rotate NAME --restart-deployments``: ``get``/``update`` on the
  referenced secrets, and ``get``/``list``/``patch`` on Deployments, StatefulSets and DaemonSets.
- ``launcher``: ``FloeK8sRunLauncher`` in the daemon and webserver: create and watch Jobs and
  their Pods (what dagster-k8s's launcher calls), plus ``list``/``watch`` on secrets for the
  pre-flight's metadata cache and its metadata-only reads (the apiserver's Table narrowed by
  name), and ``get`` on the ``dbt-profiles`` ConfigMap the pre-flight checks. No ``get`` on
  secrets: the pre-flight never reads a Secret whole, so never a value.

A Role with an empty ``resourceNames`` grants every name, so a component whose name list would be
empty is refused rather than rendered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from floe_dagster_secrets.errors import InvalidManifestError, InvalidSecretReferenceError
from floe_dagster_secrets.kube.names import is_dns1123_label, is_dns1123_subdomain
from floe_dagster_secrets.kube.pod_spec import PROFILES_CONFIG_MAP

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest import Manifest

JOB_RUNNER = "floe-job-runner"
COMPONENTS = ("job-runner", "sensor", "restart", "launcher")
"""Every component, in the order the documents are rendered."""

MANAGED_BY = {"app.kubernetes.io/managed-by": "floe", "app.kubernetes.io/part-of": "floe-secrets"}
RBAC_API = "rbac.authorization.k8s.io/v1"

LAUNCHER_RULES: tuple[dict[str, Any], ...] = (
    {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["create", "get", "list", "watch", "delete"],
    },
    {"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]},
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": [PROFILES_CONFIG_MAP],
        "verbs": ["get"],
    },
)
"""What dagster-k8s's launcher calls (create/read/delete Jobs, their Pods, logs, events) plus the
pre-flight's metadata cache (one LIST + WATCH of secrets per namespace) and its check that the
``dbt-profiles`` ConfigMap a manifest implies exists (it holds ``env_var()`` references only)."""

WORKLOAD_RULE: dict[str, Any] = {
    "apiGroups": ["apps"],
    "resources": ["deployments", "statefulsets", "daemonsets"],
    "verbs": ["get", "list", "patch"],
}


@dataclass(frozen=True)
class Subject:
    """A ServiceAccount a RoleBinding names: ``namespace/name``."""

    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str, *, default_namespace: str) -> Subject:
        """``NAME`` or ``NAMESPACE/NAME``."""
        namespace, sep, name = text.partition("/") if "/" in text else ("", "", text)
        namespace = namespace if sep else default_namespace
        if not (is_dns1123_label(namespace) and is_dns1123_subdomain(name)):
            raise InvalidManifestError(
                f"'{text}' does not name a ServiceAccount",
                fix="write NAME or NAMESPACE/NAME with Kubernetes names (lowercase letters, "
                "digits, '-'; one '/' at most), e.g. dagster/dagster",
            )
        return cls(namespace, name)

    def to_k8s(self) -> dict[str, str]:
        """The RoleBinding ``subjects`` entry."""
        return {"kind": "ServiceAccount", "name": self.name, "namespace": self.namespace}


def referenced_secrets(manifest: Manifest, extra: Iterable[str] = ()) -> list[str]:
    """Every secret name the manifest references, plus ``extra`` (launcher platform secrets)."""
    names = [ref.name for ref in manifest.secret_references()]
    for name in extra:
        if name not in names:
            names.append(name)
    return names


def _meta(name: str, namespace: str, component: str) -> dict[str, Any]:
    labels = {**MANAGED_BY, "app.kubernetes.io/component": component}
    return {"name": name, "namespace": namespace, "labels": labels}


def service_account(name: str, namespace: str, component: str) -> dict[str, Any]:
    """A ServiceAccount that mounts no token unless a pod asks (pods that need one opt in)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(name, namespace, component),
    }


def role(
    name: str, namespace: str, component: str, rules: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """A namespaced Role; refuses a secrets rule whose ``resourceNames`` is empty (= all)."""
    for rule in rules:
        if "resourceNames" in rule and not rule["resourceNames"]:
            raise InvalidManifestError(
                f"Role '{name}' would grant every secret in namespace '{namespace}' (an empty "
                "resourceNames list means all names)",
                fix="reference at least one secret in the manifest",
                namespace=namespace,
            )
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": _meta(name, namespace, component),
        "rules": [dict(rule) for rule in rules],
    }


def role_binding(
    name: str, namespace: str, component: str, subjects: Sequence[Subject]
) -> dict[str, Any]:
    """Binds Role ``name`` (same name) to ``subjects``."""
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace, component),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [subject.to_k8s() for subject in subjects],
    }


def _secrets_get(names: Sequence[str], verbs: Sequence[str]) -> dict[str, Any]:
    return {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": list(names),
        "verbs": list(verbs),
    }


def render_objects(
    manifest: Manifest,
    *,
    components: Iterable[str] = ("job-runner",),
    namespace: str | None = None,
    dagster_account: Subject | None = None,
    rotator_account: Subject | None = None,
    extra_secrets: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The RBAC objects for ``components`` (see the module docstring), in a stable order.

    Args:
        manifest: The loaded manifest; its referenced secrets are the only names granted.
        components: Any of :data:`COMPONENTS`.
        namespace: Namespace of the secrets and job pods (default: the manifest's).
        dagster_account: The daemon/webserver ServiceAccount for ``sensor`` and ``launcher``
            (default ``<namespace>/dagster``).
        rotator_account: Who runs ``rotate --restart-deployments`` (default a
            ``floe-rotator`` ServiceAccount in the namespace, rendered too).
        extra_secrets: More secret names the job runner reads (the launcher's
            ``platform_secrets``).
    """
    wanted = set(components)
    unknown = wanted - set(COMPONENTS)
    if unknown:
        raise InvalidManifestError(
            f"Unknown RBAC component(s): {', '.join(sorted(unknown))}",
            fix=f"choose from {', '.join(COMPONENTS)}",
        )
    ns = namespace or manifest.plugins.secrets.namespace
    if not is_dns1123_label(ns):
        raise InvalidSecretReferenceError(
            f"'{ns}' is not a valid namespace name for the RBAC objects",
            fix="use at most 63 lowercase letters, digits and '-', starting and ending with a "
            "letter or digit",
        )
    bad = [name for name in extra_secrets if not is_dns1123_subdomain(name)]
    if bad:
        raise InvalidSecretReferenceError(
            f"--extra-secret {', '.join(repr(name) for name in bad)} is not a valid secret name",
            fix="give a Kubernetes Secret name (lowercase letters, digits, '-' and '.'), as in "
            "the launcher's platform_secrets",
        )
    names = referenced_secrets(manifest, extra_secrets)
    daemon = dagster_account or Subject(ns, "dagster")
    # what the backend declares (backends/base.py): its extra rules for the sensor and the
    # launcher (ESO: list ExternalSecrets), whether the job runner reads Kubernetes Secrets
    from floe_dagster_secrets.backends.registry import load_backend_class  # kube is below it

    backend = load_backend_class(manifest.plugins.secrets.type)
    extra_rules = [dict(rule) for rule in backend.kubernetes_rules]
    rotator = rotator_account or Subject(ns, "floe-rotator")
    found: list[dict[str, Any]] = []
    if "job-runner" in wanted:
        runner = Subject(ns, JOB_RUNNER)
        found.append(service_account(JOB_RUNNER, ns, "job-runner"))
        if backend.pod_reads_kubernetes_secrets:  # not Vault: its pod reads Vault itself
            role_name = f"{JOB_RUNNER}-secrets"
            found.append(role(role_name, ns, "job-runner", [_secrets_get(names, ["get"])]))
            found.append(role_binding(role_name, ns, "job-runner", [runner]))
    if "sensor" in wanted:
        secrets_rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}
        rules = [secrets_rule, *extra_rules]
        found.append(role("floe-rotation-sensor", ns, "sensor", rules))
        found.append(role_binding("floe-rotation-sensor", ns, "sensor", [daemon]))
    if "restart" in wanted:
        if rotator_account is None:
            found.append(service_account(rotator.name, ns, "restart"))
        rules = [_secrets_get(names, ["get", "update"]), WORKLOAD_RULE]
        found.append(role("floe-rotate-restart", ns, "restart", rules))
        found.append(role_binding("floe-rotate-restart", ns, "restart", [rotator]))
    if "launcher" in wanted:
        # no get: the pre-flight reads metadata and the apiserver's Table (type, key count),
        # by LIST (narrowed by name where it needs one secret), never a Secret with its values
        rules = [*LAUNCHER_RULES, *extra_rules]
        found.append(role("floe-run-launcher", ns, "launcher", rules))
        found.append(role_binding("floe-run-launcher", ns, "launcher", [daemon]))
    return found


def to_yaml(objects: Sequence[dict[str, Any]]) -> str:
    """A multi-document YAML stream ``kubectl apply -f -`` takes."""
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
