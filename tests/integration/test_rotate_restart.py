"""``floe secrets rotate --restart-deployments`` as a real process against the real apiserver.

No controller-manager runs, so Deployments are only objects: the test checks the patch the
controller would act on (the pod template's restartedAt annotation) and that nothing else moved.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from floe_dagster_secrets.kube.objects import KEYS_ANNOTATION
from floe_dagster_secrets.kube.rbac import render_objects
from floe_dagster_secrets.kube.rollout import RESTARTED_AT, secret_annotations
from floe_dagster_secrets.manifest import load_manifest
from tests.integration.test_k8s_cli import floe
from tests.servers import KubeApiServer

pytestmark = pytest.mark.integration

SECRET = "postgres-prod-credentials"
IMAGE = "registry.invalid/app:1"


def _pod_spec(kind: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": IMAGE}
    volumes: list[dict[str, Any]] = []
    if kind == "envFrom":
        container["envFrom"] = [{"secretRef": {"name": SECRET}}]
    elif kind == "env":
        container["env"] = [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "PASSWORD"}}}
        ]
    elif kind == "volume":
        container["volumeMounts"] = [{"name": "creds", "mountPath": "/creds"}]
        volumes = [{"name": "creds", "secret": {"secretName": SECRET}}]
    elif kind == "other":
        container["envFrom"] = [{"secretRef": {"name": "other-prod-credentials"}}]
    return {"containers": [container], "volumes": volumes, "restartPolicy": "Always"}


def _template(kind: str, app: str, *, restart: str = "Always") -> dict[str, Any]:
    spec = _pod_spec(kind)
    spec["restartPolicy"] = restart
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


def _workload_spec(kind: str, app: str) -> dict[str, Any]:
    return {"selector": {"matchLabels": {"app": app}}, "template": _template(kind, app)}


def _create_workloads(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    batch = client.BatchV1Api(api)
    deployments = {
        "web-envfrom": ("envFrom", {}),
        "worker-env": ("env", {}),
        "reader-volume": ("volume", {}),
        "unrelated": ("other", {}),
        "reloaded": ("envFrom", {"reloader.stakater.com/auto": "true"}),
    }
    for name, (kind, marks) in deployments.items():
        body = {
            "metadata": {"name": name, "annotations": marks},
            "spec": _workload_spec(kind, name),
        }
        apps.create_namespaced_deployment(ns, body)
    sts_spec = {**_workload_spec("volume", "db"), "serviceName": "db"}
    apps.create_namespaced_stateful_set(ns, {"metadata": {"name": "db"}, "spec": sts_spec})
    apps.create_namespaced_daemon_set(
        ns, {"metadata": {"name": "agent"}, "spec": _workload_spec("envFrom", "agent")}
    )
    batch.create_namespaced_job(
        ns,
        {
            "metadata": {"name": "run-1"},
            "spec": {"template": _template("envFrom", "run-1", restart="Never")},
        },
    )


def _state(api: client.ApiClient, ns: str) -> dict[str, tuple[str, dict[str, str]]]:
    """kind/name → (resourceVersion, pod template annotations) of every workload and secret."""
    apps = client.AppsV1Api(api)
    found: dict[str, tuple[str, dict[str, str]]] = {}
    listings = {
        "deployment": apps.list_namespaced_deployment(ns).items,
        "statefulset": apps.list_namespaced_stateful_set(ns).items,
        "daemonset": apps.list_namespaced_daemon_set(ns).items,
        "job": client.BatchV1Api(api).list_namespaced_job(ns).items,
    }
    for kind, items in listings.items():
        for item in items:
            annotations = item.spec.template.metadata.annotations or {}
            found[f"{kind}/{item.metadata.name}"] = (item.metadata.resource_version, annotations)
    secret = client.CoreV1Api(api).read_namespaced_secret(SECRET, ns)
    found[f"secret/{SECRET}"] = (secret.metadata.resource_version, {})
    return found


@pytest.fixture
def cluster(tmp_path: Path, kube_apiserver: KubeApiServer, k8s_namespace: str) -> Path:
    (tmp_path / "manifest.yaml").write_text(
        f"""\
environment: prod
plugins:
  secrets:
    type: k8s
    namespace: {k8s_namespace}
  compute:
    type: postgres
    connection_secret_ref: {SECRET}
    config: {{host: db, port: 5432, database: analytics}}
secrets:
  {SECRET}:
    assets: [raw/orders, marts/revenue]
