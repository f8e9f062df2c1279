"""Pod start on a real node: FloeK8sRunLauncher against K8sRunLauncher with env_secrets.

The time measured is from the call to ``launch_run`` to the run's ``RUN_START`` event, as
stamped by the event itself: ``RUN_START`` is written by ``dagster api execute_run`` inside the
run pod's container (through the pod's own connection to PostgreSQL) once it has loaded the job
and is about to execute its first step, and its timestamp is what Dagster records as the run's
start time. So the figure covers everything a user waits for: the launcher's own work (our
pre-flight check and tags), the Job, the Job controller, the scheduler, the kubelet resolving
each ``envFrom`` Secret, containerd starting the container, and the run worker's start-up in the
image. The first event the container writes, "Started process for run (pid: …)", is printed
too (``to_process``); the ratio is of ``RUN_START``. Both timestamps and the launch time are
wall-clock times of this one machine (the pods share its kernel clock).

Everything is started here, as the suite starts it (``tests/servers``): kube-apiserver + etcd,
a real single node (containerd + runc, kubelet, kube-controller-manager, kube-scheduler),
PostgreSQL for run storage, the user-code image built from the repository's ``Dockerfile`` and
imported into the node's containerd, and a code-server pod (``dagster api grpc`` in that image)
serving ``benchmarks/launch_location.py``. Each run is created as the webserver creates it (plan
from the code server; ``job_s<S>``: five assets with S secrets in their ``floe/secrets``
metadata, in-process executor so the run itself takes a moment), marked STARTING as
``DagsterInstance.launch_run`` does, then handed to ``launch_run``:

- baseline: ``K8sRunLauncher(env_secrets=[the S names])`` — what a dagster-k8s user does today;
- ours: ``FloeK8sRunLauncher`` with no secrets configured: it reads the run's assets and their
  secrets from the workspace, pre-flights them (metadata, a WATCH-fed cache), creates the Job
  with them, and writes its tags (``FLOE_LAUNCHER_FINGERPRINT_KEY`` set).

Same node, image, code location, namespace, service account and pod settings (the tests' run
configuration from ``tests/e2e/node_harness.py``: host network, ``imagePullPolicy: Never``,
hostPath mounts, root). Runs alternate (the first of each pair alternates too), one at a time:
each runs to SUCCESS; its Job is checked — exactly the S secrets mounted, a pod template equal to
the first run's (of either launcher) once the run id is replaced, so the two launchers' pods are
the same pod, and it ran on this node — then deleted, and the next launch waits until its pod is
gone. ``--warmup`` pairs are run and printed first, not counted.

    .venv/bin/python benchmarks/pod_start.py [--runs 5] [--warmup 1] [--secrets 10]

Prints the machine, how long the node, the image and the code server took, each sample, and
last ``pod_start_ratio=<ours/baseline>`` (ratio of the medians of ``to_run_start``).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg2
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.events import DagsterEvent
from dagster._core.launcher import LaunchRunContext
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import GrpcServerTarget
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s

from benchmarks._common import ROOT, median, print_machine, require, spread
from benchmarks.launch_location import SIZES, secret_names
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher import FloeK8sRunLauncher
from floe_dagster_secrets.launcher.config import resolve
from floe_dagster_secrets.launcher.pod_env import SECRET_REFS_TAG
from tests.e2e.node_harness import CodeServer, container_logs, launcher_node_config
from tests.servers import KubeApiServer, PostgresServer
from tests.servers.image import ensure_user_code_image
from tests.servers.node import KubeNode

LOCATION = "pod_start_bench"
ACCOUNT = "bench-job-runner"
PG_SECRET = "dagster-postgresql-secret"  # noqa: S105 - a Secret name
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
STARTED_PROCESS = "Started process for run"
RUN_TIMEOUT = 300.0


@dataclass
class Sample:
    """One run: seconds from the ``launch_run`` call to each point, and its id."""

    run_id: str
    launch: float  # launch_run returned (Job created; ours: tags written)
    process: float  # "Started process for run" (first event from the container)
    run_start: float  # RUN_START (from the container)
    finished: float  # the run finished (SUCCESS seen in run storage)
    cleaned: float  # its Job deleted and its pod gone (the next launch may start)


class Runs:
    """Creates runs of ``job_s<S>`` as the webserver does (plan from the code server)."""

    def __init__(self, instance: DagsterInstance, workspace: Any, size: int) -> None:
        self.instance = instance
        self.workspace = workspace
        request = workspace.create_request_context()
        location = request.get_code_location(LOCATION)
        selector = JobSubsetSelector(
            location_name=LOCATION,
            repository_name="__repository__",
            job_name=f"job_s{size}",
            op_selection=None,
        )
        self.job = location.get_job(selector)
        self.plan = location.get_execution_plan(self.job, IN_PROCESS, None, None, instance=instance)
        self.asset_graph = request.asset_graph

    def create_starting(self) -> Any:
        """A new NOT_STARTED run, then marked STARTING as ``DagsterInstance.launch_run`` does."""
        run = self.instance.create_run(
            job_name=self.job.name,
            run_id=None,
            run_config=IN_PROCESS,
            status=DagsterRunStatus.NOT_STARTED,
            tags=dict(self.job.tags),
            root_run_id=None,
            parent_run_id=None,
            step_keys_to_execute=self.plan.execution_plan_snapshot.step_keys_to_execute,
            execution_plan_snapshot=self.plan.execution_plan_snapshot,
            job_snapshot=self.job.job_snapshot,
            parent_job_snapshot=self.job.parent_job_snapshot,
            asset_selection=None,
            asset_check_selection=None,
            resolved_op_selection=None,
            op_selection=None,
            remote_job_origin=self.job.get_remote_origin(),
            job_code_origin=self.job.get_python_origin(),
            asset_graph=self.asset_graph,
        )
        starting = DagsterEvent(
            event_type_value=DagsterEventType.RUN_STARTING.value, job_name=run.job_name
        )
        self.instance.report_dagster_event(starting, run_id=run.run_id)
        return self.instance.get_run_by_id(run.run_id)


@dataclass
class Bench:
    """What every sample uses."""

    instance: DagsterInstance
    runs: Runs
    core: k8s.CoreV1Api
    batch: k8s.BatchV1Api
    namespace: str
    node_name: str
    names: list[str]
    template: tuple[str, str] | None = None  # (launcher, pod template) of the first run


def _events(instance: DagsterInstance, run_id: str) -> str:
    return "\n".join(f"  {e.dagster_event_type}: {e.message}" for e in instance.all_logs(run_id))


def _wait_finished(instance: DagsterInstance, run_id: str) -> Any:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(0.25)
    raise TimeoutError(f"run {run_id} not finished {RUN_TIMEOUT:.0f} s after launch")


def _first(instance: DagsterInstance, run_id: str, kind: DagsterEventType, prefix: str) -> float:
    """Timestamp of the run's first event of ``kind`` whose message starts with ``prefix``."""
    for entry in instance.all_logs(run_id, of_type=kind):
        if (entry.message or "").startswith(prefix):
            return float(entry.timestamp)
    raise RuntimeError(f"run {run_id} has no {kind.value} event '{prefix}…'")


