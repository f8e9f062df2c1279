"""The fault matrix, run launcher: the apiserver failing a launch, secrets changing under a run.

Real apiserver, real Dagster instance (SQLite in a temp dir), real ``FloeK8sRunLauncher``; no pod
is started here (cases that need a pod run on the suite's real node, in ``tests/e2e``). A
destructive case (the apiserver stopped) runs on its own apiserver, never on the session's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, job, op
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.launcher import LaunchRunContext
from dagster._core.test_utils import create_run_for_test, instance_for_test
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from floe_dagster_secrets.backends._retry import DEFAULT_POLICY
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher import FloeK8sRunLauncher
from floe_dagster_secrets.launcher.launch_record import (
    SECRETS_FINGERPRINT_TAG,
    read_launch_record,
)
from tests.integration.fault_helpers import (
    apiserver_proxy,
    canary,
    kubeconfig_via,
    time_bound,
    timed,
)
from tests.servers import KubeApiServer, ServerStartError
from tests.servers.fault_proxy import STALL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SECRET = "warehouse-dev-credentials"
FINGERPRINT_ENV = "FLOE_FAULT_MATRIX_FINGERPRINT_KEY"


@op
def touch() -> None:
    pass


@job
def fault_job() -> None:
    touch()


class QuickJobRequests(FloeK8sRunLauncher):
    """Our launcher with short timeouts and waits on dagster-k8s's requests (10 s / 60 s, 10 s)."""

    job_request_timeout = (1.0, 1.5)
    job_create_retry_wait = 0.2


@contextmanager
def launcher_for(
    kubeconfig: Path,
    namespace: str,
    *,
    cls: type[FloeK8sRunLauncher] = FloeK8sRunLauncher,
    overrides: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Iterator[tuple[FloeK8sRunLauncher, DagsterInstance]]:
    """A fresh instance whose ``dagster.yaml`` run launcher is ours, ``SECRET`` platform-wide.

    ``config`` adds to (or replaces) the launcher's config fields.
    """
    launcher_config = {
        "module": cls.__module__,
        "class": cls.__name__,
        "config": {
            "load_incluster_config": False,
            "kubeconfig_file": str(kubeconfig),
            "job_namespace": namespace,
            "instance_config_map": "dagster-instance",
            "dagster_home": "/opt/dagster/dagster_home",
            "job_image": "fault-matrix:1",
            "platform_secrets": [SECRET],
            "dbt_profiles_config_map": None,
            "fingerprint_key_env": FINGERPRINT_ENV,
            **(config or {}),
        },
    }
    with instance_for_test(overrides={"run_launcher": launcher_config, **(overrides or {})}) as (
        instance
    ):
        launcher = instance.run_launcher
        assert isinstance(launcher, cls)
        yield launcher, instance


def launch(launcher: FloeK8sRunLauncher, instance: DagsterInstance) -> DagsterRun:
    """Create a run of ``fault_job`` and launch it; the run as stored afterwards."""
    origin = ReconstructableJob.for_file(__file__, "fault_job").get_python_origin()
    run = create_run_for_test(instance, job_name="fault_job", job_code_origin=origin)
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    return stored


def failure_text(instance: DagsterInstance, run: DagsterRun) -> str:
    """Every engine event and failure message of the run, joined."""
    records = instance.all_logs(run.run_id)
    return "\n".join(
        str(r.dagster_event.message if r.dagster_event else r.message) for r in records
    )


def ensure_default_service_account(api: k8s.ApiClient, namespace: str) -> None:
    """The namespace's ``default`` account, as kube-controller-manager would have created it."""
    try:
        k8s.CoreV1Api(api).create_namespaced_service_account(
            namespace, {"metadata": {"name": "default"}}
        )
    except ApiException as e:
        if e.status != 409:
            raise


def job_names(api: k8s.ApiClient, namespace: str) -> list[str]:
    return [j.metadata.name for j in k8s.BatchV1Api(api).list_namespaced_job(namespace).items]


@pytest.fixture(autouse=True)
def _fingerprint_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FINGERPRINT_ENV, "fault-matrix-fingerprint-key")


# --- the apiserver stopped under a launch --------------------------------------------------------


