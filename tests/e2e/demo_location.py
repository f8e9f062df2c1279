"""A private copy of the demo code location, so a test owns its store, warehouse and dbt target.

``definitions/`` resolves every relative path (secrets store, DuckDB file, generated profiles,
dbt ``target/``) against its own directory, so a copy under ``tmp_path`` is fully isolated from
the developer's checkout and from other tests, and runs exactly the committed code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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

    def execute_job(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``dagster job execute`` as a real subprocess (multiprocess executor, compute logs)."""
        return subprocess.run(
            [
                str(VENV_BIN / "dagster"),
                "job",
                "execute",
                "--module-name",
                "definitions.definitions",
                "--attribute",
                "defs",
                "--working-directory",
                str(self.root),
                "--job",
                JOB,
            ],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


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