def _template(batch: k8s.BatchV1Api, job: Any, run_id: str) -> str:
    """The Job's pod template as JSON, with the run id and the Job's uid replaced."""
    text = json.dumps(batch.api_client.sanitize_for_serialization(job.spec.template), indent=1)
    return text.replace(run_id, "<run id>").replace(job.metadata.uid, "<job uid>")


def _check_and_delete_job(bench: Bench, label: str, run_id: str) -> None:
    """The run's Job mounts exactly the run's secrets, its pod template is the first run's
    (either launcher's) but for the run id, and its pod ran on the node; then delete the Job and
    wait for its pod to go.
    """
    job_name = get_job_name_from_run_id(run_id)
    job = bench.batch.read_namespaced_job(job_name, bench.namespace)
    env_from = job.spec.template.spec.containers[0].env_from or []
    mounted = sorted(e.secret_ref.name for e in env_from if e.secret_ref)
    require(mounted == sorted(bench.names), f"{label} Job {job_name} mounts {mounted}")
    template = _template(bench.batch, job, run_id)
    if bench.template is None:
        bench.template = (label, template)
    first_label, first = bench.template
    diff = "\n".join(difflib.unified_diff(first.splitlines(), template.splitlines(), n=1))
    require(first == template, f"{label}'s pod template differs from {first_label}'s:\n{diff}")
    selector = f"job-name={job_name}"
    pods = bench.core.list_namespaced_pod(bench.namespace, label_selector=selector).items
    require(len(pods) == 1, f"{label} Job {job_name} has {len(pods)} pods")
    require(pods[0].spec.node_name == bench.node_name, f"pod on {pods[0].spec.node_name}")
    bench.batch.delete_namespaced_job(job_name, bench.namespace, propagation_policy="Background")
    deadline = time.monotonic() + 120
    while bench.core.list_namespaced_pod(bench.namespace, label_selector=selector).items:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pod of {job_name} not deleted within 120 s")
        time.sleep(0.25)


