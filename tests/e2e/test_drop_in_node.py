"""FloeK8sRunLauncher as a drop-in for K8sRunLauncher, proven on the real node.

A dagster-k8s user swaps the class name and configures nothing of floe's (no manifest). Then:
(a) the run's pod gets no dbt-profiles ConfigMap volume and no ``DBT_PROFILES_DIR`` — in this
    namespace there is no such ConfigMap, and a real kubelet would never start a pod that mounts a
    missing one;
(b) a service account the user set in the run's ``dagster-k8s/config`` tag is the one the pod
    runs as — never silently replaced.
Each run still gets exactly its assets' secrets (the asset checks its environment in the pod).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterRunStatus
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from tests.e2e.node_harness import (
    CodeServer,
    container_logs,
    instance_yaml,
    launch,
    node_run_launcher_config,
    node_workspace,
    wait_finished,
    wait_pod_of_job,
    wait_service_account,
)
from tests.servers.image import ensure_user_code_image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
LOCATION = "two_secrets"


@dataclass
class DropIn:
    namespace: str
    instance: Any
    context: Any
    core: k8s.CoreV1Api


@pytest.fixture(scope="module")
def drop_in(
    kube_apiserver: Any, kube_node: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DropIn]:
    image = ensure_user_code_image(kube_node.socket)
    api = kube_apiserver.api_client()
    core = k8s.CoreV1Api(api)
    namespace = kube_apiserver.create_namespace("floe-drop-in")
    wait_service_account(core, namespace, "default")
    for account in ("floe-job-runner", "team-analytics"):
        core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    K8sSecretsPlugin(api_client=api).create_secret(
        "alpha-app-credentials", namespace, {"ALPHA_TOKEN": "not-a-secret-here"}
    )
    home = tmp_path_factory.mktemp("drop_in") / "home"
    home.mkdir()
    # what a K8sRunLauncher user has: no manifest_path, nothing else of floe's
    config = node_run_launcher_config(
        image, kube_apiserver, namespace, home, [tmp_path_factory.getbasetemp(), REPO]
    )
    (home / "dagster.yaml").write_text(instance_yaml(config))
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(home))
    server = CodeServer(
        core, namespace, image, LOCATION, "tests.e2e.two_secrets.definitions", str(REPO), [REPO]
    )
    with node_workspace(home, [server]) as (instance, context):
        yield DropIn(namespace, instance, context, core)
    mp.undo()


def _pod_spec(env: DropIn, run_id: str) -> Any:
    pod = wait_pod_of_job(env.core, env.namespace, get_job_name_from_run_id(run_id))
    return env.core.read_namespaced_pod(pod.metadata.name, env.namespace)


def test_no_manifest_adds_no_profiles_volume_and_the_pod_starts(drop_in: DropIn) -> None:
    names = {
        c.metadata.name for c in drop_in.core.list_namespaced_config_map(drop_in.namespace).items
    }
    assert "dbt-profiles" not in names
    run_id = launch(drop_in.context, LOCATION, assets=["alpha"])
    run = wait_finished(
        drop_in.instance, run_id, why=lambda: container_logs(drop_in.core, drop_in.namespace)
    )
    assert run.status == DagsterRunStatus.SUCCESS, container_logs(drop_in.core, drop_in.namespace)
    pod = _pod_spec(drop_in, run_id)
    volumes = {v.name for v in pod.spec.volumes or []}
    assert not any("profiles" in name for name in volumes), volumes
    container = pod.spec.containers[0]
    assert "DBT_PROFILES_DIR" not in {e.name for e in container.env or []}
    assert [e.secret_ref.name for e in container.env_from or []] == ["alpha-app-credentials"]


def test_a_service_account_set_in_the_run_tag_is_the_one_the_pod_runs_as(drop_in: DropIn) -> None:
    tag = {"pod_spec_config": {"service_account_name": "team-analytics"}}
    run_id = launch(
        drop_in.context, LOCATION, assets=["alpha"], tags={"dagster-k8s/config": json.dumps(tag)}
    )
    run = wait_finished(
        drop_in.instance, run_id, why=lambda: container_logs(drop_in.core, drop_in.namespace)
    )
    assert run.status == DagsterRunStatus.SUCCESS, container_logs(drop_in.core, drop_in.namespace)
    pod = _pod_spec(drop_in, run_id)
    assert pod.spec.service_account_name == "team-analytics"
    # and the kubelet projected that account's token into the pod
    assert any(
        v.projected and any(s.service_account_token for s in v.projected.sources or [])
        for v in pod.spec.volumes or []
    )