@pytest.fixture
def own_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    """An apiserver of this test's own, which the test may stop."""
    server = KubeApiServer(tmp_path_factory.mktemp("own-apiserver"))
    problem: Exception | None = None
    try:
        server.start()
    except ServerStartError as e:
        problem = e
    if problem is not None:
        server.stop()
        pytest.fail(f"kube-apiserver could not start:\n{problem}", pytrace=False)
    yield server
    server.stop()


def test_apiserver_stopped_fails_launches_with_our_error_in_bounded_time(
    own_apiserver: KubeApiServer,
) -> None:
    server = own_apiserver
    namespace = server.create_namespace()
    K8sSecretsPlugin(api_client=server.api_client()).create_secret(
        SECRET, namespace, {"TOKEN": canary()}
    )
    with launcher_for(server.admin_kubeconfig, namespace, cls=QuickJobRequests) as (
        launcher,
        instance,
    ):
        first = launch(launcher, instance)
        assert first.status != DagsterRunStatus.FAILURE
        assert len(job_names(server.api_client(), namespace)) == 1

        server.stop()
        # the pre-flight answer is still the watch cache's (fresh for 30 s): Job creation fails
        second, seconds = timed(lambda: launch(launcher, instance))
        assert isinstance(second, DagsterRun)
        assert second.status == DagsterRunStatus.FAILURE
        text = failure_text(instance, second)
        assert "Could not create the run's Job" in text
        assert f"namespace '{namespace}'" in text
        assert "connection refused" in text
        assert "kubectl get job" in text
        assert seconds < 15

    # a launcher that starts after the outage reads directly: the pre-flight check fails first
    with launcher_for(server.admin_kubeconfig, namespace) as (launcher, instance):
        third, seconds = timed(lambda: launch(launcher, instance))
        assert isinstance(third, DagsterRun)
        assert third.status == DagsterRunStatus.FAILURE
        text = failure_text(instance, third)
        assert "no Job created" in text
        assert "Cannot reach the Kubernetes API" in text
        assert f"secret '{SECRET}'" in text or "secrets" in text
        assert seconds < time_bound(DEFAULT_POLICY, per_attempt=1.0)


