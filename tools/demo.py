"""README command (1), after setup: run the demo job end to end and say what it built.

1. Creates the demo credential ``duckdb-dev-credentials`` (a random DuckDB encryption key) in the
   local store named by ``definitions/manifest.yaml``, unless it is already there.
2. Launches ``floe_demo_job`` through the code location of ``workspace.yaml``
   (``dagster job launch -w workspace.yaml``) in a real Dagster instance
   (``DAGSTER_HOME=definitions/.dagster_home``, SQLite storage, git-ignored) and waits for it:
   dbt builds the encrypted DuckDB warehouse, its key read from the store when the code server
   starts (the instance's secrets loader, below).
   The run belongs to the ``floe_demo`` location the UI serves, so "Re-execute" in the UI works
   without a "different code location" warning. The instance routes the ``floe.audit`` logger
   into Dagster's managed loggers, so each secret access is also a line of the run's log, and
   its secrets loader (``FloeSecretsLoader``, ``definitions/src/floe_demo/instance.py``) puts the
   key into the location's processes as ``DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY`` when they
   start, as ``envFrom`` does in a Job pod; the dbt step only reads it.
3. Reads the run's events back from that instance and prints each materialized asset with its
   row count, and the dbt tests (asset checks) with their result. The key is never printed.

Exit status: 0 when the run succeeded, 1 otherwise (the tail of the Dagster log is shown).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the demo's code location, definitions/, lives there
    sys.path.insert(0, str(ROOT))

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter  # noqa: E402

from definitions.instance import write_instance_config  # noqa: E402
from floe_dagster_secrets.errors import SecretNotFoundError  # noqa: E402
from floe_dagster_secrets.manifest import load_manifest  # noqa: E402
from floe_dagster_secrets.resources import secrets_resource_from_manifest  # noqa: E402

MANIFEST = ROOT / "definitions" / "manifest.yaml"
JOB = "floe_demo_job"
LOCATION = "floe_demo"  # workspace.yaml's location_name
KEY_NAME = "DUCKDB_ENCRYPTION_KEY"


def out(line: str = "") -> None:
    """This script's only output channel (the package itself never prints)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def ensure_demo_secret() -> str:
    """Create the connection secret with a random key if it is missing; return its name."""
    manifest = load_manifest(MANIFEST)
    name = manifest.plugins.compute.connection_secret_ref
    if not name:
        raise SystemExit(f"{MANIFEST} names no plugins.compute.connection_secret_ref")
    resource = secrets_resource_from_manifest(manifest, base_dir=MANIFEST.parent)
    plugin = resource.plugin()
    try:
        meta = plugin.describe_secret(name, resource.namespace)
        out(f"secret  {name} exists in {resource.backend} store (version {meta.version})")
    except SecretNotFoundError:
        plugin.create_secret(name, resource.namespace, {KEY_NAME: secrets.token_urlsafe(32)})
        out(f"secret  {name} created in {resource.backend} store with a random {KEY_NAME}")
    return name


def dagster_home(path: Path) -> Path:
    """The demo's project-local instance, written by ``definitions.instance``.

    Its ``dagster.yaml`` is rewritten every time, so an older home gets today's settings: SQLite
    storage behind floe's RedactingStorage, no telemetry, ``floe.audit`` in the run's log, and
    the secrets loader that puts the connection secret into the ``floe_demo`` location's
    processes when they start.
    """
    return write_instance_config(path)


def run_job(home: Path, log: Path, *, timeout: float = 900) -> int:
    """``dagster job launch -w workspace.yaml`` as a subprocess, then wait for the run to end.

    The launch returns once the run is handed to the instance's run launcher; the code server
    it started keeps running until the run has finished. Output goes to ``log``.
    """
    dagster = Path(sys.executable).parent / "dagster"
    run_id = str(uuid.uuid4())
    command = [
        str(dagster),
        "job",
        "launch",
        "-w",
        str(ROOT / "workspace.yaml"),
        "--location",
        LOCATION,
        "--job",
        JOB,
        "--run-id",
        run_id,
    ]
    env = {**os.environ, "DAGSTER_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    with log.open("w") as handle:
        code = subprocess.run(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False
        ).returncode
    if code != 0:
        return code
    deadline = time.monotonic() + timeout
    with DagsterInstance.from_config(str(home)) as instance:
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished:
                return 0 if run.status == DagsterRunStatus.SUCCESS else 1
            time.sleep(0.2)  # one indexed SQLite read: the run's end shows at once
    out(f"the run {run_id} did not finish within {timeout:.0f} s")
    return 1


def report(home: Path) -> bool:
    """Print the latest run's materializations and checks; True if the run succeeded."""
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=RunsFilter(job_name=JOB), limit=1)
        if not runs:
            out("no run was recorded")
            return False
        run = runs[0]
        out(f"run     {run.run_id}  {run.status.value}")
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            materialization = entry.asset_materialization
            if materialization is None:
                continue
            rows = materialization.metadata.get("dagster/row_count")
            count = getattr(rows, "value", "?")
            out(f"  materialized  {materialization.asset_key.to_user_string():<28} rows={count}")
        checks = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        passed = 0
        for entry in checks:
            evaluation = (
                entry.dagster_event.asset_check_evaluation_data if entry.dagster_event else None
            )
            if evaluation is None:
                continue
            passed += int(evaluation.passed)
            if not evaluation.passed:
                out(
                    f"  check FAILED  {evaluation.asset_key.to_user_string()}:"
                    f"{evaluation.check_name}"
                )
        out(f"  checks        {passed}/{len(checks)} passed")
        return run.status.value == "SUCCESS"


def main() -> int:
    """Create the secret if needed, run the job, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--dagster-home",
        type=Path,
        default=ROOT / "definitions" / ".dagster_home",
        help="Dagster instance directory (default: definitions/.dagster_home, git-ignored)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    ensure_demo_secret()
    home = dagster_home(args.dagster_home.resolve())
    log = home / "demo-run.log"
    out(f"run     dagster job launch -w workspace.yaml -j {JOB}  (DAGSTER_HOME={home}, log: {log})")
    job_started = time.monotonic()
    code = run_job(home, log)
    job_seconds = time.monotonic() - job_started
    ok = report(home) and code == 0
    if not ok:
        out("the run failed; last lines of the Dagster log:")
        for line in log.read_text().splitlines()[-25:]:
            out(f"  | {line}")
    out(f"time    job {job_seconds:.1f} s, demo {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
