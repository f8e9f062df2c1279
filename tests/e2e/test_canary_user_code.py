"""Canaries for values that *user code* writes into Dagster: one test per channel.

``user_code_job.careless_job`` fetches a secret through ``LocalSecretsResource`` and writes one
canary into each channel: asset metadata (``add_output_metadata`` and ``Output(metadata=…)``), an
``AssetMaterialization`` description, a run tag (``instance.add_run_tags``), a hex dump in
metadata, ``Failure(description=…)`` and an exception. The job runs twice with
``dagster job execute`` (a real run worker process with the multiprocess executor, its steps in
child processes, as in a run worker pod) against real PostgreSQL storage:

- **redacted**: ``dagster.yaml`` wraps the storage in ``floe_dagster_secrets.storage
  .RedactingStorage``. No canary may appear, in any form, in any table of the database or in the
  run worker's stderr, and each event or tag must still be there, redacted.
- **control**: the same job with plain ``storage: postgres``. Each test asserts its canary IS found
  there, so none of these tests can pass because a channel stopped carrying the value.
"""

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from tests.e2e import user_code_job
from tests.e2e.leak_scan import Artifact, find_leaks, postgres_artifacts, text_artifact

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

VENV_BIN = Path(sys.executable).parent
JOB_FILE = Path(user_code_job.__file__)
PG_PASSWORD_VAR = "DAGSTER_PG_PASSWORD"


@dataclass
class Run:
    """One execution of the careless job: its instance home, database and run worker output."""

    home: Path
    dsn: str
    result: subprocess.CompletedProcess[str]

    def storage(self) -> list[Artifact]:
        return postgres_artifacts(self.dsn)

    def run_worker_stderr(self) -> Artifact:
        return text_artifact("run-worker", "dagster job execute stderr", self.result.stderr)

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.home))


@dataclass
class Runs:
    canaries: dict[str, str]
    redacted: Run
    control: Run
    redacted_resource: Run  # careless_resource_job: a resource fails to initialise
    control_resource: Run


def _storage_config(pg: Any, db: str, *, redacting: bool) -> dict[str, Any]:
    postgres = {
        "postgres_db": {
            "username": pg.user,
            "password": {"env": PG_PASSWORD_VAR},
            "hostname": pg.host,
            "db_name": db,
            "port": pg.port,
            "scheme": "postgresql+psycopg2",
        }
    }
    if not redacting:
        return {"postgres": postgres}
    return {
        "custom": {
            "module": "floe_dagster_secrets.storage",
            "class": "RedactingStorage",
            "config": {"postgres": postgres},
        }
    }


