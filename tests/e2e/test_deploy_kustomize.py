"""``deploy/`` applied to the suite's real node: the whole loop runs in-cluster.

``kubectl apply -k`` of the suite's overlay (``tests/e2e/deploy_overlay.py``: namespace,
loopback PostgreSQL, the image ``ensure_user_code_image`` imported, host network, the projected
ServiceAccount token) over ``deploy/base`` starts the Dagster daemon, the webserver and the demo
code server as Deployments, all from the project's image. Then, with no kubeconfig anywhere in a
pod:

- the webserver answers GraphQL (the code location loaded, the schedule and sensor started
  through it);
- the daemon's schedule tick queues a run, the daemon launches it through
  ``FloeK8sRunLauncher`` with its in-cluster credentials, the run's Job pod gets exactly its one
  secret (``envFrom`` with dbt's prefix), and dbt materializes every asset; the time from the
  tick to the last materialization is printed;
- ``floe secrets rotate`` changes the key, and the rotation sensor, ticked by the daemon in the
  code server, re-materializes the secret's dependents through the same launcher.

The suite's node has no deployment controllers: this module runs a kube-controller-manager with
the deployment and ReplicaSet controllers for its own lifetime.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher.pod_env import SECRET_REFS_TAG
from floe_dagster_secrets.sensors import ROTATED_SECRET_TAG
from tests.e2e.demo_location import ASSETS, KEY, SECRET, text_hits
from tests.e2e.deploy_overlay import (
    BASE,
    INSTANCE_CHANGES,
    Suite,
    changed_paths,
    instance,
    write_overlay,
)
from tests.e2e.node_harness import container_logs, wait_finished
from tests.servers import binaries
from tests.servers._process import ManagedProcess, clean_env, free_port
from tests.servers.image import ensure_user_code_image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

LOCATION = "floe_demo"
REPOSITORY = "__repository__"
SCHEDULE = "floe_demo_daily"
SENSOR = "floe_secret_rotation"
FLOE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "floe"


@dataclass
class Deployed:
    namespace: str
    suite: Suite
    overlay: Path
    instance: DagsterInstance
    core: k8s.CoreV1Api
    batch: k8s.BatchV1Api
    kubeconfig: Path
    key: str

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to the webserver pod's /graphql; the ``data`` (errors fail the test)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.suite.webserver_port}/graphql",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            answer = json.loads(response.read())
        assert not answer.get("errors"), answer["errors"]
        return dict(answer["data"])

    def why(self) -> str:
        """The pods' logs (tail), for a failure message."""
        return container_logs(self.core, self.namespace)[-8000:]


