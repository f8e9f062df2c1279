"""The kubelet stand-in on its own, against the real apiserver: env resolution and failures."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.e2e.kubelet_standin import ContainerConfigError, KubeletStandIn, resolve_env

pytestmark = pytest.mark.timeout(120)

DUMP = "import json, os; print(json.dumps(dict(os.environ)))"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _job(name: str, container: dict[str, Any], volumes: list[dict[str, Any]] | None = None) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "runner",
                    "containers": [{"name": "main", "image": "standin:test", **container}],
                    "volumes": volumes or [],
                },
            },
        },
    }


@pytest.fixture
def api(kube_apiserver: Any, k8s_namespace: str) -> tuple[k8s.CoreV1Api, k8s.BatchV1Api, str]:
    client = kube_apiserver.api_client()
    core = k8s.CoreV1Api(client)
    core.create_namespaced_secret(
        k8s_namespace,
        {
            "metadata": {"name": "db-main-credentials"},
            "data": {"PASSWORD": _b64("pw-1"), "USER": _b64("alice"), "1ODD": _b64("x")},
        },
    )
    core.create_namespaced_secret(
        k8s_namespace,
        {"metadata": {"name": "api-extra-secret"}, "data": {"USER": _b64("bob")}},
    )
    core.create_namespaced_config_map(
        k8s_namespace,
        {"metadata": {"name": "settings"}, "data": {"MODE": "test", "profiles.yml": "a: 1\n"}},
    )
    return core, k8s.BatchV1Api(client), k8s_namespace


def _standin(kube_apiserver: Any, namespace: str, tmp_path: Path) -> KubeletStandIn:
    base = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return KubeletStandIn(
        kube_apiserver.api_client(), namespace, tmp_path, base_env=base, timeout=60
    )


def test_env_from_prefix_order_env_override_field_refs_and_volumes(
    kube_apiserver: Any, api: tuple[k8s.CoreV1Api, k8s.BatchV1Api, str], tmp_path: Path
) -> None:
    core, batch, ns = api
    container = {
        "command": ["python", "-c", DUMP],
        "envFrom": [
            {"secretRef": {"name": "db-main-credentials"}, "prefix": "DB_"},
            {"secretRef": {"name": "db-main-credentials"}},
            {"secretRef": {"name": "api-extra-secret"}},  # later source wins: USER=bob
            {"secretRef": {"name": "absent-optional-secret", "optional": True}},
            {"configMapRef": {"name": "settings"}},
        ],
        "env": [
            {"name": "MODE", "value": "override"},  # env wins over envFrom
            {"name": "GREETING", "value": "hi $(USER)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "ONE_KEY",
                "valueFrom": {"secretKeyRef": {"name": "db-main-credentials", "key": "PASSWORD"}},
            },
            {"name": "PROFILES", "value": "/mnt/profiles"},
        ],
        "volumeMounts": [{"name": "profiles", "mountPath": "/mnt/profiles"}],
    }
    volumes = [{"name": "profiles", "configMap": {"name": "settings"}}]
    batch.create_namespaced_job(ns, _job("env-ok", container, volumes))

    with _standin(kube_apiserver, ns, tmp_path) as standin:
        outcome = standin.wait_for("env-ok", timeout=60)

    assert outcome.phase == "Succeeded", outcome.stderr
    env = json.loads(outcome.stdout)
    assert env["DB_PASSWORD"] == "pw-1"
    assert env["PASSWORD"] == "pw-1"
    assert env["DB_1ODD"] == "x"
    assert env["1ODD"] == "x"  # 1.35 kubelet: relaxed names, kept
    assert env["USER"] == "bob"
    assert env["MODE"] == "override"
    assert env["GREETING"] == "hi bob"
    assert env["POD"] == "env-ok-standin"
    assert env["ONE_KEY"] == "pw-1"
    assert Path(env["PROFILES"], "profiles.yml").read_text() == "a: 1\n"
    assert "HOME" not in env or env["HOME"] != os.environ.get("HOME")  # host env not leaked
    job = batch.read_namespaced_job("env-ok", ns)
    assert job.status.succeeded == 1
    pod = core.read_namespaced_pod("env-ok-standin", ns)
    assert pod.spec.service_account_name == "runner"


def test_missing_secret_fails_like_create_container_config_error(
    kube_apiserver: Any, api: tuple[k8s.CoreV1Api, k8s.BatchV1Api, str], tmp_path: Path
) -> None:
    core, batch, ns = api
    marker = tmp_path / "ran"
    container = {
        "command": ["python", "-c", f"open({str(marker)!r}, 'w').write('x')"],
        "envFrom": [{"secretRef": {"name": "not-there-secret"}}],
    }
    batch.create_namespaced_job(ns, _job("env-missing", container))

    with _standin(kube_apiserver, ns, tmp_path / "w") as standin:
        outcome = standin.wait_for("env-missing", timeout=60)

    assert outcome.phase == "Failed"
    assert outcome.reason == "CreateContainerConfigError"
    assert outcome.message == 'secret "not-there-secret" not found'
    assert not marker.exists()
    job = batch.read_namespaced_job("env-missing", ns)
    assert job.status.failed == 1
    assert any(c.type == "Failed" for c in job.status.conditions)
    events = core.list_namespaced_event(ns).items
    assert any(
        e.reason == "Failed"
        and "not-there-secret" in e.message
        and e.involved_object.name == "env-missing-standin"
        for e in events
    )


def test_missing_key_and_optional_key_and_process_failure(
    kube_apiserver: Any, api: tuple[k8s.CoreV1Api, k8s.BatchV1Api, str], tmp_path: Path
) -> None:
    _, batch, ns = api
    missing_key = {
        "command": ["python", "-c", "pass"],
        "env": [
            {
                "name": "X",
                "valueFrom": {"secretKeyRef": {"name": "api-extra-secret", "key": "NOPE"}},
            }
        ],
    }
    optional_key = {
        "command": ["python", "-c", "import os, sys; sys.exit(0 if 'X' not in os.environ else 3)"],
        "env": [
            {
                "name": "X",
                "valueFrom": {
                    "secretKeyRef": {"name": "api-extra-secret", "key": "NOPE", "optional": True}
                },
            }
        ],
    }
    crashing = {"command": ["python", "-c", "import sys; sys.exit(7)"]}
    batch.create_namespaced_job(ns, _job("key-missing", missing_key))
    batch.create_namespaced_job(ns, _job("key-optional", optional_key))
    batch.create_namespaced_job(ns, _job("crash", crashing))

    with _standin(kube_apiserver, ns, tmp_path) as standin:
        missing = standin.wait_for("key-missing", timeout=60)
        optional = standin.wait_for("key-optional", timeout=60)
        crashed = standin.wait_for("crash", timeout=60)

    assert missing.reason == "CreateContainerConfigError"
    assert missing.message == f"couldn't find key NOPE in Secret {ns}/api-extra-secret"
    assert optional.phase == "Succeeded"
    assert crashed.phase == "Failed"
    assert crashed.returncode == 7
    assert batch.read_namespaced_job("crash", ns).status.failed == 1


def test_resolve_env_rules_without_a_server() -> None:
    secrets = {"s-one-secret": {"A": "1", "B=C": "x"}}
    env, skipped = resolve_env(
        {"envFrom": [{"secretRef": {"name": "s-one-secret"}, "prefix": "P_"}]},
        get_secret=secrets.get,
        get_config_map=lambda name: None,
        fields={},
    )
    assert env == {"P_A": "1"}
    assert skipped == ["P_B=C"]
    with pytest.raises(ContainerConfigError, match='configmap "cm" not found'):
        resolve_env(
            {"envFrom": [{"configMapRef": {"name": "cm"}}]},
            get_secret=secrets.get,
            get_config_map=lambda name: None,
            fields={},
        )
