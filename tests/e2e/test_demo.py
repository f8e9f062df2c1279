"""The demo job end to end: a real Dagster instance, real dbt, a real encrypted DuckDB file.

Each test runs the job the demo's way (``dagster job launch -w workspace.yaml`` as a subprocess)
against a private copy of ``definitions/`` with its own local secrets store and the demo's
SQLite-backed DAGSTER_HOME, whose secrets loader puts the key into the ``floe_demo`` location's
processes when they start; then it inspects what Dagster recorded and searches every file the run
could have written for the key. The rotation test loads the copy in a real code server and ticks
its ``floe_secret_rotation`` sensor through the daemon.
"""

import logging
import secrets
import subprocess
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._time import get_current_datetime

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.dbt import duckdb_extension_directory
from floe_dagster_secrets.sensors import ROTATED_SECRET_TAG
from floe_dagster_secrets.types import reveal_all
from tests.e2e.demo_location import (
    ASSETS,
    JOB,
    KEY,
    LOCATION,
    NAMESPACE,
    SECRET,
    VENV_BIN,
    DemoLocation,
    copy_location,
    files_containing,
    text_hits,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def _canary() -> str:
    return f"canary{secrets.token_urlsafe(24)}"


def _plant(location: DemoLocation, key: str) -> None:
    LocalSecretsPlugin(path=location.store).create_secret(SECRET, NAMESPACE, {KEY: key})


@pytest.fixture
def location(tmp_path: Path) -> DemoLocation:
    location = copy_location(tmp_path)
    location.write_demo_instance()
    return location


def test_demo_job_materializes_every_asset_and_leaks_the_key_nowhere(
    location: DemoLocation,
) -> None:
    canary = _canary()
    _plant(location, canary)

    result = location.run_job()

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert location.warehouse.exists()  # the copy ran, not the checkout
    with DagsterInstance.from_config(str(location.home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.remote_job_origin is not None  # launched from the location the UI serves
        assert run.remote_job_origin.location_name == LOCATION
        (taken,) = [
            entry.asset_observation
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_OBSERVATION)
            if entry.asset_observation
        ]
        materialized = {
            entry.asset_materialization.asset_key.to_user_string(): entry.asset_materialization
            for entry in instance.all_logs(
                run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
            )
            if entry.asset_materialization
        }
        checks = [
            entry.dagster_event.asset_check_evaluation_data
            for entry in instance.all_logs(
                run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if entry.dagster_event
        ]
    assert set(materialized) == ASSETS
    assert materialized["customer_lifetime_value"].metadata["dagster/row_count"].value == 6
    assert len(checks) == 20  # 14 dbt tests + one floe_secrets check per asset
    assert all(check.passed for check in checks)
    assert {
        check.asset_key.to_user_string() for check in checks if check.check_name == "floe_secrets"
    } == ASSETS
    # the step took the key from its environment (the loader's): the run log says so, by name
    assert taken.asset_key.to_user_string() == f"secrets/{SECRET}"
    metadata = {name: value.value for name, value in taken.metadata.items()}
    expected = {
        "secret": SECRET,
        "backend": "local",
        "operation": "environment",
        "step": "floe_demo_dbt",
        "keys": KEY,
    }
    assert {name: metadata.get(name) for name in expected} == expected

    compute_logs = [
        p for p in (location.home / "storage").rglob("*") if p.suffix in (".out", ".err")
    ]
    assert any(p.stat().st_size for p in compute_logs), "no compute log was captured"
    scanned = [
        location.home,  # runs.db, event logs, schedules, compute logs
        location.dbt_project / "target",  # dbt artifacts, dbt.log per invocation, profiles
        location.definitions,  # anything else the run wrote next to the code
    ]
    skip = (location.store, location.warehouse.parent)
    assert (location.dbt_project / "target" / "floe-profiles" / "profiles.yml").exists()
    assert files_containing(canary, scanned, skip=skip) == []
    assert text_hits(canary, result.stdout) == []
    assert text_hits(canary, result.stderr) == []


def test_missing_secret_stops_the_code_location_with_the_loaders_error(
    location: DemoLocation,
) -> None:
    """No secret in the store: the instance's secrets loader fails when the code server starts,
    so the location does not load and no run is created; the error names the secret, the
    namespace, the backend and the fix."""
    result = location.run_job()

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert result.run_id is None  # nothing was launched
    assert "SecretNotFoundError" in output
    assert f"Secret '{SECRET}'" in output
    assert f"namespace '{NAMESPACE}'" in output
    assert "local" in output
    assert "Fix:" in output
    assert "Running dbt command" not in output
    with DagsterInstance.from_config(str(location.home)) as instance:
        assert instance.get_runs() == []


def test_run_without_the_loader_fails_the_step_naming_the_secret_and_the_fix(
    location: DemoLocation,
) -> None:
    """The secret exists but the instance has no secrets loader (nor a launcher's envFrom): the
    step fails at once, before dbt, saying which secret is missing and how to provide it."""
    _plant(location, _canary())
    (location.home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
    )

    result = location.run_job()

    assert result.returncode != 0
    assert result.run_id is not None
    failure = result.stderr
    assert f"Secret '{SECRET}' (local backend, namespace '{NAMESPACE}')" in failure
    assert f"DBT_ENV_SECRET_{KEY} not set" in failure
    assert "Fix:" in failure
    assert "FloeSecretsLoader" in failure
    assert "envFrom" in failure
    assert "Running dbt command" not in result.stdout + failure


def test_wrong_key_fails_the_run_with_our_error_before_dbt_starts(
    location: DemoLocation,
) -> None:
    right, wrong = _canary(), _canary()
    location.warehouse.parent.mkdir(parents=True)
    conn = duckdb.connect(
        ":memory:",
        config={
            "extension_directory": duckdb_extension_directory(),
            "autoinstall_known_extensions": "false",
        },
    )
    conn.execute("LOAD httpfs")
    conn.execute(f"ATTACH '{location.warehouse}' AS floe_demo (ENCRYPTION_KEY '{right}')")
    conn.execute("CREATE TABLE floe_demo.main.marker AS SELECT 1 AS one")
    conn.close()
    _plant(location, wrong)

    result = location.run_job()

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert result.run_id is not None  # the loader had a key to give: the step found it wrong
    assert "Wrong encryption key" in output
    assert f"secret '{SECRET}'" in output
    assert str(location.warehouse) in output
    assert "Running dbt command" not in output
    assert text_hits(wrong, output) == []
    assert text_hits(right, output) == []


def _floe(location: DemoLocation, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``floe`` CLI as a real subprocess, run from the copied location's root."""
    return subprocess.run(
        [str(VENV_BIN / "floe"), *args, "--manifest", "definitions/manifest.yaml"],
        cwd=location.root,
        env=location.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rotating_the_demo_secret_requests_one_run_of_its_assets(location: DemoLocation) -> None:
    _plant(location, _canary())  # before the code server starts: its secrets loader needs it
    # reap the code server on exit (else its Popen is collected later, mid-way through another test)
    with (location.home / "dagster.yaml").open("a") as config:
        config.write("code_servers:\n  wait_for_local_processes_on_shutdown: true\n")
    target = ModuleTarget(
        module_name="definitions.definitions",
        attribute="defs",
        working_directory=str(location.root),
        location_name=LOCATION,
    )
    now = get_current_datetime()
    with (
        DagsterInstance.from_config(str(location.home)) as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        entry = workspace.create_request_context().get_code_location_entries()[LOCATION]
        assert entry.code_location, entry.load_error
        repo = entry.code_location.get_repository("__repository__")
        sensor = repo.get_sensor("floe_secret_rotation")
        instance.start_sensor(sensor)  # the demo ships it STOPPED, as a user would find it

        def tick() -> None:
            nonlocal now
            now += timedelta(minutes=5)
            with freeze_time(now):
                list(execute_sensor_iteration(workspace, logging.getLogger("demo"), None, None))

        def last_tick():  # type: ignore[no-untyped-def]
            return instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)[0]

        tick()
        assert last_tick().status == TickStatus.SKIPPED
        assert instance.get_runs() == []

        plan = _floe(location, "secrets", "rotate", SECRET, "--generate", KEY, "--dry-run")
        assert plan.returncode == 0, plan.stderr
        assert "- Would re-materialize: raw/raw_customers, raw/raw_orders" in plan.stdout
        tick()
        assert instance.get_runs() == []  # a dry run changed nothing

        rotated = _floe(location, "secrets", "rotate", SECRET, "--generate", KEY)
        assert rotated.returncode == 0, rotated.stderr
        assert "Rotation complete." in rotated.stdout
        store = LocalSecretsPlugin(path=location.store)
        new_key = reveal_all(store.get_secret(SECRET, NAMESPACE))[KEY]

        tick()
        (run,) = instance.get_runs()
        assert {key.to_user_string() for key in run.asset_selection or ()} == ASSETS
        assert run.job_name == JOB
        assert run.tags[ROTATED_SECRET_TAG] == SECRET
        assert run.tags["dagster/run_key"].startswith(f"{SECRET}@{NAMESPACE}:2#")
        tick()
        assert len(instance.get_runs()) == 1
        state = instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
        cursor = state.instigator_data.cursor  # type: ignore[union-attr]
        assert text_hits(new_key, f"{run.tags} {cursor}") == []

    status = _floe(
        location, "secrets", "status", "--assets", "--definitions", "definitions.definitions"
    )
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    start = lines.index("Dependents by secret (code location definitions.definitions):")
    assert lines[start + 1 : start + 5] == [
        f"  {SECRET}",
        "    assets:    " + ", ".join(sorted(ASSETS)),
        f"    jobs:      {JOB}",
        "    schedules: floe_demo_daily",
    ]
    assert text_hits(new_key, status.stdout + status.stderr) == []