def _deployment_controllers(workdir: Path, kube: Any) -> ManagedProcess:
    """kube-controller-manager with only the deployment and ReplicaSet controllers."""
    kubeconfig = str(kube.admin_kubeconfig)
    process = ManagedProcess(
        "kube-controller-manager (deployments)",
        [
            str(binaries.kube_binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--controllers=deployment-controller,replicaset-controller",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--v=1",
        ],
        log_file=workdir / "deployment-controllers.log",
        env=clean_env(),
        cwd=workdir,
    )
    process.start()
    return process


def _create_database(pg: Any) -> str:
    name = f"dagster_deploy_{secrets.token_hex(4)}"
    conn = psycopg2.connect(pg.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def _wait(what: str, check: Any, timeout: float, why: Any) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            found = check()
            if found:
                return found
        time.sleep(2)
    raise AssertionError(f"{what} not within {timeout:.0f} s:\n{why()}")


def _pods_running(core: k8s.CoreV1Api, namespace: str) -> bool:
    pods = core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/part-of=floe-dagster"
    )
    running = {
        (
            p.metadata.labels.get("app.kubernetes.io/name"),
            p.metadata.labels.get("app.kubernetes.io/component"),
        )
        for p in pods.items
        if p.status.phase == "Running"
    }
    return running >= {
        ("dagster", "daemon"),
        ("dagster", "webserver"),
        ("floe-demo-code", "user-deployment"),
    }


@pytest.fixture(scope="module")
def deployed(
    kube_apiserver: Any,
    kube_node: Any,
    postgres_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    image = ensure_user_code_image(kube_node.socket)
    tmp = tmp_path_factory.mktemp("deploy")
    namespace = kube_apiserver.create_namespace("floe-deploy")
    api = kube_apiserver.api_client()
    core, batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    key = f"canary{secrets.token_urlsafe(24)}"
    K8sSecretsPlugin(api_client=api).create_secret(SECRET, namespace, {KEY: key})
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "dagster-postgresql-secret"},
            "stringData": {"postgresql-password": postgres_server.password},
        },
    )
    suite = Suite(
        namespace=namespace,
        image=image,
        apiserver_port=kube_apiserver.port,
        pg_host=postgres_server.host,
        pg_port=postgres_server.port,
        pg_user=postgres_server.user,
        pg_db=_create_database(postgres_server),
        webserver_port=free_port(),
        code_port=free_port(),
    )
    overlay = write_overlay(tmp / "overlay", suite)

    # The test reads runs and events straight from the deployment's PostgreSQL.
    home = tmp / "reader_home"
    home.mkdir()
    storage = {k: v for k, v in instance(suite).items() if k.endswith("_storage")}
    (home / "dagster.yaml").write_text(yaml.safe_dump({**storage, "telemetry": {"enabled": False}}))
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_PG_PASSWORD", postgres_server.password)

    controllers = _deployment_controllers(tmp, kube_apiserver)
    applied = kube_apiserver.run_kubectl("apply", "-k", str(overlay), check=False)
    try:
        assert applied.returncode == 0, applied.stderr
        reader = DagsterInstance.from_config(str(home))
        env = Deployed(
            namespace, suite, overlay, reader, core, batch, kube_apiserver.admin_kubeconfig, key
        )
        _wait("the three pods Running", lambda: _pods_running(core, namespace), 600, env.why)
        yield env
        reader.dispose()
    finally:
        kube_apiserver.run_kubectl("delete", "-k", str(overlay), "--wait=false", check=False)
        controllers.stop()
        for pod in core.list_namespaced_pod(namespace).items:
            with contextlib.suppress(ApiException):
                core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
        mp.undo()


def test_the_suite_runs_the_base_instance_but_for_the_nodes_settings(deployed: Deployed) -> None:
    base = yaml.safe_load((BASE / "dagster.yaml").read_text())
    applied = yaml.safe_load(
        deployed.core.read_namespaced_config_map("dagster-instance", deployed.namespace).data[
            "dagster.yaml"
        ]
    )
    allowed = {section for sections in INSTANCE_CHANGES for section in sections}
    assert {path.split(".")[0] for path in changed_paths(base, applied)} <= allowed
    assert applied["run_launcher"]["config"]["load_incluster_config"] is True
    assert "kubeconfig_file" not in applied["run_launcher"]["config"]


def test_webserver_answers_graphql_with_the_code_location_loaded(deployed: Deployed) -> None:
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } } } }"""

    reload = """mutation { reloadRepositoryLocation(repositoryLocationName: "floe_demo") {
        __typename } }"""

    def loaded() -> Any:
        entries = deployed.graphql(query)["workspaceOrError"]["locationEntries"]
        if not entries or entries[0]["loadStatus"] != "LOADED":
            return None
        if entries[0]["locationOrLoadError"]["__typename"] == "PythonError":
            # the webserver came up before the code server: reload, as the UI's button does
            # (the daemon refreshes its workspace by itself)
            deployed.graphql(reload)
            return None
        return entries

    (entry,) = _wait("the code location LOADED", loaded, 600, deployed.why)
    assert entry["name"] == LOCATION
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    # no pod of the deployment holds a kubeconfig: each uses its ServiceAccount
    for pod in deployed.core.list_namespaced_pod(deployed.namespace).items:
        for container in pod.spec.containers:
            names = {e.name for e in container.env or []}
            assert "KUBECONFIG" not in names, pod.metadata.name


def _selector(kind: str, name: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, f"{kind}Name": name}


def _sensor_ticks(deployed: Deployed) -> list[str]:
    query = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
        ... on Sensor { sensorState { ticks(limit: 20) { status } } } } }"""
    data = deployed.graphql(query, {"s": _selector("sensor", SENSOR)})
    return [t["status"] for t in data["sensorOrError"]["sensorState"]["ticks"]]


def _materialized(deployed: Deployed, run_id: str) -> tuple[set[str], float]:
    events = deployed.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    keys = {
        e.asset_materialization.asset_key.to_user_string()
        for e in events
        if e.asset_materialization is not None
    }
    return keys, max((e.timestamp for e in events), default=0.0)