def _sample(bench: Bench, label: str, launcher: K8sRunLauncher) -> Sample:
    run = bench.runs.create_starting()
    request = bench.runs.workspace.create_request_context()  # as the daemon/webserver hold one
    started = time.time()
    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=request))
    launched = time.time()
    finished = _wait_finished(bench.instance, run.run_id)
    ended = time.time()
    if finished.status != DagsterRunStatus.SUCCESS:
        logs = container_logs(bench.core, bench.namespace)[-6000:]
        raise RuntimeError(
            f"{label} run {run.run_id} ended {finished.status.value}:\n"
            f"{_events(bench.instance, run.run_id)}\npods:\n{logs}"
        )
    if label == "ours":
        require(SECRET_REFS_TAG in finished.tags, f"run {run.run_id} lacks {SECRET_REFS_TAG}")
    process = _first(bench.instance, run.run_id, DagsterEventType.ENGINE_EVENT, STARTED_PROCESS)
    run_start = _first(bench.instance, run.run_id, DagsterEventType.RUN_START, "")
    _check_and_delete_job(bench, label, run.run_id)
    return Sample(
        run.run_id,
        launch=launched - started,
        process=process - started,
        run_start=run_start - started,
        finished=ended - started,
        cleaned=time.time() - started,
    )


def _print(kind: str, label: str, sample: Sample) -> None:
    print(
        f"{kind} {label:7s} launch_s {sample.launch:.3f} to_process_s {sample.process:.3f} "
        f"to_run_start_s {sample.run_start:.3f} (finished {sample.finished:.1f}, "
        f"pod gone {sample.cleaned:.1f}) run {sample.run_id}",
        flush=True,
    )


def measure(bench: Bench, launchers: dict[str, K8sRunLauncher], runs: int, warmup: int) -> float:
    """Alternate the launchers (``warmup`` pairs uncounted); print the figures; return the ratio."""
    samples: dict[str, list[Sample]] = {name: [] for name in launchers}
    names = list(launchers)
    for i in range(warmup + runs):
        order = names if i % 2 == 0 else names[::-1]
        for label in order:
            sample = _sample(bench, label, launchers[label])
            if i < warmup:
                _print("warmup", label, sample)
            else:
                _print("sample", label, sample)
                samples[label].append(sample)
    for label in names:
        got = samples[label]
        print(
            f"{label:7s} to_run_start_s {spread([s.run_start for s in got])} "
            f"to_process_s median {median([s.process for s in got]):.3f} "
            f"launch_s median {median([s.launch for s in got]):.3f}",
            flush=True,
        )
    ours = median([s.run_start for s in samples["ours"]])
    theirs = median([s.run_start for s in samples["vanilla"]])
    # the pods are the same (checked), so what ours adds systematically is its launch_run
    added = median([s.launch for s in samples["ours"]]) - median(
        [s.launch for s in samples["vanilla"]]
    )
    pairs = [
        o.run_start / v.run_start for o, v in zip(samples["ours"], samples["vanilla"], strict=True)
    ]
    print(f"pairwise ratios (neighbours in time): median {median(pairs):.3f}", flush=True)
    print(
        f"launch_run added by ours: median {added:.3f} s = {added / theirs * 100:.1f}% of "
        f"vanilla's to_run_start (the rest of the difference is the machine's noise)",
        flush=True,
    )
    return ours / theirs


def _dagster_yaml(pg: PostgresServer, db: str) -> str:
    """The instance the host and the pods share (DAGSTER_HOME is mounted at the same path)."""
    config = {
        "telemetry": {"enabled": False},
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": pg.user,
                    # never a literal (our launcher refuses to launch with one); in the pod,
                    # dagster-k8s sets it from the postgres_password_secret
                    "password": {"env": "DAGSTER_PG_PASSWORD"},
                    "hostname": pg.host,
                    "port": pg.port,
                    "db_name": db,
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
    }
    return yaml.safe_dump(config)