def _home(tmp: Path, pg: Any, label: str, *, redacting: bool) -> tuple[Path, str]:
    db = f"dagster_user_code_{label}_{secrets.token_hex(4)}".lower()
    conn = psycopg2.connect(pg.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()
    home = tmp / label
    home.mkdir()
    config = {
        "telemetry": {"enabled": False},
        "storage": _storage_config(pg, db, redacting=redacting),
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home, pg.dsn(db)


def _execute(home: Path, store: Path, pg: Any, job: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "dagster"), "job", "execute", "-f", str(JOB_FILE), "-j", job],
        cwd=home,
        env={
            **os.environ,
            "DAGSTER_HOME": str(home),
            PG_PASSWORD_VAR: pg.password,
            "FLOE_CANARY_STORE": str(store),
            "PYTHONPATH": str(JOB_FILE.parents[2]),
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("user_code_canaries")
    canaries = {
        key: f"canary{key.lower()}{secrets.token_urlsafe(18)}" for key in user_code_job.KEYS
    }
    store = tmp / "store"
    LocalSecretsPlugin(path=store).create_secret(
        user_code_job.SECRET, user_code_job.NAMESPACE, canaries
    )
    jobs = {
        "redacted": user_code_job.JOB,
        "control": user_code_job.JOB,
        "redacted_resource": user_code_job.RESOURCE_JOB,
        "control_resource": user_code_job.RESOURCE_JOB,
    }
    homes = {
        label: _home(tmp, postgres_server, label, redacting=label.startswith("redacted"))
        for label in jobs
    }
    # all runs at once: they share nothing but the PostgreSQL server
    started = {
        label: _execute(homes[label][0], store, postgres_server, job) for label, job in jobs.items()
    }
    done = {}
    for label, process in started.items():
        out, err = process.communicate(timeout=780)
        result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        # every job fails on purpose: exit 1, and the run must have got there
        assert result.returncode == 1, f"{label}: {err[-3000:]}"
        assert "RUN_FAILURE" in err, f"{label}: the run did not fail as planned\n{err[-3000:]}"
        done[label] = Run(home=homes[label][0], dsn=homes[label][1], result=result)
    mp = pytest.MonkeyPatch()
    mp.setenv(PG_PASSWORD_VAR, postgres_server.password)
    yield Runs(canaries=canaries, **done)
    mp.undo()


def _leaks(runs: Runs, run: Run, keys: tuple[str, ...]) -> list[Any]:
    return find_leaks({key: runs.canaries[key] for key in keys}, run.storage())


def _events(run: Run, event_type: DagsterEventType) -> list[Any]:
    with run.instance() as instance:
        [record] = instance.get_runs()
        return [
            entry.dagster_event
            for entry in instance.all_logs(record.run_id, of_type=event_type)
            if entry.dagster_event is not None
        ]


def _materialization_metadata(run: Run, asset: str) -> dict[str, Any]:
    for event in _events(run, DagsterEventType.ASSET_MATERIALIZATION):
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == asset:
            return {key: value.value for key, value in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {asset} was stored")


def _failure_messages(run: Run) -> dict[str, str]:
    return {
        event.step_key: event.event_specific_data.error.to_string()
        + str(event.event_specific_data.user_failure_data)
        for event in _events(run, DagsterEventType.STEP_FAILURE)
    }


def test_asset_metadata(runs: Runs) -> None:
    """``add_output_metadata`` and ``Output(metadata=…)`` values are stored redacted."""
    keys = ("METADATA", "OUTPUT_METADATA")
    assert _leaks(runs, runs.redacted, keys) == []
    assert {leak.canary for leak in _leaks(runs, runs.control, keys)} == set(keys)
    metadata = _materialization_metadata(runs.redacted, "writes_metadata")
    assert metadata["connection"] == "host=db user=app password=***"
    output = _materialization_metadata(runs.redacted, "returns_output")
    assert output["dsn"] == "postgresql://app:***@db"


def test_materialization_description(runs: Runs) -> None:
    """An ``AssetMaterialization`` description is stored redacted."""
    assert _leaks(runs, runs.redacted, ("DESCRIPTION",)) == []
    assert _leaks(runs, runs.control, ("DESCRIPTION",))
    [event] = [
        event
        for event in _events(runs.redacted, DagsterEventType.ASSET_MATERIALIZATION)
        if event.event_specific_data.materialization.asset_key.to_user_string() == "careless_report"
    ]
    description = event.event_specific_data.materialization.description
    assert description == "report signed with ***"


def test_run_tag(runs: Runs) -> None:
    """A tag added by ``context.instance.add_run_tags`` is stored redacted."""
    assert _leaks(runs, runs.redacted, ("TAG",)) == []
    assert _leaks(runs, runs.control, ("TAG",))
    with runs.redacted.instance() as instance:
        [run] = instance.get_runs()
    assert run.tags["deployed-by"] == "ci-***"


def test_failure_description(runs: Runs) -> None:
    """``Failure(description=…)`` is stored redacted."""
    assert _leaks(runs, runs.redacted, ("FAILURE",)) == []
    assert _leaks(runs, runs.control, ("FAILURE",))
    message = _failure_messages(runs.redacted)["raises_failure"]
    assert "login refused for key ***" in message
    assert "key=***" in message  # Failure(metadata=…)


def test_exception(runs: Runs) -> None:
    """An exception's message is stored redacted (step failure and run failure)."""
    assert _leaks(runs, runs.redacted, ("EXCEPTION",)) == []
    assert _leaks(runs, runs.control, ("EXCEPTION",))
    message = _failure_messages(runs.redacted)["raises_exception"]
    assert "RuntimeError: connection refused for password ***" in message


def test_hex(runs: Runs) -> None:
    """A value written as ``bytes.hex()`` is masked like the plain value."""
    assert _leaks(runs, runs.redacted, ("HEX",)) == []
    control = _leaks(runs, runs.control, ("HEX",))
    assert control
    assert {leak.form for leak in control} == {"encoded"}  # only the hex form was written
    assert _materialization_metadata(runs.redacted, "writes_metadata")["key_dump"] == "***"


def test_run_worker_stderr(runs: Runs) -> None:
    """The run worker prints the first failed step's error in its run-failure line: redacted.

    The run worker never fetched a value; it learns them from the redacted step failure the step
    process stored. In the control run the step processes' own lines are redacted (their masker
    knows the values), so a canary there is the run worker's.
    """
    failing = ("FAILURE", "EXCEPTION")
    stderr = runs.redacted.run_worker_stderr()
    assert find_leaks(runs.canaries, [stderr]) == []
    run_failure = stderr.text[stderr.text.index("RUN_FAILURE") :]
    assert "for key ***" in run_failure or "for password ***" in run_failure
    control = runs.control.run_worker_stderr()
    control_failure = control.text[control.text.index("RUN_FAILURE") :]
    assert any(runs.canaries[key] in control_failure for key in failing)


def test_resource_initialisation_failure(runs: Runs) -> None:
    """A resource whose error quotes the value it fetched: the step process stores its error
    redacted; the run worker, which turns it into a step failure and raises it again at the end
    (``dagster job execute``), learns the value from that stored copy."""
    assert find_leaks(runs.canaries, runs.redacted_resource.storage()) == []
    assert find_leaks(runs.canaries, [runs.redacted_resource.run_worker_stderr()]) == []
    assert _leaks(runs, runs.control_resource, ("RESOURCE",))
    failure = _failure_messages(runs.redacted_resource)["needs_warehouse"]
    assert "ConnectionError: warehouse login failed with ***" in failure
    control_stderr = runs.control_resource.run_worker_stderr().text
    assert "warehouse login failed with ***" in runs.redacted_resource.run_worker_stderr().text
    assert runs.canaries["RESOURCE"] in control_stderr