def _env_from(deployed: Deployed, run_id: str) -> list[tuple[str, str | None]]:
    job = deployed.batch.read_namespaced_job(get_job_name_from_run_id(run_id), deployed.namespace)
    container = job.spec.template.spec.containers[0]
    return [(e.secret_ref.name, e.prefix) for e in container.env_from or [] if e.secret_ref]


def test_schedule_tick_runs_the_demo_through_the_launcher_in_cluster(deployed: Deployed) -> None:
    started = deployed.graphql(
        """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
            __typename ... on Sensor { sensorState { status } }
            ... on PythonError { message } } }""",
        {"s": _selector("sensor", SENSOR)},
    )["startSensor"]
    assert started["__typename"] == "Sensor", started
    result = deployed.graphql(
        """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
            __typename ... on ScheduleStateResult { scheduleState { id status } }
            ... on PythonError { message } } }""",
        {"s": _selector("schedule", SCHEDULE)},
    )["startSchedule"]
    assert result["__typename"] == "ScheduleStateResult", result
    state_id = result["scheduleState"]["id"]

    def scheduled() -> Any:
        runs = deployed.instance.get_runs(RunsFilter(tags={"dagster/schedule_name": SCHEDULE}))
        return runs[-1] if runs else None

    run = _wait("a run from the daemon's schedule tick", scheduled, 300, deployed.why)
    # one tick is enough: the schedule (every minute here) is stopped through the webserver
    stopped = deployed.graphql(
        "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }", {"id": state_id}
    )
    assert stopped["stopRunningSchedule"]["__typename"] == "ScheduleStateResult", stopped

    done = wait_finished(deployed.instance, run.run_id, 900, why=deployed.why)
    assert done.status == DagsterRunStatus.SUCCESS, deployed.why()
    # launched by floe's launcher (its tag), the Job pod given exactly the one secret
    assert done.tags[SECRET_REFS_TAG] == SECRET
    assert _env_from(deployed, run.run_id) == [(SECRET, "DBT_ENV_SECRET_")]
    materialized, last = _materialized(deployed, run.run_id)
    assert materialized == ASSETS
    ticks = deployed.graphql(
        """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) {
            ... on Schedule { scheduleState { ticks(limit: 10) { timestamp runIds } } } } }""",
        {"s": _selector("schedule", SCHEDULE)},
    )["scheduleOrError"]["scheduleState"]["ticks"]
    (tick,) = [t["timestamp"] for t in ticks if run.run_id in t["runIds"]]
    print(f"in-cluster loop, schedule tick -> assets materialized: {last - tick:.1f} s")


def test_rotation_sensor_rematerializes_dependents_after_floe_secrets_rotate(
    deployed: Deployed,
) -> None:
    # the sensor's first tick only records the versions it sees
    _wait(
        "the sensor's baseline tick",
        lambda: "SKIPPED" in _sensor_ticks(deployed),
        300,
        deployed.why,
    )
    rotated = subprocess.run(
        [
            str(FLOE),
            "secrets",
            "rotate",
            SECRET,
            "--generate",
            KEY,
            "--manifest",
            str(deployed.overlay / "manifest.yaml"),
            "--backend",
            "k8s",
            "-n",
            deployed.namespace,
            "--kubeconfig",
            str(deployed.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(),
    )
    assert rotated.returncode == 0, rotated.stderr

    def rotation_run() -> Any:
        runs = deployed.instance.get_runs(RunsFilter(tags={ROTATED_SECRET_TAG: SECRET}))
        return runs[0] if runs else None

    began = time.monotonic()
    run = _wait("the rotation sensor's run", rotation_run, 400, deployed.why)
    done = wait_finished(deployed.instance, run.run_id, 900, why=deployed.why)
    assert done.status == DagsterRunStatus.SUCCESS, deployed.why()
    assert _env_from(deployed, run.run_id) == [(SECRET, "DBT_ENV_SECRET_")]
    materialized, _ = _materialized(deployed, run.run_id)
    assert materialized == ASSETS
    print(f"rotate -> re-materialized: {time.monotonic() - began:.1f} s")
    # the first key never reached a log of any pod
    assert text_hits(deployed.key, container_logs(deployed.core, deployed.namespace)) == []
