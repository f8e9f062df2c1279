"""A private copy of the demo code location, so a test owns its store, warehouse and dbt target.

``DemoLocation.run_job`` runs the job the demo's way, after ``write_demo_instance`` has given the
copy the demo's instance (the secrets loader that puts the key into the location's processes).

``definitions/`` resolves every relative path (secrets store, DuckDB file, generated profiles,
dbt ``target/``) against its own directory, so a copy under ``tmp_path`` is fully isolated from
the developer's checkout and from other tests, and runs exactly the committed code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, EventLogEntry

from definitions.instance import write_instance_config
from floe_dagster_secrets.masking import encoded_forms

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
JOB = "floe_demo_job"
LOCATION = "floe_demo"
SECRET = "duckdb-dev-credentials"
NAMESPACE = "floe-jobs"
KEY = "DUCKDB_ENCRYPTION_KEY"
ASSETS = {
    "raw/raw_customers",
    "raw/raw_orders",
    "stg_customers",
    "stg_orders",
    "int_customer_orders",
    "customer_lifetime_value",
}
_NOT_COPIED = shutil.ignore_patterns(
    ".floe", ".dagster_home", "target", "logs", "__pycache__", "dbt_packages"
)


@dataclass(frozen=True)
class DemoLocation:
    """Paths of one copied location."""

    root: Path  # holds definitions/ and workspace.yaml
    home: Path  # DAGSTER_HOME

    @property
    def definitions(self) -> Path:
        return self.root / "definitions"

    @property
    def store(self) -> Path:
        return self.definitions / ".floe" / "secrets"

    @property
    def warehouse(self) -> Path:
        return self.definitions / ".floe" / "warehouse" / "floe_demo.duckdb"

    @property
    def dbt_project(self) -> Path:
        return self.definitions / "dbt_project"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def write_demo_instance(self, *, redacting_storage: bool = False) -> None:
        """This copy's ``DAGSTER_HOME`` as the demo's (``definitions.instance``, what
        ``tools/demo.py`` writes): its secrets loader reads the copy's store for ``floe_demo``."""
        write_instance_config(
            self.home,
            manifest_path=self.definitions / "manifest.yaml",
            redacting_storage=redacting_storage,
        )

    def run_job(self, timeout: float = 300) -> JobResult:
        """The demo's way (``tools/demo.py``): ``dagster job launch -w workspace.yaml`` as a real
        subprocess, then wait for the run in the instance.

        The launch starts a code server for ``floe_demo`` (the instance's secrets loader runs
        there first), which starts the run's process; both write to the same log.
        """
        run_id = str(uuid.uuid4())
        log = self.home / f"launch-{run_id}.log"
        with log.open("w") as handle:
            launched = subprocess.run(
                [
                    str(VENV_BIN / "dagster"),
                    "job",
                    "launch",
                    "-w",
                    str(self.root / "workspace.yaml"),
                    "--location",
                    LOCATION,
                    "--job",
                    JOB,
                    "--run-id",
                    run_id,
                ],
                cwd=self.root,
                env=self.env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        status, events = None, ""
        if launched.returncode == 0:
            deadline = time.monotonic() + timeout
            with DagsterInstance.from_config(str(self.home)) as instance:
                while time.monotonic() < deadline:
                    run = instance.get_run_by_id(run_id)
                    if run is not None and run.is_finished:
                        status = run.status
                        break
                    time.sleep(1)
                events = "\n".join(_event_text(entry) for entry in instance.all_logs(run_id))
        ok = launched.returncode == 0 and status == DagsterRunStatus.SUCCESS
        return JobResult(
            returncode=0 if ok else 1,
            run_id=run_id if launched.returncode == 0 else None,
            stdout=log.read_text(),
            stderr=events,
        )


@dataclass(frozen=True)
class JobResult:
    """One run of the demo job: the launch's console and the run's own event log."""

    returncode: int  # 0 when the launch worked and the run succeeded
    run_id: str | None  # None when the launch itself failed (e.g. the code server did not load)
    stdout: str  # the launch command's output, and its code server's and run process's
    stderr: str  # the run's event log: each event's message and error, as the UI shows them


def _event_text(entry: EventLogEntry) -> str:
    event = entry.dagster_event
    error = getattr(event.event_specific_data, "error", None) if event else None
    parts = [entry.user_message or "", error.to_string() if error is not None else ""]
    return " ".join(part for part in parts if part)


def copy_location(tmp_path: Path) -> DemoLocation:
    """Copy ``definitions/`` and ``workspace.yaml`` into ``tmp_path``; make a DAGSTER_HOME."""
    root = tmp_path / "location"
    shutil.copytree(REPO / "definitions", root / "definitions", ignore=_NOT_COPIED)
    shutil.copy(REPO / "workspace.yaml", root / "workspace.yaml")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return DemoLocation(root=root, home=home)


def files_containing(value: str, roots: list[Path], *, skip: tuple[Path, ...] = ()) -> list[str]:
    """Every file under ``roots`` (except under ``skip``) holding ``value`` in any encoded form."""
    forms = [form.encode() for form in encoded_forms(value)]
    hits = []
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            if any(path.is_relative_to(s) for s in skip):
                continue
            data = path.read_bytes()
            if any(form in data for form in forms):
                hits.append(str(path))
    return hits


def text_hits(value: str, text: str) -> list[str]:
    """The encoded forms of ``value`` found in ``text``."""
    return sorted(form for form in encoded_forms(value) if form in text)
