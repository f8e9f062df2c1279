"""What a real kubelet does with the rules the launcher relies on, checked on the suite's node.

Each test creates a real Job or Pod and lets the Job controller, the scheduler, the kubelet,
containerd and runc do the rest: ``envFrom`` with a ``prefix``, a missing Secret, keys that are
not C identifiers, a ConfigMap volume, the projected ServiceAccount token. Values are compared by
their SHA-256 in the container's log, never printed. The last test starts a second, throw-away
node and checks that its teardown leaves no process, mount, cgroup, log link or interface.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from floe_dagster_secrets.env_names import non_portable_warning
from tests.e2e.node_harness import (
    pod_log,
    wait_pod_of_job,
    wait_service_account,
    waiting_reason,
)
from tests.servers.image import ensure_user_code_image
from tests.servers.node import PAUSE_IMAGE, KubeNode

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the first test may start the node

# Prints, for each variable name asked for, whether it is set and the SHA-256 of its value.
PROBE = (
    "import hashlib, json, os, sys; "
    "print(json.dumps({n: hashlib.sha256(os.environ[n].encode()).hexdigest() "
    "if n in os.environ else None for n in sys.argv[1:]}))"
)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module")
def image(kube_node: KubeNode) -> str:
    return ensure_user_code_image(kube_node.socket)


@pytest.fixture
def core(kube_apiserver: Any) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(kube_apiserver.api_client())


@pytest.fixture
def batch(kube_apiserver: Any) -> k8s.BatchV1Api:
    return k8s.BatchV1Api(kube_apiserver.api_client())


@pytest.fixture
def namespace(kube_apiserver: Any, kube_node: KubeNode) -> Iterator[str]:
    name = kube_apiserver.create_namespace("floe-node")
    wait_service_account(k8s.CoreV1Api(kube_apiserver.api_client()), name, "default")
    yield name
    kube_apiserver.delete_namespace(name)


def _job(name: str, image: str, command: list[str], **container: Any) -> dict[str, Any]:
    pod = container.pop("pod", {})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "hostNetwork": True,
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 2,
                    "containers": [
                        {
                            "name": "probe",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": command,
                            **container,
                        }
                    ],
                    **pod,
                }
            },
        },
    }


def _run_to_completion(
    batch: k8s.BatchV1Api, core: k8s.CoreV1Api, namespace: str, job: dict[str, Any]
) -> str:
    """Create the Job, wait for it to succeed, return its pod's log."""
    name = job["metadata"]["name"]
    batch.create_namespaced_job(namespace, job)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = batch.read_namespaced_job_status(name, namespace).status
        if status.succeeded:
            pod = wait_pod_of_job(core, namespace, name)
            return pod_log(core, pod.metadata.name, namespace)
        if status.failed:
            pod = wait_pod_of_job(core, namespace, name)
            log = pod_log(core, pod.metadata.name, namespace)
            raise AssertionError(f"Job {name} failed: {log}")
        time.sleep(0.5)
    raise AssertionError(f"Job {name} did not finish: {_events(core, namespace)}")


def _events(core: k8s.CoreV1Api, namespace: str) -> list[str]:
    return [f"{e.reason}: {e.message}" for e in core.list_namespaced_event(namespace).items]


def _secret(core: k8s.CoreV1Api, namespace: str, name: str, data: dict[str, str]) -> None:
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": name}, "type": "Opaque", "stringData": data}
    )


def test_envfrom_prefix_reaches_the_container(
    image: str, core: k8s.CoreV1Api, batch: k8s.BatchV1Api, namespace: str
) -> None:
    value = f"canary{secrets.token_urlsafe(16)}"
    _secret(core, namespace, "duckdb-creds", {"DUCKDB_ENCRYPTION_KEY": value})
    job = _job(
        "envfrom-prefix",
        image,
        ["python", "-c", PROBE, "DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY", "DUCKDB_ENCRYPTION_KEY"],
        envFrom=[{"secretRef": {"name": "duckdb-creds"}, "prefix": "DBT_ENV_SECRET_"}],
    )
    seen = json.loads(_run_to_completion(batch, core, namespace, job).strip().splitlines()[-1])
    assert seen == {
        "DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY": _sha(value),
        "DUCKDB_ENCRYPTION_KEY": None,
    }


