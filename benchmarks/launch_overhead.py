"""Launch overhead of FloeK8sRunLauncher against the vanilla K8sRunLauncher, on a real apiserver.

Both launchers create real Jobs for real runs of one Dagster instance, on PostgreSQL storage (what
the Dagster Helm chart deploys; ``--storage sqlite`` for a temp-dir SQLite instance). The vanilla
launcher is configured with the equivalent ``env_secrets``; ours gets the same secrets as
``platform_secrets`` with the pre-flight check on (metadata only: the first launch LISTs the
namespace and starts its WATCH-fed cache, later launches read the cache) and records its run
tags (one ``add_run_tags`` write). Launches alternate, so drift on the shared machine hits both
alike. Per-launch time is from the ``launch_run`` call to the Job created (the create request
answered); the whole ``launch_run`` is printed too.

    .venv/bin/python -m benchmarks.launch_overhead [--runs N] [--storage postgres|sqlite]

The last line is ``launch_overhead_ratio=<ours/vanilla>`` (medians).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
from dagster import DagsterInstance, job, op
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.launcher import LaunchRunContext
from dagster._core.test_utils import create_run_for_test, instance_for_test
from dagster_k8s import K8sRunLauncher
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher import FloeK8sRunLauncher
from floe_dagster_secrets.launcher.config import resolve
from tests.servers.kube_apiserver import KubeApiServer
from tests.servers.postgres import PostgresServer

SECRETS = ["bench-one-credentials", "bench-two-credentials", "bench-three-secret"]


@op
def noop() -> None:
    pass


@job
def bench_job() -> None:
    noop()


def _launch(
    launcher: K8sRunLauncher, instance: DagsterInstance, origin: object
) -> tuple[float, float]:
    """(seconds to Job created, seconds for the whole ``launch_run``) of one new run."""
    run = create_run_for_test(instance, job_name="bench_job", job_code_origin=origin)
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
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        finished = time.perf_counter()
    finally:
        api.create_namespaced_job_with_retries = create
    return created[0] - started, finished - started


@contextlib.contextmanager
def _instance(storage: str, tmp: str) -> Iterator[DagsterInstance]:
    if storage == "sqlite":
        with instance_for_test() as instance:
            yield instance
        return
    Path(tmp, "postgres").mkdir()
    pg = PostgresServer(Path(tmp, "postgres"))
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
        overrides = {"storage": {"postgres": {"postgres_db": db}}}
        with instance_for_test(overrides=overrides) as instance:
            yield instance
    finally:
        pg.stop()


def main(n: int, storage: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = KubeApiServer(Path(tmp, "apiserver"))
        Path(tmp, "apiserver").mkdir()
        server.start()
        try:
            namespace = server.create_namespace("bench")
            api = server.api_client()
            plugin = K8sSecretsPlugin(api_client=api)
            for name in SECRETS:
                plugin.create_secret(name, namespace, {"TOKEN": f"bench-{name}"})
            common = {
                "instance_config_map": "dagster-instance",
                "dagster_home": "/opt/dagster/dagster_home",
                "job_image": "bench:1",
                "load_incluster_config": False,
                "kubeconfig_file": str(server.admin_kubeconfig),
                "job_namespace": namespace,
                "service_account_name": "floe-job-runner",
            }
            with _instance(storage, tmp) as instance:
                vanilla = K8sRunLauncher(env_secrets=SECRETS, **common)
                ours = FloeK8sRunLauncher(
                    secrets=resolve(
                        {"platform_secrets": SECRETS, "dbt_profiles_config_map": None},
                        service_account_name="floe-job-runner",
                    ),
                    secrets_plugin=K8sSecretsPlugin(api_client=api),
                    **common,
                )
                vanilla.register_instance(instance)
                ours.register_instance(instance)
                origin = ReconstructableJob.for_file(__file__, "bench_job").get_python_origin()
                for _ in range(3):  # warm-up: imports, connection pools, tables
                    _launch(vanilla, instance, origin)
                    _launch(ours, instance, origin)
                times: dict[str, list[tuple[float, float]]] = {"vanilla": [], "ours": []}
                for _ in range(n):
                    times["vanilla"].append(_launch(vanilla, instance, origin))
                    times["ours"].append(_launch(ours, instance, origin))
                jobs = k8s.BatchV1Api(api).list_namespaced_job(namespace).items
                assert len(jobs) == 2 * (n + 3), len(jobs)
                for j in jobs:  # equivalent Jobs: both mount exactly the same secrets
                    env_from = j.spec.template.spec.containers[0].env_from or []
                    assert sorted(e.secret_ref.name for e in env_from) == sorted(SECRETS)
                ours.dispose()  # stops the metadata cache's watch before the apiserver goes
        finally:
            server.stop()
    medians = {
        name: (
            statistics.median(t[0] for t in pairs),
            statistics.median(t[1] for t in pairs),
        )
        for name, pairs in times.items()
    }
    print(f"runs per launcher: {n}, instance storage: {storage}")
    for name, label in (("vanilla", "vanilla K8sRunLauncher"), ("ours", "FloeK8sRunLauncher")):
        to_job, total = medians[name]
        print(
            f"{label} median: {to_job * 1000:.1f} ms to Job created, "
            f"{total * 1000:.1f} ms whole launch_run"
        )
    total_ratio = medians["ours"][1] / medians["vanilla"][1]
    print(f"whole_launch_run_ratio={total_ratio:.3f}")
    print(f"launch_overhead_ratio={medians['ours'][0] / medians['vanilla'][0]:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--storage", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    main(args.runs, args.storage)