def test_hung_job_creation_times_out_with_our_error(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    """dagster-k8s sets no timeout; ours bounds its requests, and the failure is named."""
    K8sSecretsPlugin(api_client=kube_apiserver.api_client()).create_secret(
        SECRET, k8s_namespace, {"TOKEN": canary()}
    )
    proxy = apiserver_proxy(kube_apiserver)
    try:
        kubeconfig = kubeconfig_via(kube_apiserver, proxy.url, tmp_path)
        with launcher_for(kubeconfig, k8s_namespace, cls=QuickJobRequests) as (launcher, inst):
            proxy.fail_next(100, STALL, path="/jobs", method="POST")
            run, seconds = timed(lambda: launch(launcher, inst))
            proxy.clear()
            assert isinstance(run, DagsterRun)
            assert run.status == DagsterRunStatus.FAILURE
            text = failure_text(inst, run)
    finally:
        proxy.stop()
    assert "no answer within the read timeout" in text
    assert "a request that timed out may still have created it" in text
    assert seconds < 15
    assert job_names(kube_apiserver.api_client(), k8s_namespace) == []


# --- secrets changing between the pre-flight check and the pod ----------------------------------


# A secret deleted after the pre-flight check, before the pod starts, is proven on the real node:
# tests/e2e/test_launcher_e2e.py::test_secret_deleted_after_preflight_fails_the_run_naming_it


def test_secret_rotated_between_runs_each_run_records_its_own_version(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """A run is launched with one version; a rotation is seen by the next run, not this one.

    The Job refers to the secret by name only; the kubelet resolves ``envFrom`` once, when the
    container starts, so the process keeps that value for its whole life. The run's tags say
    which version that was.
    """
    api = kube_apiserver.api_client()
    plugin = K8sSecretsPlugin(api_client=api)
    before, after = canary(), canary()
    plugin.create_secret(SECRET, k8s_namespace, {"TOKEN": before})
    with launcher_for(kube_apiserver.admin_kubeconfig, k8s_namespace) as (launcher, instance):
        first = launch(launcher, instance)
        plugin.update_secret(SECRET, k8s_namespace, {"TOKEN": after}, merge=True)
        rotated = plugin.describe_secret(SECRET, k8s_namespace).version
        # the pre-flight answers from a WATCH-fed cache: wait for it to see the rotation (its
        # lag is milliseconds; a launch inside that window records the version it checked)
        reader = launcher._preflight
        assert reader is not None
        deadline = time.monotonic() + 30
        while reader.secrets_metadata(k8s_namespace, {SECRET: []})[SECRET].version != rotated:
            assert time.monotonic() < deadline, "the metadata cache never saw the rotation"
            time.sleep(0.05)
        second = launch(launcher, instance)
        first = instance.get_run_by_id(first.run_id)  # type: ignore[assignment]
        records = [read_launch_record(instance, run.run_id) for run in (first, second)]
    v1, v2 = (record.versions[SECRET] for record in records if record is not None)
    assert int(v2) > int(v1)
    assert first.tags[SECRETS_FINGERPRINT_TAG] != second.tags[SECRETS_FINGERPRINT_TAG]
    for stored in k8s.BatchV1Api(api).list_namespaced_job(k8s_namespace).items:
        spec = json.dumps(api.sanitize_for_serialization(stored))
        assert before not in spec
        assert after not in spec
        refs = [e.secret_ref.name for e in stored.spec.template.spec.containers[0].env_from]
        assert refs == [SECRET]


def test_no_job_left_by_a_failed_launch(kube_apiserver: KubeApiServer, k8s_namespace: str) -> None:
    """A pre-flight failure (secret missing) leaves no Job, and says so."""
    with launcher_for(kube_apiserver.admin_kubeconfig, k8s_namespace) as (launcher, instance):
        run = launch(launcher, instance)
        assert run.status == DagsterRunStatus.FAILURE
        assert "no Job created" in failure_text(instance, run)
    try:
        names = job_names(kube_apiserver.api_client(), k8s_namespace)
    except ApiException:  # pragma: no cover - the namespace exists
        names = ["?"]
    assert names == []


def test_a_secret_floe_did_not_write_with_too_few_keys_is_refused_before_any_job(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """Its key names are not visible without values (the Table gives the count): judged by count.

    One key where two are required: the run fails before any Job, saying so. Two keys, one of
    them misnamed: the count is right, the names cannot be seen, the run is launched.
    """
    value = canary()
    core = k8s.CoreV1Api(kube_apiserver.api_client())
    core.create_namespaced_secret(
        k8s_namespace, {"metadata": {"name": SECRET}, "stringData": {"DB_USER": value}}
    )
    required = {"required_keys": {SECRET: ["DB_USER", "DB_PASSWORD"]}}
    with launcher_for(kube_apiserver.admin_kubeconfig, k8s_namespace, config=required) as (
        launcher,
        instance,
    ):
        refused = launch(launcher, instance)
        text = failure_text(instance, refused)
        assert refused.status == DagsterRunStatus.FAILURE
        assert job_names(kube_apiserver.api_client(), k8s_namespace) == []
        assert (
            f"Secret '{SECRET}' has 1 key, the manifest requires 2 (DB_USER, DB_PASSWORD); key "
            "names of a Secret floe did not write are not visible without reading values; no "
            "Job was created"
        ) in text
        assert f"floe secrets rotate {SECRET} --from-env-file FILE" in text
        assert value not in text

        core.patch_namespaced_secret(SECRET, k8s_namespace, {"stringData": {"DB_PASWORD": value}})
        launched = launch(launcher, instance)
        assert launched.status != DagsterRunStatus.FAILURE
        assert value not in failure_text(instance, launched)
    assert len(job_names(kube_apiserver.api_client(), k8s_namespace)) == 1


def test_keys_envfrom_may_skip_are_warned_on_the_run(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """Keys that are no portable env var name: the run is launched, with a named warning."""
    value = canary()
    K8sSecretsPlugin(api_client=kube_apiserver.api_client()).create_secret(
        SECRET, k8s_namespace, {"TOKEN": value, "db.password": value, "1KEY": value}
    )
    with launcher_for(kube_apiserver.admin_kubeconfig, k8s_namespace) as (launcher, instance):
        run = launch(launcher, instance)
        text = failure_text(instance, run)
    assert run.status != DagsterRunStatus.FAILURE
    assert len(job_names(kube_apiserver.api_client(), k8s_namespace)) == 1
    assert f"floe: warning: Secret '{SECRET}' in namespace '{k8s_namespace}'" in text
    assert "key(s) '1KEY', 'db.password' that are not portable" in text
    assert "'TOKEN'" not in text
    assert value not in text