"""
    )
    made = floe(
        "secrets", "create", SECRET, "--from-stdin",
        f"--kubeconfig={kube_apiserver.admin_kubeconfig}", cwd=tmp_path,
        stdin="POSTGRES_HOST=db\nPOSTGRES_USER=u\nPOSTGRES_PASSWORD=old\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    _create_workloads(kube_apiserver.api_client(), k8s_namespace)
    return tmp_path


EXPECTED = {
    "deployment/web-envfrom",
    "deployment/worker-env",
    "deployment/reader-volume",
    "statefulset/db",
    "daemonset/agent",
}


def test_restart_deployments_patches_exactly_the_consumers(
    cluster: Path, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    api = kube_apiserver.api_client()
    before = _state(api, k8s_namespace)
    new_value = f"new-{uuid.uuid4().hex}"
    result = floe(
        "secrets", "rotate", SECRET, "--from-stdin", "--restart-deployments",
        f"--kubeconfig={kube_apiserver.admin_kubeconfig}", cwd=cluster,
        stdin=f"POSTGRES_PASSWORD={new_value}\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    after = _state(api, k8s_namespace)

    restarted = {ref for ref, (_, annotations) in after.items() if RESTARTED_AT in annotations}
    assert restarted == EXPECTED
    changed = {ref for ref in before if before[ref][0] != after[ref][0]}
    assert changed == EXPECTED | {f"secret/{SECRET}"}  # the Job, unrelated, reloaded untouched

    out = result.stdout
    assert out.splitlines()[0] == f"Rotating secret: {SECRET}"
    assert "✓ Secret updated in Kubernetes Secrets (version " in out
    assert (
        "✓ Restarting deployments: reader-volume, web-envfrom, worker-env, statefulset/db, "
        "daemonset/agent" in out
    )
    assert "- Skipped (Reloader): reloaded" in out
    assert "raw/orders, marts/revenue" in out
    assert out.rstrip().endswith("Rotation complete.")
    assert new_value not in out + result.stderr


def test_dry_run_changes_nothing(
    cluster: Path, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    api = kube_apiserver.api_client()
    before = _state(api, k8s_namespace)
    result = floe(
        "secrets", "rotate", SECRET, "--generate", "POSTGRES_PASSWORD", "--restart-deployments",
        "--dry-run", f"--kubeconfig={kube_apiserver.admin_kubeconfig}", cwd=cluster,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert _state(api, k8s_namespace) == before
    out = result.stdout
    assert "Would restart deployments: reader-volume, web-envfrom, worker-env" in out
    assert "- Skipped (Reloader): reloaded" in out
    assert "Would re-materialize: raw/orders, marts/revenue" in out
    assert "run-1" not in out


def test_restart_failure_names_the_step_and_the_command(
    cluster: Path, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """The identity may update secrets and list workloads but not patch them: exit 1, told how."""
    api = kube_apiserver.api_client()
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(
        k8s_namespace,
        {
            "metadata": {"name": "rotate-no-patch"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "verbs": ["get", "list", "update", "patch"],
                },
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "statefulsets", "daemonsets"],
                    "verbs": ["list"],
                },
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        k8s_namespace,
        {
            "metadata": {"name": "rotate-no-patch"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "rotate-no-patch",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": kube_apiserver.restricted_user,
                }
            ],
        },
    )
    before = _state(api, k8s_namespace)
    result = floe(
        "secrets", "rotate", SECRET, "--from-literal", "POSTGRES_USER=u2", "--restart-deployments",
        f"--kubeconfig={kube_apiserver.restricted_kubeconfig}", cwd=cluster,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    after = _state(api, k8s_namespace)
    assert after[f"secret/{SECRET}"] != before[f"secret/{SECRET}"]  # the secret did rotate
    out = result.stdout
    assert "✗ Restart failed at deployment/reader-volume" in out
    for ref in sorted(EXPECTED):
        assert f"kubectl rollout restart {ref} -n {k8s_namespace}" in out
    assert "Rotation complete." not in out

    as_json = floe(
        "secrets", "rotate", SECRET, "--from-literal", "POSTGRES_USER=u3", "--restart-deployments",
        "-o", "json", f"--kubeconfig={kube_apiserver.restricted_kubeconfig}", cwd=cluster,
    )  # fmt: skip
    assert as_json.returncode == 1, as_json.stdout + as_json.stderr
    document = json.loads(as_json.stdout)
    assert len(document["not_restarted"]) == len(EXPECTED)
    assert document["skipped_reloader"] == ["deployment/reloaded"]


def test_restart_works_with_exactly_the_rendered_restart_role(
    cluster: Path, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """``floe secrets rbac --component restart`` grants enough: no LIST on secrets is needed."""
    api = kube_apiserver.api_client()
    manifest = load_manifest(cluster / "manifest.yaml")
    (role,) = [o for o in render_objects(manifest, components=["restart"]) if o["kind"] == "Role"]
    assert all("list" not in r["verbs"] for r in role["rules"] if "secrets" in r["resources"])
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(k8s_namespace, role)
    rbac.create_namespaced_role_binding(
        k8s_namespace,
        {
            "metadata": {"name": "restart-as-rendered"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": role["metadata"]["name"],
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": kube_apiserver.restricted_user,
                }
            ],
        },
    )
    before = _state(api, k8s_namespace)
    result = floe(
        "secrets", "rotate", SECRET, "--from-literal", "POSTGRES_USER=u2", "--restart-deployments",
        f"--kubeconfig={kube_apiserver.restricted_kubeconfig}", cwd=cluster,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rotation complete." in result.stdout
    after = _state(api, k8s_namespace)
    restarted = {ref for ref in after if after[ref][1].get(RESTARTED_AT)}
    assert restarted == EXPECTED
    assert after[f"secret/{SECRET}"] != before[f"secret/{SECRET}"]
    # the plan's metadata-only GET really returns the annotations (Reloader's match lives there)
    restricted = kube_apiserver.new_client(kube_apiserver.restricted_kubeconfig)
    try:
        annotations = secret_annotations(restricted, SECRET, k8s_namespace)
    finally:
        restricted.close()
    assert set(annotations[KEYS_ANNOTATION].split(",")) == {
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD",
        "POSTGRES_USER",
    }


def test_restart_deployments_is_refused_where_no_kubernetes_secret_holds_the_value(
    tmp_path: Path,
) -> None:
    result = floe(
        "secrets", "rotate", SECRET, "--from-literal", "A=b", "--restart-deployments",
        "--backend", "local", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "restarts the workloads that read a rotated Kubernetes Secret" in result.stderr
    assert "the local store is files on this machine" in result.stderr
