"""Rotation end to end on Kubernetes: a rotated Secret → the sensor → our launcher → a Job → a run
that reads the new value.

Real apiserver and node, real Dagster instance (SQLite in a temp DAGSTER_HOME) configured with
``FloeK8sRunLauncher`` and the default run coordinator, the sensor ticked by the daemon's own
iteration in a real code server running as a pod from the project's image, and each Job's pod
started by the real kubelet with the environment its ``envFrom`` resolves to. The assets
write only the SHA-256 of the token they saw, so the test can tell old from new without the value
being written anywhere.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import GrpcServerTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._time import get_current_datetime
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.sensors import ROTATED_SECRET_TAG
from tests.e2e.demo_location import files_containing, text_hits
from tests.e2e.node_harness import (
    CodeServer,
    code_servers,
    container_logs,
    instance_yaml,
    node_run_launcher_config,
)
from tests.e2e.rotation_location.definitions import (
    KUBECONFIG_VAR,
    NAMESPACE_VAR,
    ROTATING,
    STEADY,
)
from tests.servers.image import ensure_user_code_image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the node starts within this

REPO = Path(__file__).resolve().parents[2]
LOCATION = "rotation_e2e"
FINGERPRINT_ENV = "FLOE_E2E_ROTATION_FINGERPRINT_KEY"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Env:
    namespace: str
    home: Path
    digests: Path
    plugin: K8sSecretsPlugin
    instance: DagsterInstance
    workspace: Any  # WorkspaceProcessContext
    core: k8s.CoreV1Api
    batch: k8s.BatchV1Api


def _dagster_yaml(launcher: dict[str, Any]) -> str:
    # reap the code server on exit, not when its Popen is collected during a later test
    return instance_yaml(launcher, code_servers={"wait_for_local_processes_on_shutdown": True})


@pytest.fixture
def env(
    kube_apiserver: Any,
    kube_node: Any,
    k8s_namespace: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Env]:
    image = ensure_user_code_image(kube_node.socket)
    api = kube_apiserver.api_client()
    core = k8s.CoreV1Api(api)
    core.create_namespaced_service_account(k8s_namespace, {"metadata": {"name": "floe-job-runner"}})
    plugin = K8sSecretsPlugin(api_client=api)
    home, digests = tmp_path / "home", tmp_path / "digests"
    for path in (home, digests):
        path.mkdir()
    # pods see the test's files (DAGSTER_HOME's SQLite storage, the digests) at the same paths
    shared = [tmp_path_factory.getbasetemp(), REPO]
    launcher = node_run_launcher_config(
        image,
        kube_apiserver,
        k8s_namespace,
        home,
        shared,
        env_vars=[f"FLOE_E2E_DIGEST_DIR={digests}"],
        dbt_profiles_config_map=None,
        # explicit: the pod's K8sSecretsResource reads with this account's token
        service_account_name="floe-job-runner",
        required_keys={ROTATING[0]: [ROTATING[1]], STEADY[0]: [STEADY[1]]},
        fingerprint_key_env=FINGERPRINT_ENV,
    )
    (home / "dagster.yaml").write_text(_dagster_yaml(launcher))
    monkeypatch.setenv(FINGERPRINT_ENV, secrets.token_hex(32))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # the code server (which runs the sensor) reads the Secrets' versions with this kubeconfig
    server = CodeServer(
        core,
        k8s_namespace,
        image,
        LOCATION,
        "tests.e2e.rotation_location.definitions",
        str(REPO),
        shared,
        env={
            KUBECONFIG_VAR: str(kube_apiserver.admin_kubeconfig),
            NAMESPACE_VAR: k8s_namespace,
        },
    )
    with code_servers([server]):
        target = GrpcServerTarget(
            host="127.0.0.1", port=server.port, socket=None, location_name=LOCATION
        )
        with (
            DagsterInstance.from_config(str(home)) as instance,
            create_test_daemon_workspace_context(target, instance) as workspace,
        ):
            entry = workspace.create_request_context().get_code_location_entries()[LOCATION]
            assert entry.code_location, entry.load_error
            yield Env(
                k8s_namespace, home, digests, plugin, instance, workspace, core, k8s.BatchV1Api(api)
            )


class _Ticks:
    """The sensor daemon's iteration, once per call, on a clock moved past the interval."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.now = get_current_datetime()
        repo = (
            env.workspace.create_request_context()
            .get_code_location(LOCATION)
            .get_repository("__repository__")
        )
        self.sensor = repo.get_sensor("floe_secret_rotation")

    def __call__(self) -> TickStatus:
        self.now += timedelta(minutes=5)
        with freeze_time(self.now):
            list(execute_sensor_iteration(self.env.workspace, logging.getLogger("e2e"), None, None))
        ticks = self.env.instance.get_ticks(
            self.sensor.get_remote_origin_id(), self.sensor.selector_id
        )
        return ticks[0].status


def _finished(env: Env, run_id: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = env.instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish")


def _run_used(env: Env, run_id: str) -> dict[str, str]:
    """Variable → SHA-256 of the value the run's assets read."""
    return {p.suffix[1:]: p.read_text() for p in env.digests.glob(f"{run_id}.*")}


def test_rotated_k8s_secret_reruns_exactly_its_asset_through_the_launcher(env: Env) -> None:
    first, second, third = (f"canary{secrets.token_urlsafe(24)}" for _ in range(3))
    steady = f"canary{secrets.token_urlsafe(24)}"
    env.plugin.create_secret(ROTATING[0], env.namespace, {ROTATING[1]: first})
    env.plugin.create_secret(STEADY[0], env.namespace, {STEADY[1]: steady})
    tick = _Ticks(env)

    assert tick() == TickStatus.SKIPPED  # the baseline
    assert env.instance.get_runs() == []

    env.plugin.update_secret(ROTATING[0], env.namespace, {ROTATING[1]: second})
    assert tick() == TickStatus.SUCCESS
    (run,) = env.instance.get_runs()
    assert set(run.asset_selection or ()) == {AssetKey("rotating_report")}
    assert run.tags[ROTATED_SECRET_TAG] == ROTATING[0]
    done = _finished(env, run.run_id)
    assert done.status == DagsterRunStatus.SUCCESS, container_logs(env.core, env.namespace)[-4000:]
    job = env.batch.read_namespaced_job(get_job_name_from_run_id(run.run_id), env.namespace)
    env_from = [e.secret_ref.name for e in job.spec.template.spec.containers[0].env_from or ()]
    assert env_from == [ROTATING[0]]  # the launcher gave the run its one secret
    assert _run_used(env, run.run_id) == {ROTATING[1]: _sha(second)}

    assert tick() == TickStatus.SKIPPED  # nothing changed: no second run
    assert len(env.instance.get_runs()) == 1

    env.plugin.update_secret(ROTATING[0], env.namespace, {ROTATING[1]: third})
    assert tick() == TickStatus.SUCCESS
    runs = env.instance.get_runs()
    assert len(runs) == 2
    again = runs[0]
    assert again.run_id != run.run_id
    assert again.tags["dagster/run_key"] != run.tags["dagster/run_key"]
    assert _finished(env, again.run_id).status == DagsterRunStatus.SUCCESS
    assert _run_used(env, again.run_id) == {ROTATING[1]: _sha(third)}

    stored = [env.home, env.digests]
    for value in (first, second, third, steady):
        assert files_containing(value, stored) == []
        assert text_hits(value, str([r.tags for r in env.instance.get_runs()])) == []
