"""deploy/: the Helm values describe the very instance the kustomize deployment runs, and the RBAC
in it is what `floe secrets rbac` renders.

The Dagster chart cannot be fetched here, so :func:`chart_instance` renders ``dagster.yaml`` from
``deploy/helm/values.yaml`` the way the chart's ``configmap-instance.yaml`` template does (chart
1.13.27: ``helpers/instance/_postgresql.tpl``, ``_run-launcher.tpl`` for ``CustomRunLauncher``,
``_run-coordinator.tpl``, ``_scheduler.tpl``, ``_compute-log-manager.tpl``, then
``additionalInstanceConfig`` appended at the top level), for the value types these values use;
any other type fails the test rather than being guessed. The in-cluster test
(tests/e2e/test_deploy_kustomize.py) runs ``deploy/base/dagster.yaml`` and checks that its
overlay changes only the node's settings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "base"
VALUES = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())


def _postgres_db(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    assert pg["enabled"] is False, "only an external PostgreSQL is rendered here"
    db: dict[str, Any] = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams", {}),
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return db


def chart_instance(values: dict[str, Any]) -> dict[str, Any]:
    """``dagster.yaml`` as the chart renders it from ``values`` (the sections these values set)."""
    assert values["scheduler"]["type"] == "DagsterDaemonScheduler"
    assert values["runLauncher"]["type"] == "CustomRunLauncher"
    assert values["computeLogManager"]["type"] == "NoOpComputeLogManager"
    storage = {"postgres_db": _postgres_db(values)}
    custom = values["runLauncher"]["config"]["customRunLauncher"]
    rendered: dict[str, Any] = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
        "run_launcher": {
            "module": custom["module"],
            "class": custom["class"],
            "config": custom["config"],
        },
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": storage,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": storage,
        },
    }
    daemon = values["dagsterDaemon"]
    coordinator = daemon["runCoordinator"]
    if coordinator["enabled"]:
        assert coordinator["type"] == "QueuedRunCoordinator"
        queued = coordinator["config"]["queuedRunCoordinator"]
        keys = {
            "maxConcurrentRuns": "max_concurrent_runs",
            "tagConcurrencyLimits": "tag_concurrency_limits",
            "dequeueIntervalSeconds": "dequeue_interval_seconds",
        }
        config = {keys[k]: v for k, v in queued.items() if v}
        rendered["run_coordinator"] = {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            **({"config": config} if config else {}),
        }
    rendered["compute_logs"] = {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
    monitoring = daemon["runMonitoring"]
    if monitoring["enabled"]:
        rendered["run_monitoring"] = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            **(
                {"max_resume_run_attempts": monitoring["maxResumeRunAttempts"]}
                if monitoring.get("maxResumeRunAttempts")
                else {}
            ),
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        }
    rendered["telemetry"] = {"enabled": values["telemetry"]["enabled"]}
    for key, value in (values.get("additionalInstanceConfig") or {}).items():
        assert key not in rendered, f"additionalInstanceConfig.{key} repeats a chart section"
        rendered[key] = value
    return rendered


def test_the_helm_values_describe_the_kustomize_instance() -> None:
    kustomize = yaml.safe_load((BASE / "dagster.yaml").read_text())
    assert chart_instance(VALUES) == kustomize


def test_the_custom_launcher_restores_what_the_chart_gives_its_k8s_launcher() -> None:
    config = VALUES["runLauncher"]["config"]["customRunLauncher"]["config"]
    assert config["load_incluster_config"] is True
    assert config["dagster_home"] == {"env": "DAGSTER_HOME"}
    assert config["env_config_maps"] == [{"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"}]
    # the chart's names for a release called `dagster`, as deploy/base creates them
    assert config["instance_config_map"] == "dagster-instance"
    assert config["postgres_password_secret"] == "dagster-postgresql-secret"
    assert {"image_pull_policy", "job_namespace", "service_account_name"} <= set(config)
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    generated = {g["name"] for g in kustomization["configMapGenerator"]}
    assert {"dagster-instance", "dagster-pipeline-env"} <= generated
    pipeline_env = next(
        g for g in kustomization["configMapGenerator"] if g["name"] == "dagster-pipeline-env"
    )
    assert "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP=dagster-pipeline-env" in pipeline_env["literals"]


def test_the_user_deployment_matches_the_kustomize_code_server() -> None:
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    code_server = next(yaml.safe_load_all((BASE / "code-server.yaml").read_text()))
    container = code_server["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:4] == deployment["dagsterApiGrpcArgs"]
    assert container["volumeMounts"][1] == deployment["volumeMounts"][0] | {"readOnly": True}
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}
    for part in ("dagsterWebserver", "dagsterDaemon"):
        assert VALUES[part]["image"]["repository"] == "floe/user-code"
        assert VALUES[part]["volumeMounts"][0]["mountPath"] == "/opt/floe/manifest"


def test_the_rbac_is_what_floe_secrets_rbac_renders() -> None:
    rendered = subprocess.run(
        [
            str(Path(sys.executable).parent / "floe"),
            "secrets",
            "rbac",
            "--manifest",
            str(BASE / "floe-manifest" / "manifest.yaml"),
            "--component",
            "job-runner",
            "--component",
            "sensor",
            "--component",
            "launcher",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    committed = (BASE / "rbac" / "rbac.yaml").read_text()
    # the header comment names the manifest path as given on the command line
    assert list(yaml.safe_load_all(rendered)) == list(yaml.safe_load_all(committed))
