"""FloeK8sRunLauncher end to end on a real node: real apiserver, kubelet, containerd, Dagster on
PostgreSQL, dbt.

The code locations run as pods from the project's own image (``dagster api grpc``). The
daemon's schedule iteration ticks ``floe_demo_daily``; the run goes through our launcher into a
real Job; the Job controller makes its Pod, the scheduler places it on the node, the kubelet
resolves its ``envFrom`` from the real Secret and containerd starts ``dagster api execute_run``
in the image; dbt reads the key through ``env_var()``. A second, test-only code location proves
per-run least privilege inside the pods themselves (each asset fails unless it sees exactly its
run's or its step's secrets) and the pre-flight failures (no Job is created). Afterwards the
canaries are searched for in PostgreSQL, compute logs, every object in the namespace, the
containers' logs, the node's kubelet and containerd directories, and the test output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._daemon.monitoring.run_monitoring import monitor_starting_run
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.dbt import render_profiles_configmap
from floe_dagster_secrets.launcher.launch_record import (
    SECRETS_FINGERPRINT_TAG,
    read_launch_record,
    run_fingerprint,
)
from floe_dagster_secrets.launcher.pod_env import SECRET_REFS_TAG, fingerprint
from floe_dagster_secrets.manifest import load_manifest
from tests.e2e.demo_location import ASSETS, KEY, SECRET, copy_location, files_containing, text_hits
from tests.e2e.node_harness import (
    CodeServer,
    container_logs,
    instance_yaml,
    launch,
    node_artifacts,
    node_run_launcher_config,
    node_workspace,
    wait_finished,
    wait_pod_of_job,
    waiting_reason,
)
from tests.servers.image import ensure_user_code_image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
IMAGE_PROJECT = "/opt/floe/project"  # where the Dockerfile puts the demo code location
FINGERPRINT_ENV = "FLOE_E2E_FINGERPRINT_KEY"
START_TIMEOUT = 15
PG_SECRET = "dagster-postgresql-secret"  # the run storage's password, for pods
PROFILES_DIR = "/opt/floe/dbt-profiles"
TWO = "two_secrets"


def _canary() -> str:
    return f"canary{secrets.token_urlsafe(24)}"


@dataclass
class Env:
    namespace: str
    home: Path
    db: str
    dsn: str
    instance: DagsterInstance
    context: Any  # WorkspaceProcessContext
    servers: Any  # the code-server pods
    node: Any  # KubeNode
    batch: k8s.BatchV1Api
    core: k8s.CoreV1Api
    canaries: dict[str, str]
    fingerprint_key: str
    location_root: Path


def _dagster_yaml(pg: Any, db: str, launcher: dict[str, Any]) -> str:
    return instance_yaml(
        launcher,
        # reap the code servers on exit, not when their Popens are collected in a later module
        code_servers={"wait_for_local_processes_on_shutdown": True},
        storage={
            "postgres": {
                "postgres_db": {
                    "username": pg.user,
                    "password": {"env": "DAGSTER_PG_PASSWORD"},  # never a literal: see notes
                    "hostname": pg.host,
                    "db_name": db,
                    "port": pg.port,
                    # SQLAlchemy 2.1 defaults postgresql:// to psycopg 3; psycopg2 is installed
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
        # a run whose pod cannot start is failed START_TIMEOUT s after launch, with floe's
        # diagnosis (the tests call the daemon's monitoring function themselves)
        run_monitoring={"enabled": True, "start_timeout_seconds": START_TIMEOUT},
    )


def _create_database(pg: Any) -> str:
    name = f"dagster_e2e_{secrets.token_hex(4)}"
    conn = psycopg2.connect(pg.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


@pytest.fixture(scope="module")
def env(
    kube_apiserver: Any,
    kube_node: Any,
    postgres_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    image = ensure_user_code_image(kube_node.socket)
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("launcher_e2e")
    namespace = kube_apiserver.create_namespace("floe-launch")
    api = kube_apiserver.api_client()
    core, batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    canaries = {"duckdb": _canary(), "alpha": _canary(), "beta": _canary(), "gamma": _canary()}

    plugin = K8sSecretsPlugin(api_client=api)
    plugin.create_secret(SECRET, namespace, {KEY: canaries["duckdb"]})
    plugin.create_secret("alpha-app-credentials", namespace, {"ALPHA_TOKEN": canaries["alpha"]})
    plugin.create_secret("beta-app-credentials", namespace, {"BETA_TOKEN": canaries["beta"]})
    plugin.create_secret("gamma-app-credentials", namespace, {"OTHER": canaries["gamma"]})
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "dagster-postgresql-secret"},
            "stringData": {"postgresql-password": postgres_server.password},
        },
    )
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "floe-job-runner"}})
    # the run pod of step_scoped_job creates its step Jobs with the pod's own token
    k8s.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "floe-job-runner-edit"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "floe-job-runner", "namespace": namespace}
            ],
        },
    )

    location = copy_location(tmp)
    manifest_path = location.definitions / "manifest.yaml"
    manifest = load_manifest(manifest_path)
    settings = {**manifest.plugins.compute.config, "path": str(location.warehouse)}
    core.create_namespaced_config_map(
        namespace,
        render_profiles_configmap(
            manifest.plugins.compute.type,
            settings,
            target=manifest.environment,
            namespace=namespace,
        ),
    )

    db = _create_database(postgres_server)
    home = location.home
    # pods see the test's files (DAGSTER_HOME, the manifest, the kubeconfig) at the same paths
    shared = [tmp_path_factory.getbasetemp(), REPO]
    launcher = node_run_launcher_config(
        image,
        kube_apiserver,
        namespace,
        home,
        shared,
        env_vars=["DBT_SEND_ANONYMOUS_USAGE_STATS=false"],
        postgres_password_secret="dagster-postgresql-secret",
        manifest_path=str(manifest_path),
        # explicit, as a dagster-k8s user sets it: floe adds no account to a k8s-backed run
        # (the run pod creates step Jobs with this account's token)
        service_account_name="floe-job-runner",
        required_keys={"gamma-app-credentials": ["GAMMA_TOKEN"]},
        dbt_profiles_dir=PROFILES_DIR,
        fingerprint_key_env=FINGERPRINT_ENV,
    )
    (home / "dagster.yaml").write_text(_dagster_yaml(postgres_server, db, launcher))
    fingerprint_key = secrets.token_hex(32)
    mp.setenv("DAGSTER_PG_PASSWORD", postgres_server.password)
    mp.setenv(FINGERPRINT_ENV, fingerprint_key)
    mp.setenv("DAGSTER_HOME", str(home))
    mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

    servers = [
        CodeServer(
            core,
            namespace,
            image,
            "floe_demo",
            "definitions.definitions",
            IMAGE_PROJECT,
            secret_env={
                "DAGSTER_PG_PASSWORD": ("dagster-postgresql-secret", "postgresql-password")
            },
        ),
        CodeServer(
            core, namespace, image, TWO, "tests.e2e.two_secrets.definitions", str(REPO), [REPO]
        ),
    ]
    with node_workspace(home, servers) as (instance, context):
        yield Env(
            namespace=namespace,
            home=home,
            db=db,
            dsn=postgres_server.dsn(db),
            instance=instance,
            context=context,
            servers=servers,
            node=kube_node,
            batch=batch,
            core=core,
            canaries=canaries,
            fingerprint_key=fingerprint_key,
            location_root=location.root,
        )
    mp.undo()


def _wait_finished(instance: DagsterInstance, run_id: str, timeout: float = 600) -> Any:
    return wait_finished(instance, run_id, timeout)


def _container(env: Env, run_id: str) -> Any:
    job = env.batch.read_namespaced_job(get_job_name_from_run_id(run_id), env.namespace)
    return job, job.spec.template.spec.containers[0]


def _env_from(container: Any) -> list[tuple[str, str | None]]:
    return [(e.secret_ref.name, e.prefix) for e in container.env_from or [] if e.secret_ref]


def _launch_assets(
    env: Env, keys: list[str] | None, tags: dict[str, str] | None = None, job: str = "__ASSET_JOB"
) -> str:
    return launch(env.context, TWO, job=job, assets=keys, tags=tags)


def _job_exists(env: Env, run_id: str) -> bool:
    try:
        env.batch.read_namespaced_job(get_job_name_from_run_id(run_id), env.namespace)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def _engine(env: Env, run_id: str) -> str:
    events = "\n".join(str(e.message) for e in env.instance.all_logs(run_id))
    return f"\nevents:\n{events}\npods:\n{container_logs(env.core, env.namespace)[-6000:]}"


def _failure_message(env: Env, run_id: str) -> str:
    events = env.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    return "\n".join(e.message or "" for e in events)


def test_schedule_tick_runs_demo_through_launcher_job_and_real_pod(env: Env) -> None:
    started = time.monotonic()
    request = env.context.create_request_context()
    repo = request.get_code_location("floe_demo").get_repository("__repository__")
    schedule = repo.get_schedule("floe_demo_daily")
    env.instance.start_schedule(schedule)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    tick_time = tomorrow.replace(hour=6, minute=0, second=0, microsecond=0)
    list(
        launch_scheduled_runs(
            env.context,
            __import__("logging").getLogger("floe.e2e"),
            end_datetime_utc=tick_time + timedelta(seconds=5),
            iteration_times={},
        )
    )
    runs = env.instance.get_runs()
    assert len(runs) == 1, [r.status for r in runs]
    run_id = runs[0].run_id

    run = _wait_finished(env.instance, run_id, timeout=600)
    assert run.status == DagsterRunStatus.SUCCESS, _failure_message(env, run_id) + _engine(
        env, run_id
    )
    assert run.tags.get("dagster/schedule_name") == "floe_demo_daily"
    # it ran in a real pod on the node, and the container exited 0
    pod = wait_pod_of_job(env.core, env.namespace, get_job_name_from_run_id(run_id))
    assert pod.spec.node_name == env.node.name
    deadline = time.monotonic() + 120  # the run reports success, then the process exits
    while True:
        (status,) = env.core.read_namespaced_pod(
            pod.metadata.name, env.namespace
        ).status.container_statuses
        if status.state.terminated is not None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status.state.terminated is not None
    assert status.state.terminated.exit_code == 0

    job, container = _container(env, run_id)
    assert _env_from(container) == [(SECRET, "DBT_ENV_SECRET_")]
    pod = job.spec.template.spec
    assert pod.service_account_name == "floe-job-runner"
    assert {v.name: v.config_map.name for v in pod.volumes if v.config_map} == {
        "floe-dbt-profiles": "dbt-profiles"
    }
    host_paths = {v.host_path.path for v in pod.volumes if v.host_path}  # the tests' mounts
    assert {m.mount_path for m in container.volume_mounts} == {PROFILES_DIR, *host_paths}
    plain_env = {e.name: e.value for e in container.env if e.value is not None}
    assert plain_env["DBT_PROFILES_DIR"] == PROFILES_DIR
    # dbt opened the encrypted warehouse: the kubelet put the key into the container's
    # environment under dbt's secret prefix (a wrong or missing key fails the run)

    materialized = {
        e.asset_materialization.asset_key.to_user_string()
        for e in env.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        if e.asset_materialization
    }
    assert materialized == ASSETS
    assert run.tags[SECRET_REFS_TAG] == SECRET
    version = (
        K8sSecretsPlugin(api_client=env.batch.api_client)
        .describe_secret(SECRET, env.namespace)
        .version
    )
    record = read_launch_record(env.instance, run_id)  # the launch event's per-secret record
    assert record is not None
    assert record.versions == {SECRET: version}
    key = env.fingerprint_key.encode()
    expected = fingerprint(key, namespace=env.namespace, name=SECRET, version=version)
    assert record.fingerprints == {SECRET: expected}
    whole = run_fingerprint(key, namespace=env.namespace, versions={SECRET: version})
    assert run.tags[SECRETS_FINGERPRINT_TAG] == whole
    print(f"e2e schedule run wall time: {time.monotonic() - started:.1f} s")


def test_run_for_one_asset_gets_only_that_assets_secret(env: Env) -> None:
    run_id = _launch_assets(env, ["alpha"])

    run = _wait_finished(env.instance, run_id)
    _, container = _container(env, run_id)
    assert _env_from(container) == [("alpha-app-credentials", None)]
    # inside the pod, the asset fails unless it sees ALPHA_TOKEN and no other token
    assert run.status == DagsterRunStatus.SUCCESS, _engine(env, run_id)
    assert run.tags[SECRET_REFS_TAG] == "alpha-app-credentials"

    both = _launch_assets(env, ["beta", "alpha"])
    _, container = _container(env, both)
    assert _env_from(container) == [("alpha-app-credentials", None), ("beta-app-credentials", None)]
    # each asset checks it sees exactly the tokens of the run's selection
    assert _wait_finished(env.instance, both).status == DagsterRunStatus.SUCCESS, _engine(env, both)


def test_step_pods_of_floe_executor_get_only_their_steps_secret(env: Env) -> None:
    run_id = _launch_assets(env, None, job="step_scoped_job")

    run = _wait_finished(env.instance, run_id, timeout=600)
    assert run.status == DagsterRunStatus.SUCCESS, _failure_message(env, run_id) + _engine(
        env, run_id
    )
    _, run_container = _container(env, run_id)
    assert _env_from(run_container) == [
        ("alpha-app-credentials", None),
        ("beta-app-credentials", None),
    ]
    steps = env.batch.list_namespaced_job(
        env.namespace, label_selector="app.kubernetes.io/component=step_worker"
    ).items
    by_op = {
        j.metadata.labels["dagster/op"]: _env_from(j.spec.template.spec.containers[0])
        for j in steps
        if j.metadata.labels.get("dagster/run-id") == run_id
    }
    assert by_op == {
        "alpha": [("alpha-app-credentials", None)],
        "beta": [("beta-app-credentials", None)],
    }
    # and inside each step pod the asset saw only its own token (else the step, so the run,
    # would have failed): checked by two_secrets/definitions.py::_check


def test_missing_secret_fails_the_run_before_any_job(env: Env) -> None:
    run_id = _launch_assets(env, ["delta"])

    run = _wait_finished(env.instance, run_id, timeout=60)
    assert run.status == DagsterRunStatus.FAILURE
    assert not _job_exists(env, run_id)
    message = _failure_message(env, run_id)
    assert "Secret 'delta-app-credentials'" in message
    assert f"namespace '{env.namespace}'" in message
    assert f"floe secrets create delta-app-credentials --namespace {env.namespace}" in message


def test_missing_key_fails_the_run_before_any_job(env: Env) -> None:
    run_id = _launch_assets(env, ["gamma"])

    run = _wait_finished(env.instance, run_id, timeout=60)
    assert run.status == DagsterRunStatus.FAILURE
    assert not _job_exists(env, run_id)
    message = _failure_message(env, run_id)
    assert "lacks key(s) GAMMA_TOKEN" in message
    assert "secret 'gamma-app-credentials'" in message
    assert "(it has: OTHER)" in message


def _cordon(env: Env, unschedulable: bool) -> None:
    env.core.patch_node(env.node.name, {"spec": {"unschedulable": unschedulable}})


def test_secret_deleted_after_preflight_fails_the_run_naming_it(env: Env) -> None:
    """Pre-flight passes, then the Secret goes: the real kubelet cannot start the container.

    The node is cordoned while the run is launched, so the pod waits unscheduled until the Secret
    is gone (no race with the kubelet). Run monitoring (the daemon's function) then fails the
    run within ``start_timeout_seconds`` of the launch, naming the secret, and deletes the Job.
    """
    core, name = env.core, "beta-app-credentials"
    original = core.read_namespaced_secret(name, env.namespace)
    _cordon(env, True)
    try:
        run_id = _launch_assets(env, ["beta"])
        launched = time.monotonic()
        core.delete_namespaced_secret(name, env.namespace)
    finally:
        _cordon(env, False)
    job_name = get_job_name_from_run_id(run_id)
    pod = wait_pod_of_job(core, env.namespace, job_name)
    deadline = time.monotonic() + 120
    while waiting_reason(pod) != "CreateContainerConfigError":
        assert time.monotonic() < deadline, _engine(env, run_id)
        time.sleep(0.5)
        pod = core.read_namespaced_pod(pod.metadata.name, env.namespace)
    events = [e.message for e in core.list_namespaced_event(env.namespace).items]
    assert any(f'secret "{name}" not found' in (m or "") for m in events)

    time.sleep(max(0.0, START_TIMEOUT - (time.monotonic() - launched)))
    record = env.instance.get_run_record_by_id(run_id)
    assert record is not None
    monitor_starting_run(env.instance, record, logging.getLogger("floe.e2e"))
    failed = _wait_finished(env.instance, run_id, timeout=10)
    took = time.monotonic() - launched
    assert failed.status == DagsterRunStatus.FAILURE
    message = _failure_message(env, run_id)
    assert f"Secret '{name}'" in message, message
    assert f"floe secrets create {name} --namespace {env.namespace}" in message, message
    assert f"Job {job_name} was deleted" in message, message
    assert not _job_exists(env, run_id)  # the launcher deleted the Job that could never start
    assert took < START_TIMEOUT + 30, took
    print(f"deleted secret: run failed {took:.1f} s after launch (start timeout {START_TIMEOUT} s)")
    core.create_namespaced_secret(
        env.namespace,
        {"metadata": {"name": name}, "type": original.type, "data": original.data},
    )


def test_literal_credential_in_run_tag_is_refused(env: Env) -> None:
    config = {"container_config": {"env": [{"name": "WAREHOUSE_PASSWORD", "value": "x"}]}}
    run_id = _launch_assets(env, ["alpha"], tags={"dagster-k8s/config": json.dumps(config)})

    run = _wait_finished(env.instance, run_id, timeout=60)
    assert run.status == DagsterRunStatus.FAILURE
    assert not _job_exists(env, run_id)
    assert "WAREHOUSE_PASSWORD" in _failure_message(env, run_id)


def _postgres_dump(dsn: str) -> str:
    chunks: list[str] = []
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the catalog
            for row in cur.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        data = bytes(value)
                        with contextlib.suppress(zlib.error):
                            data = zlib.decompress(data)
                        chunks.append(data.decode("utf-8", "replace"))
                    else:
                        chunks.append(str(value))
    conn.close()
    return "\n".join(chunks)


def test_canaries_appear_nowhere(env: Env, capfd: pytest.CaptureFixture[str]) -> None:
    # runs from the tests above are all finished
    assert len(env.instance.get_runs()) >= 5
    dump = _postgres_dump(env.dsn)
    assert "floe/secret-refs" in dump  # the dump did read the run tags
    api = env.batch.api_client
    objects = [
        env.batch.list_namespaced_job(env.namespace),
        env.core.list_namespaced_pod(env.namespace),
        env.core.list_namespaced_config_map(env.namespace),
        env.core.list_namespaced_event(env.namespace),
    ]
    cluster_text = json.dumps([api.sanitize_for_serialization(o) for o in objects])
    assert "dbt-profiles" in cluster_text
    outputs = container_logs(env.core, env.namespace)
    assert "token variables present" in outputs  # the logs of the run pods were read
    compute_logs = [p for p in (env.home / "storage").rglob("*") if p.suffix in (".out", ".err")]
    assert any(p.stat().st_size for p in compute_logs), "no compute log was captured"
    captured = capfd.readouterr()
    for name, value in [*env.canaries.items(), ("fingerprint key", env.fingerprint_key)]:
        assert text_hits(value, dump) == [], f"{name} in PostgreSQL"
        assert text_hits(value, cluster_text) == [], f"{name} in Jobs/Pods/ConfigMaps/Events"
        assert text_hits(value, outputs) == [], f"{name} in pod output"
        assert text_hits(value, captured.out + captured.err) == [], f"{name} in test output"
        assert files_containing(value, [env.home]) == [], f"{name} in DAGSTER_HOME/compute logs"
    # the node: the kubelet's directory, container logs, containerd's state and the containers'
    # writable layers hold no value; containerd's copy of each container's spec is where every
    # Kubernetes env var lives (the kubelet hands the resolved environment to the runtime), and
    # finding the run's canary there proves this scan reads what it claims to
    scanned, runtime_specs = node_artifacts(env.node)
    for name, value in env.canaries.items():
        assert files_containing(value, scanned) == [], f"{name} on the node"
    assert files_containing(env.canaries["alpha"], runtime_specs), "the scan cannot see the node"
