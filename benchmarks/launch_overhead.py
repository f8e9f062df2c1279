"""Launch of an asset-job run: FloeK8sRunLauncher against K8sRunLauncher with env_secrets.

What is launched is what a deployment launches: the asset jobs of
``benchmarks/launch_location.py`` (five assets, S = 1, 10 or 100 secrets named in their
``floe/secrets`` metadata), loaded by a real code server through a Dagster workspace; each run is
created as the webserver creates it (remote job, execution plan from the code server, run
storage on PostgreSQL as the Helm chart deploys it; ``--storage sqlite`` for a temp SQLite
instance), then handed to ``launch_run`` with the workspace, against a real kube-apiserver.

- baseline: ``K8sRunLauncher(env_secrets=[the S names])`` — how a dagster-k8s user gives runs
  secrets today (every run gets all of them);
- ours: ``FloeK8sRunLauncher`` with no secrets configured: it reads the run's assets and their
  ``floe/secrets`` from the workspace, checks those secrets exist (metadata only: a WATCH-fed
  cache after the first launch in a namespace), creates the Job with them, and records them: run
  tags (names or their digest, one keyed fingerprint: ``FLOE_LAUNCHER_FINGERPRINT_KEY`` is set)
  in dagster-k8s's own tag write, per-secret versions and fingerprints in its launch event.

Both launch each run until it is fully handed off: ``launch_run`` returns after the Job is
created *and* (ours) the tags are written. Sizes: S × namespace holding just those S Secrets or
1,000 Secrets. Launches alternate, fresh launchers per size, 3 warm-up launches each. Both
Jobs are checked to mount exactly the same S secrets, and each of our runs to carry its tags.

    .venv/bin/python benchmarks/launch_overhead.py [--runs 15] [--sizes 1,10,100]
        [--namespace-sizes small,1000] [--storage postgres|sqlite]

The last line is ``launch_overhead_ratio=<ours/baseline>``, the worst (largest) of the sizes'
ratios of medians. A size whose launch fails is reported (``FAILED …``), the others are still
measured, and the script exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg2
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.launcher import LaunchRunContext
from dagster._core.test_utils import create_test_daemon_workspace_context, instance_for_test
from dagster._core.workspace.load_target import ModuleTarget
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s

from benchmarks._common import ROOT, create_secrets, median, print_machine, require, spread
from benchmarks.launch_location import secret_names
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher import FloeK8sRunLauncher
from floe_dagster_secrets.launcher.config import resolve
from floe_dagster_secrets.launcher.launch_record import SECRETS_FINGERPRINT_TAG, read_launch_record
from floe_dagster_secrets.launcher.pod_env import SECRET_REFS_TAG
from tests.servers import KubeApiServer, PostgresServer

LOCATION = "launch_bench"
FILLED = 1000


@contextlib.contextmanager
def _instance(storage: str, tmp: Path) -> Iterator[DagsterInstance]:
    overrides: dict[str, Any] = {"telemetry": {"enabled": False}}
    if storage == "sqlite":
        with instance_for_test(overrides=overrides) as instance:
            yield instance
        return
    (tmp / "postgres").mkdir()
    pg = PostgresServer(tmp / "postgres")
    pg.start()
    try:
        conn = psycopg2.connect(pg.dsn())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE bench")
        conn.close()
        # Never a literal password in dagster.yaml (our launcher refuses to launch with one).
        os.environ["FLOE_BENCH_PG_PASSWORD"] = pg.password
        db = {
            "username": pg.user,
            "password": {"env": "FLOE_BENCH_PG_PASSWORD"},
            "hostname": pg.host,
            "port": pg.port,
            "db_name": "bench",
            "scheme": "postgresql+psycopg2",
        }
        overrides["storage"] = {"postgres": {"postgres_db": db}}
        with instance_for_test(overrides=overrides) as instance:
            yield instance
    finally:
        pg.stop()


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
        self.plan = location.get_execution_plan(self.job, {}, None, None, instance=instance)
        self.asset_graph = request.asset_graph

    def create(self) -> Any:
        return self.instance.create_run(
            job_name=self.job.name,
            run_id=None,
            run_config={},
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


def _launch(launcher: K8sRunLauncher, runs: Runs) -> tuple[float, float, str]:
    """(seconds to Job created, seconds to fully handed off, run id) of one new run."""
    run = runs.create()
    request = runs.workspace.create_request_context()  # as the daemon/webserver hold one
    created: list[float] = []
    api = launcher._api_client
    create = api.create_namespaced_job_with_retries

    def timed_create(*args: object, **kwargs: object) -> object:
        result = create(*args, **kwargs)
        created.append(time.perf_counter())
        return result

    api.create_namespaced_job_with_retries = timed_create
    try:
        started = time.perf_counter()
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=request))
        finished = time.perf_counter()
    finally:
        api.create_namespaced_job_with_retries = create
    if not created:
        events = "\n".join(str(e.message) for e in runs.instance.all_logs(run.run_id))
        raise RuntimeError(f"{type(launcher).__name__} created no Job for {run.run_id}:\n{events}")
    return created[0] - started, finished - started, run.run_id


def measure(
    server: KubeApiServer,
    instance: DagsterInstance,
    workspace: Any,
    size: int,
    filled: bool,
    n: int,
) -> float:
    """Launch ``n`` runs with each launcher for one size; print the figures; return the ratio."""
    api = server.api_client()
    namespace = server.create_namespace(f"bench-launch-s{size}")
    names = secret_names(size)
    fillers = [f"filler-{i:04d}-credentials" for i in range(FILLED - size)] if filled else []
    create_secrets(api, namespace, names + fillers)
    common = {
        "instance_config_map": "dagster-instance",
        "dagster_home": "/opt/dagster/dagster_home",
        "job_image": "bench:1",
        "load_incluster_config": False,
        "kubeconfig_file": str(server.admin_kubeconfig),
        "job_namespace": namespace,
        "service_account_name": "floe-job-runner",
    }
    vanilla = K8sRunLauncher(env_secrets=names, **common)
    ours = FloeK8sRunLauncher(
        secrets=resolve({"dbt_profiles_config_map": None}, service_account_name="floe-job-runner"),
        secrets_plugin=K8sSecretsPlugin(api_client=api),
        **common,
    )
    runs = Runs(instance, workspace, size)
    own: list[float] = []  # floe's own work per launch: selection, pre-flight, record
    prepare = ours._prepare

    def timed_prepare(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return prepare(*args, **kwargs)
        finally:
            own.append(time.perf_counter() - started)

    ours._prepare = timed_prepare  # type: ignore[method-assign]
    times: dict[str, list[tuple[float, float, str]]] = {"vanilla": [], "ours": []}
    try:
        for launcher in (vanilla, ours):
            launcher.register_instance(instance)
        for _ in range(3):  # warm-up: connection pools, the first LIST and the watch
            _launch(vanilla, runs)
            _launch(ours, runs)
        for _ in range(n):
            times["vanilla"].append(_launch(vanilla, runs))
            times["ours"].append(_launch(ours, runs))
    finally:
        ours.dispose()  # stops the metadata cache's watch
        vanilla.dispose()
    batch = k8s.BatchV1Api(api)
    for label, samples in times.items():
        for _, _, run_id in samples[:3]:
            job = batch.read_namespaced_job(get_job_name_from_run_id(run_id), namespace)
            env_from = job.spec.template.spec.containers[0].env_from or []
            mounted = sorted(e.secret_ref.name for e in env_from if e.secret_ref)
            require(mounted == sorted(names), f"{label} Job mounts {mounted}")
    for _, _, run_id in times["ours"]:
        tags = instance.get_run_by_id(run_id).tags  # type: ignore[union-attr]
        require({SECRET_REFS_TAG, SECRETS_FINGERPRINT_TAG} <= set(tags), f"tags: {tags}")
    record = read_launch_record(instance, times["ours"][0][2])
    require(record is not None and set(record.fingerprints) == set(names), "launch record")
    in_namespace = len(names) + len(fillers)
    label = f"s={size} namespace_secrets={in_namespace}"
    for name in ("vanilla", "ours"):
        whole = [t[1] for t in times[name]]
        to_job = [t[0] for t in times[name]]
        print(
            f"{label} {name:7s} handed_off_ms {spread(whole, 1000, '.1f')} "
            f"to_job_created_ms median {median(to_job) * 1000:.1f}",
            flush=True,
        )
    ratio = median([t[1] for t in times["ours"]]) / median([t[1] for t in times["vanilla"]])
    pairs = [o[1] / v[1] for o, v in zip(times["ours"], times["vanilla"], strict=True)]
    print(
        f"{label} floe_own_work_ms {spread(own[-n:], 1000, '.2f')} "
        f"pairwise_ratio_median {median(pairs):.3f}",
        flush=True,
    )
    print(f"{label} ratio={ratio:.3f}", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="launches per launcher and size")
    parser.add_argument("--sizes", default="1,10,100", help="secrets per run (1, 10, 100)")
    parser.add_argument(
        "--namespace-sizes",
        default="small,1000",
        help="small: the namespace holds only the run's secrets; 1000: 1,000 Secrets",
    )
    parser.add_argument("--storage", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    filled = [f == "1000" for f in args.namespace_sizes.split(",")]
    os.environ["FLOE_LAUNCHER_FINGERPRINT_KEY"] = secrets.token_hex(32)
    print_machine("start")
    ratios: list[float] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = KubeApiServer(Path(tmp, "apiserver"))
        server.start()
        try:
            target = ModuleTarget(
                module_name="benchmarks.launch_location",
                attribute="defs",
                working_directory=str(ROOT),
                location_name=LOCATION,
            )
            with (
                _instance(args.storage, Path(tmp)) as instance,
                create_test_daemon_workspace_context(target, instance) as workspace,
            ):
                entry = workspace.create_request_context().get_code_location_entries()[LOCATION]
                if entry.code_location is None:
                    raise RuntimeError(f"code location did not load: {entry.load_error}")
                for size in sizes:
                    for fill in filled:
                        try:
                            ratios.append(
                                measure(server, instance, workspace, size, fill, args.runs)
                            )
                        except Exception as e:  # report it, measure the other sizes, exit 1
                            line = " ".join(str(e).split())[:400]
                            failed.append(f"s={size} filled={fill}: {type(e).__name__}: {line}")
                            print(f"FAILED {failed[-1]}", flush=True)
        finally:
            server.stop()
    print(f"runs per launcher and size: {args.runs}, instance storage: {args.storage}")
    print_machine("end")
    for line in failed:
        print(f"FAILED {line}")
    print(f"launch_overhead_ratio={max(ratios):.3f}" if ratios else "launch_overhead_ratio=nan")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