def test_missing_secret_keeps_the_pod_in_create_container_config_error(
    image: str, core: k8s.CoreV1Api, batch: k8s.BatchV1Api, namespace: str
) -> None:
    job = _job(
        "missing-secret",
        image,
        ["python", "-c", "print('started')"],
        envFrom=[{"secretRef": {"name": "does-not-exist"}}],
    )
    batch.create_namespaced_job(namespace, job)
    pod = wait_pod_of_job(core, namespace, "missing-secret")
    deadline = time.monotonic() + 120
    reason = None
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(pod.metadata.name, namespace)
        reason = waiting_reason(pod)
        if reason == "CreateContainerConfigError":
            break
        time.sleep(0.5)
    assert reason == "CreateContainerConfigError", _events(core, namespace)
    assert any('secret "does-not-exist" not found' in e for e in _events(core, namespace))
    assert pod.status.phase == "Pending"


def test_keys_that_are_not_c_identifiers_pass_to_the_process_but_not_through_a_shell(
    image: str, core: k8s.CoreV1Api, batch: k8s.BatchV1Api, namespace: str
) -> None:
    value = f"canary{secrets.token_urlsafe(16)}"
    _secret(core, namespace, "dotted", {"bad.key": value, "GOOD_KEY": value})
    env_from = [{"secretRef": {"name": "dotted"}, "prefix": "DBT_ENV_SECRET_"}]
    names = ["DBT_ENV_SECRET_bad.key", "DBT_ENV_SECRET_GOOD_KEY"]
    direct = _run_to_completion(
        batch,
        core,
        namespace,
        _job("direct", image, ["python", "-c", PROBE, *names], envFrom=env_from),
    )
    shell = _run_to_completion(
        batch,
        core,
        namespace,
        _job(
            "through-shell",
            image,
            ["/bin/sh", "-c", f'exec python -c "$0" {" ".join(names)}', PROBE],
            envFrom=env_from,
        ),
    )
    assert json.loads(direct.strip().splitlines()[-1]) == dict.fromkeys(names, _sha(value))
    assert json.loads(shell.strip().splitlines()[-1]) == {
        "DBT_ENV_SECRET_bad.key": None,
        "DBT_ENV_SECRET_GOOD_KEY": _sha(value),
    }
    # what floe tells users is what this kubelet did
    warning = non_portable_warning("dotted", ["bad.key"])
    assert "passes them" in warning
    assert "shell" in warning


def test_configmap_volume_and_projected_token_are_mounted(
    kube_apiserver: Any, image: str, core: k8s.CoreV1Api, batch: k8s.BatchV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "profiles"}, "data": {"profiles.yml": "floe: {}\n"}}
    )
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "runner"}})
    probe = (
        "import os, pathlib; "
        "print(pathlib.Path('/opt/floe/dbt-profiles/profiles.yml').read_text().strip()); "
        "t = pathlib.Path('/var/run/secrets/kubernetes.io/serviceaccount/token').read_text(); "
        "print(len(t.split('.')))"
    )
    job = _job(
        "mounts",
        image,
        ["python", "-c", probe],
        volumeMounts=[{"name": "profiles", "mountPath": "/opt/floe/dbt-profiles"}],
        pod={
            "serviceAccountName": "runner",
            "volumes": [{"name": "profiles", "configMap": {"name": "profiles"}}],
        },
    )
    log = _run_to_completion(batch, core, namespace, job).strip().splitlines()
    assert log[-2:] == ["floe: {}", "3"]  # the ConfigMap's file, and a JWT of three parts


def test_a_stopped_node_leaves_nothing_behind(
    kube_apiserver: Any, kube_node: KubeNode, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second node, one pod on it, then its teardown: nothing of it may remain."""
    node = KubeNode(tmp_path_factory.mktemp("throwaway_node"), kube_apiserver, "127.0.0.2")
    try:
        node.start()  # imports the sandbox image, whose command sleeps: the pod runs that
        namespace = kube_apiserver.create_namespace("floe-teardown")
        core = k8s.CoreV1Api(kube_apiserver.api_client())
        wait_service_account(core, namespace, "default")
        pod = {
            "metadata": {"name": "sleeper"},
            "spec": {
                "nodeName": node.name,  # on the throw-away node, not the suite's
                "hostNetwork": True,
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "sleep", "image": PAUSE_IMAGE, "imagePullPolicy": "Never"}],
            },
        }
        core.create_namespaced_pod(namespace, pod)
        deadline = time.monotonic() + 120
        while core.read_namespaced_pod("sleeper", namespace).status.phase != "Running":
            assert time.monotonic() < deadline, _events(core, namespace)
            time.sleep(0.5)
        assert node.leftovers().processes, "the running pod should show up before teardown"
    finally:
        node.stop()
    left = node.leftovers()
    assert left.empty(), left
    with pytest.raises(ApiException):
        k8s.CoreV1Api(kube_apiserver.api_client()).read_node(node.name)
    assert node.containerd is not None
    assert not node.containerd.running()