def _create_database(pg: PostgresServer) -> str:
    name = f"pod_start_{secrets.token_hex(4)}"
    conn = psycopg2.connect(pg.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


@contextlib.contextmanager
def _stopping(*servers: Any) -> Iterator[None]:
    """Stop ``servers`` in reverse order on the way out, whatever happened (a node's leftovers
    are printed)."""
    try:
        yield
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as e:  # stop the others all the same; say what failed
                print(f"stopping {type(server).__name__} failed: {e!r}", file=sys.stderr)
        for server in servers:
            if isinstance(server, KubeNode) and not server.leftovers().empty():
                print(f"the node left behind: {server.leftovers()}", file=sys.stderr)


def run(tmp: Path, size: int, runs: int, warmup: int) -> float:
    """Start everything, measure, stop everything; return the ratio."""
    apiserver = KubeApiServer(tmp / "apiserver")
    (tmp / "node").mkdir()
    node = KubeNode(tmp / "node", apiserver)
    (tmp / "postgres").mkdir()
    pg = PostgresServer(tmp / "postgres")
    with _stopping(apiserver, node, pg):
        print(f"apiserver_ready_s {apiserver.start():.1f}", flush=True)
        print(f"node_ready_s {node.start():.1f} node {node.name}", flush=True)
        print(f"postgres_ready_s {pg.start():.1f}", flush=True)
        began = time.monotonic()
        image = ensure_user_code_image(node.socket)
        print(f"image_ready_s {time.monotonic() - began:.1f} image {image}", flush=True)

        api = apiserver.api_client()
        core, batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
        namespace = apiserver.create_namespace("bench-pod-start")
        names = secret_names(size)
        plugin = K8sSecretsPlugin(api_client=api)
        for index, name in enumerate(names):
            plugin.create_secret(name, namespace, {f"TOKEN_{index:03d}": secrets.token_hex(16)})
        core.create_namespaced_secret(
            namespace,
            {"metadata": {"name": PG_SECRET}, "stringData": {"postgresql-password": pg.password}},
        )
        core.create_namespaced_service_account(namespace, {"metadata": {"name": ACCOUNT}})

        home = tmp / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(_dagster_yaml(pg, _create_database(pg)))
        os.environ["DAGSTER_PG_PASSWORD"] = pg.password

        server = CodeServer(
            core, namespace, image, LOCATION, "benchmarks.launch_location", str(ROOT), [ROOT]
        )
        with _stopping(server):
            # dagster's health check prints every refused connection while the pod starts
            with contextlib.redirect_stdout(io.StringIO()):
                ready = server.start()
            print(f"code_server_ready_s {ready:.1f}", flush=True)
            target = GrpcServerTarget(
                host="127.0.0.1", port=server.port, socket=None, location_name=LOCATION
            )
            with (
                DagsterInstance.from_config(str(home)) as instance,
                create_test_daemon_workspace_context(target, instance) as workspace,
            ):
                entry = workspace.create_request_context().get_code_location_entries()[LOCATION]
                if entry.code_location is None:
                    raise RuntimeError(f"code location did not load: {entry.load_error}")
                common: dict[str, Any] = {
                    "instance_config_map": "dagster-instance",
                    "postgres_password_secret": PG_SECRET,
                    "dagster_home": str(home),
                    "load_incluster_config": False,
                    "kubeconfig_file": str(apiserver.admin_kubeconfig),
                    "job_namespace": namespace,
                    "service_account_name": ACCOUNT,
                    **launcher_node_config(image, apiserver.port, [home, ROOT]),
                }
                launchers: dict[str, K8sRunLauncher] = {
                    "vanilla": K8sRunLauncher(env_secrets=names, **common),
                    "ours": FloeK8sRunLauncher(
                        secrets=resolve({}, service_account_name=ACCOUNT), **common
                    ),
                }
                for launcher in launchers.values():
                    launcher.register_instance(instance)
                bench = Bench(
                    instance=instance,
                    runs=Runs(instance, workspace, size),
                    core=core,
                    batch=batch,
                    namespace=namespace,
                    node_name=node.name,
                    names=names,
                )
                try:
                    ratio = measure(bench, launchers, runs, warmup)
                finally:
                    for launcher in launchers.values():
                        launcher.dispose()
        stopping = time.monotonic()
    print(f"teardown_s {time.monotonic() - stopping:.1f}", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted runs per launcher")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted pairs run first")
    parser.add_argument(
        "--secrets", type=int, choices=SIZES, default=10, help="secrets per run (job_s<S>)"
    )
    args = parser.parse_args()
    require(args.runs >= 1 and args.warmup >= 0, "--runs must be >= 1, --warmup >= 0")
    os.environ["FLOE_LAUNCHER_FINGERPRINT_KEY"] = secrets.token_hex(32)
    print_machine("start")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="floe-pod-start-", ignore_cleanup_errors=True) as tmp:
        ratio = run(Path(tmp), args.secrets, args.runs, args.warmup)
    print(
        f"runs per launcher: {args.runs} (+{args.warmup} warm-up), secrets per run: "
        f"{args.secrets}, event: RUN_START (written in the run pod); "
        f"wall time {time.monotonic() - began:.0f} s (imports excluded)"
    )
    print_machine("end")
    print(f"pod_start_ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
