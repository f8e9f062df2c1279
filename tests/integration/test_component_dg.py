"""FloeSecretsComponent through the real ``dg`` CLI, in a fresh ``dg`` project under tmp_path.

``dg`` finds the component through the package's ``dagster_dg_cli.registry_modules`` entry point,
scaffolds it, validates the project (``dg check defs``), lists what it defines and launches a run
that observes the secret and checks it against the real local store, whose value (a canary) must
appear in no output and no file Dagster wrote.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from tests.e2e.demo_location import ASSETS as DEMO_ASSETS
from tests.e2e.demo_location import copy_location, files_containing, text_hits

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

VENV_BIN = Path(sys.executable).parent
COMPONENT = "floe_dagster_secrets.components.FloeSecretsComponent"
SECRET = "duckdb-dev-credentials"
NAMESPACE = "floe-jobs"

PYPROJECT = """\
[project]
name = "floe-component-test"
version = "0.1.0"
requires-python = ">=3.11"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "secured_project"
"""
DEFINITIONS = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.components.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""
ASSETS_PY = """\
import dagster as dg


@dg.asset
def raw_orders() -> None:
    \"\"\"Uses the warehouse key (the manifest says so).\"\"\"


@dg.asset(deps=[raw_orders])
def revenue() -> None:
    \"\"\"Uses no secret of its own.\"\"\"


nightly = dg.define_asset_job("nightly", selection="*")
"""


def _dg(project: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(project / "src"),  # the project is not installed: src/ layout
        "DAGSTER_HOME": str(home),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(VENV_BIN / "dg"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    package = root / "src" / "secured_project"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    return root


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "dagster_home"
    path.mkdir()
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return path


def _scaffold(project: Path, home: Path) -> Path:
    listed = _dg(project, "list", "components", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    assert COMPONENT in {entry["key"] for entry in json.loads(listed.stdout)["items"]}
    made = _dg(
        project,
        "scaffold",
        "defs",
        COMPONENT,
        "warehouse",
        "--json-params",
        json.dumps({"defs_folder": "transform"}),
        home=home,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    folder = project / "src" / "secured_project" / "defs" / "warehouse"
    assert (folder / "transform").is_dir()
    (folder / "transform" / "assets.py").write_text(ASSETS_PY)
    manifest = folder / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("assets: []", "assets: [raw_orders]"))
    defs_yaml = folder / "defs.yaml"
    defs_yaml.write_text(defs_yaml.read_text() + "  rotation_sensor:\n    job: nightly\n")
    return folder


def test_dg_scaffolds_checks_lists_and_runs_the_component(project: Path, home: Path) -> None:
    folder = _scaffold(project, home)

    checked = _dg(project, "check", "defs", home=home)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    listed = _dg(project, "list", "defs", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assets = {a["asset_key"]: a for a in defs["assets"]}
    assert set(assets) == {"raw_orders", "revenue", f"secrets/{SECRET}"}
    assert assets["raw_orders"]["dependency_keys"] == [f"secrets/{SECRET}"]
    assert {"key": f"floe/secret.{SECRET}", "value": ""} in assets["raw_orders"]["tags"]
    assert f"secrets/{SECRET}" not in assets["revenue"]["dependency_keys"]
    assert {c["key"] for c in defs["asset_checks"]} == {"raw_orders:floe_secrets"}
    assert [s["name"] for s in defs["sensors"]] == ["floe_secret_rotation"]
    assert {r["name"] for r in defs["resources"]} >= {"secrets"}

    canary = f"canary{secrets.token_urlsafe(24)}"
    LocalSecretsPlugin(path=folder / ".floe" / "secrets").create_secret(
        SECRET, NAMESPACE, {"DUCKDB_ENCRYPTION_KEY": canary}
    )
    ran = _dg(project, "launch", "--assets", "*", home=home)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-4000:]
    assert "Asset check 'floe_secrets' on 'raw_orders' passed" in output
    assert "RUN_SUCCESS" in output
    assert text_hits(canary, output) == []
    assert files_containing(canary, [home, project], skip=(folder / ".floe",)) == []


def test_dg_check_defs_names_a_missing_manifest(project: Path, home: Path) -> None:
    folder = project / "src" / "secured_project" / "defs" / "warehouse"
    folder.mkdir()
    (folder / "defs.yaml").write_text(
        f"type: {COMPONENT}\nattributes:\n  manifest: nowhere/manifest.yaml\n"
    )

    checked = _dg(project, "check", "defs", home=home)

    output = checked.stdout + checked.stderr
    assert checked.returncode != 0
    assert "manifest 'nowhere/manifest.yaml' is not a file" in output
    assert "Fix:" in output


def test_dg_check_defs_passes_on_the_demo_project(tmp_path: Path) -> None:
    """The demo (``definitions/``) is a dg project: ``dg check defs`` loads it as ``dg dev`` would,
    the FloeSecretsComponent wrapping its dbt assets."""
    location = copy_location(tmp_path)

    checked = _dg(location.definitions, "check", "defs", home=location.home)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    listed = _dg(location.definitions, "list", "defs", "--json", home=location.home)
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assets = {a["asset_key"]: a for a in defs["assets"]}
    assert set(assets) == {*DEMO_ASSETS, f"secrets/{SECRET}"}
    assert all(f"secrets/{SECRET}" in assets[key]["dependency_keys"] for key in DEMO_ASSETS)
    assert [s["name"] for s in defs["sensors"]] == ["floe_secret_rotation"]
    assert [s["name"] for s in defs["schedules"]] == ["floe_demo_daily"]
    assert {r["name"] for r in defs["resources"]} == {"dbt", "secrets"}
