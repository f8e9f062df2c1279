"""ESO through the launcher, on the real node: a run gets the value ESO synced from OpenBao.

``floe``'s ESO backend writes the value into OpenBao and creates the ExternalSecret; the real
controller syncs it into a Kubernetes Secret. A run for the asset that needs it goes through
``FloeK8sRunLauncher`` (manifest ``type: external-secrets``: pre-flight checks the
ExternalSecret is Ready), and its pod — started by the real kubelet from the project's image —
gets the synced Secret through ``envFrom``. Inside the pod the asset fails unless it sees exactly
its own token (``tests/e2e/two_secrets``), and writes nothing of the value.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterRunStatus
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from tests.e2e.demo_location import files_containing
from tests.e2e.node_harness import (
    CodeServer,
    container_logs,
    instance_yaml,
    launch,
    node_run_launcher_config,
    node_workspace,
    wait_finished,
    wait_service_account,
)
from tests.servers import KubeApiServer
from tests.servers.eso import EsoController
from tests.servers.image import ensure_user_code_image

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[3]
LOCATION = "two_secrets"


def _manifest(path: Path, store: dict[str, str]) -> Path:
    config = dict(store)  # the ClusterSecretStore the test applied, as a user's manifest names it
    path.write_text(
        yaml.safe_dump(
            {
                "environment": "dev",
                "plugins": {
                    "secrets": {"type": "external-secrets", "config": config},
                    "compute": {
                        "type": "duckdb",
                        "connection_secret_ref": "duckdb-dev-credentials",
                        "config": {"path": "/tmp/unused.duckdb"},
                    },
                },
            }
        )
    )
    return path


def test_run_pod_gets_the_value_eso_synced_from_openbao(
    eso_controller: EsoController,
    vault_store_env: dict[str, str],
    kube_apiserver: KubeApiServer,
    kube_node: Any,
    k8s_namespace: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = ensure_user_code_image(kube_node.socket)
    api = kube_apiserver.api_client()
    core, batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    wait_service_account(core, k8s_namespace, "default")
    core.create_namespaced_service_account(k8s_namespace, {"metadata": {"name": "floe-job-runner"}})
    canary = f"canary{secrets.token_urlsafe(20)}"
    eso = ESOSecretsPlugin(**vault_store_env, sync_timeout=90)  # type: ignore[arg-type]
    try:
        eso.apply_cluster_secret_store()
        synced = eso.create_secret("alpha-app-credentials", k8s_namespace, {"ALPHA_TOKEN": canary})
    finally:
        eso.close()
    assert synced.sync.ready is True

    manifest = _manifest(tmp_path / "manifest.yaml", vault_store_env)
    home = tmp_path / "home"
    home.mkdir()
    launcher = node_run_launcher_config(
        image,
        kube_apiserver,
        k8s_namespace,
        home,
        [tmp_path_factory.getbasetemp(), REPO],
        manifest_path=str(manifest),
        dbt_profiles_config_map=None,  # no dbt here, so no dbt-profiles ConfigMap
    )
    (home / "dagster.yaml").write_text(instance_yaml(launcher))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    server = CodeServer(
        core, k8s_namespace, image, LOCATION, "tests.e2e.two_secrets.definitions", str(REPO), [REPO]
    )
    with node_workspace(home, [server]) as (instance, context):
        run_id = launch(context, LOCATION, assets=["alpha"])
        run = wait_finished(
            instance, run_id, 400, why=lambda: container_logs(core, k8s_namespace)[-4000:]
        )
        logs = container_logs(core, k8s_namespace)
        # inside the pod, the asset checked ALPHA_TOKEN (and no other token) was set
        assert run.status == DagsterRunStatus.SUCCESS, logs[-4000:]
    job = batch.read_namespaced_job(get_job_name_from_run_id(run_id), k8s_namespace)
    env_from = [e.secret_ref.name for e in job.spec.template.spec.containers[0].env_from or ()]
    assert env_from == ["alpha-app-credentials"]  # the Secret ESO owns and synced
    assert canary not in logs
    assert files_containing(canary, [home]) == []
