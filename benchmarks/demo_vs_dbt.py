"""The demo job through Dagster against a plain ``dbt build`` of the same project, and where the
demo's extra time goes.

- demo: ``floe_demo_job`` as ``tools/demo.py`` runs it (``dagster job launch -w workspace.yaml``
  into the demo's instance: the CLI starts a code server for ``floe_demo``, where the instance's
  secrets loader reads the DuckDB key from the local store and the code location loads; the run
  is created from it, and the code server starts the run's process, which loads the location
  again; then the in-process executor: the dbt step reads the key from its environment, checks
  it, and runs ``dbt build`` through dagster-dbt; then the secret checks);
- baseline: ``dbt build`` of the same project and profile, with the key already in the
  environment — what a dbt user runs. Both reuse dbt's partial parse from the previous run.

Runs alternate (``--runs``, after ``--warmup`` untimed runs of each), so machine noise falls on
both, with a pause (``--settle``) after each, so the demo's code server and run process, which
exit after the run has ended, do not fall on the baseline's clock. Each demo run is split with
the run's own event log: launch to run created (the CLI's start-up, the code server's start with
the secrets loader and the first code-location load; the CLI alone is ``dagster job launch
--help``), run created to RUN_START (the run's process: Python start-up and the second
code-location load), the dbt step before dbt starts (key read and check), ``dbt build`` as
dagster-dbt runs it (parse included), and the rest (checks, run end, the script seeing the run
end). The secret fetch itself (the loader's ``get_secrets_for_environment("floe_demo")``, a fresh
loader each time, as each process makes one) is timed in process, ``--fetches`` times.

    .venv/bin/python benchmarks/demo_vs_dbt.py [--runs 3] [--fetches 7] [--warmup 1] [--settle 2]

The last line is ``demo_vs_dbt_build_ratio=<demo/dbt>`` (medians).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from dagster import DagsterEventType, DagsterInstance  # noqa: E402
from demo import JOB, dagster_home, ensure_demo_secret, run_job  # noqa: E402

from benchmarks._common import median, print_machine, require, spread, timed  # noqa: E402
from definitions.instance import LOCATION_NAME, secrets_loader_config  # noqa: E402
from definitions.project import DBT_PROJECT_DIR, PROFILES_DIR, dbt_executable, load_project  # noqa: E402
from floe_dagster_secrets.secrets_loader import FloeSecretsLoader  # noqa: E402

PHASES = (
    "launch_to_run_created",
    "run_created_to_run_start",
    "dbt_step_before_dbt",
    "dbt_build_in_dagster",
    "rest",
)


def phases(home: Path, started_at: float, ended_at: float) -> dict[str, float]:
    """The latest run's phases, from its event log (wall-clock timestamps)."""
    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        logs = instance.all_logs(run.run_id)
    run_start = next(
        e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.RUN_START
    )
    dbt_step_start = next(
        e.timestamp
        for e in logs
        if e.dagster_event_type == DagsterEventType.STEP_START and e.step_key == "floe_demo_dbt"
    )
    dbt_started = next(e.timestamp for e in logs if "Running dbt command" in (e.user_message or ""))
    dbt_done = next(
        e.timestamp
        for e in logs
        if e.dagster_event_type == DagsterEventType.STEP_SUCCESS and e.step_key == "floe_demo_dbt"
    )
    created = logs[0].timestamp  # the run's first event: its planned materializations
    return {
        "launch_to_run_created": created - started_at,
        "run_created_to_run_start": run_start - created,
        "dbt_step_before_dbt": dbt_started - dbt_step_start,
        "dbt_build_in_dagster": dbt_done - dbt_started,
        "rest": (dbt_step_start - run_start) + (ended_at - dbt_done),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fetches", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each first")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds of pause after each timed run"
    )
    args = parser.parse_args()
    print_machine("start")
    ensure_demo_secret()
    project = load_project()

    loader_config = secrets_loader_config()["custom"]["config"]

    def fetch() -> dict[str, str]:
        loader = FloeSecretsLoader(**loader_config)
        try:
            return loader.get_secrets_for_environment(LOCATION_NAME)
        finally:
            loader.dispose()

    fetches = [timed(fetch) for _ in range(args.fetches)]
    dbt_env = {**os.environ, **fetch(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = project.manifest.environment

    def dbt_build() -> None:
        subprocess.run(
            [dbt_executable(), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(PROFILES_DIR), "--target", target],
            env=dbt_env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip

    dagster = str(Path(sys.executable).parent / "dagster")
    demo: list[float] = []
    dbt: list[float] = []
    startup: list[float] = []
    split: dict[str, list[float]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory() as scratch:
        home = dagster_home(Path(scratch) / "home")  # the demo's instance (launches at once)
        log = Path(scratch) / "run.log"

        def demo_run() -> tuple[float, float]:
            started_at = time.time()
            code = run_job(home, log)
            ended_at = time.time()
            require(code == 0, f"demo run failed: {log.read_text()[-4000:]}")
            return started_at, ended_at

        for _ in range(args.warmup):  # .pyc files, dbt's partial parse, the DuckDB file
            demo_run()
            dbt_build()
        for _ in range(args.runs):
            started_at, ended_at = demo_run()
            demo.append(ended_at - started_at)
            for name, seconds in phases(home, started_at, ended_at).items():
                split[name].append(seconds)
            # the run has ended, but its code server and run process are still exiting: keep
            # their shutdown off the baseline's clock
            time.sleep(args.settle)
            dbt.append(timed(dbt_build))
            time.sleep(args.settle)
            startup.append(
                timed(
                    lambda: subprocess.run(
                        [dagster, "job", "launch", "--help"], check=True, capture_output=True
                    )
                )
            )
    print(f"job={JOB} runs={args.runs}")
    print(f"secret_fetch_ms {spread(fetches, 1000, '.1f')} (first, cold: {fetches[0] * 1000:.1f})")
    print(f"demo_job_s {spread(demo)}")
    print(f"  launch_to_run_created_s {spread(split['launch_to_run_created'])}")
    print(f"    of which dagster CLI start-up (dagster job launch --help) {spread(startup)}")
    print(f"  run_created_to_run_start_s {spread(split['run_created_to_run_start'])}")
    print(f"  dbt_step_before_dbt_s {spread(split['dbt_step_before_dbt'])}")
    print(f"  dbt_build_in_dagster_s {spread(split['dbt_build_in_dagster'])}")
    print(f"  rest_s {spread(split['rest'])}")
    print(f"dbt_build_s {spread(dbt)}")
    print_machine("end")
    print(f"demo_vs_dbt_build_ratio={median(demo) / median(dbt):.2f}")


if __name__ == "__main__":
    main()
