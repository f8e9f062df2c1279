"""Everything the code location derives from ``manifest.yaml``, computed once at load time.

Nothing here reads a secret: the generated ``profiles.yml`` only holds
``env_var('DBT_ENV_SECRET_…')`` references, and ``dbt parse`` (which renders the profile too) gets
placeholder values, because parsing never connects to the warehouse.
"""

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

from floe_dagster_secrets.dbt import profile_env, required_secret_keys, write_profiles_yml
from floe_dagster_secrets.manifest import Manifest, load_manifest

HERE = Path(__file__).resolve().parent
MANIFEST_PATH = HERE / "manifest.yaml"
DBT_PROJECT_DIR = HERE / "dbt_project"
# Inside target/, which git ignores; regenerated at every load, so it can never go stale.
PROFILES_DIR = DBT_PROJECT_DIR / "target" / "floe-profiles"
PROFILE_NAME = "floe"
# dbt's parse of the last demo run, reused by the next ``dbt build`` (definitions.py).
PARTIAL_PARSE_FILE = DBT_PROJECT_DIR / "target" / "floe-partial-parse.msgpack"
PARSE_PLACEHOLDER = "placeholder-for-dbt-parse"


@dataclass(frozen=True)
class Project:
    """The loaded manifest and the paths derived from it."""

    manifest: Manifest
    warehouse_path: Path
    dbt: DbtProject

    @property
    def connection_secret(self) -> str:
        """Name of the compute connection secret (the manifest must name one)."""
        name = self.manifest.plugins.compute.connection_secret_ref
        if not name:
            raise ValueError("the demo's manifest must set plugins.compute.connection_secret_ref")
        return name


def _resolve(path: str) -> Path:
    """Relative paths in the manifest are relative to the manifest, not to the working directory."""
    return Path(path) if Path(path).is_absolute() else MANIFEST_PATH.parent / path


def dbt_executable() -> str:
    """The ``dbt`` next to this interpreter, so runs work without an activated virtualenv."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def _write_profile(manifest: Manifest, warehouse_path: Path) -> None:
    compute = manifest.plugins.compute
    settings: dict[str, Any] = {**compute.config, "path": str(warehouse_path)}
    write_profiles_yml(
        PROFILES_DIR, compute.type, settings, profile_name=PROFILE_NAME, target=manifest.environment
    )


def _parse(project: DbtProject, manifest: Manifest) -> None:
    """Write ``target/manifest.json`` with ``dbt parse``, atomically (runs may parse at once)."""
    compute = manifest.plugins.compute
    keys = required_secret_keys(compute.type, settings=compute.config)
    placeholders = dict.fromkeys(keys, PARSE_PLACEHOLDER)
    env = {
        **os.environ,
        **profile_env(compute.type, placeholders, settings=compute.config),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    with tempfile.TemporaryDirectory(dir=project.project_dir / "target") as scratch:
        subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(project.project_dir),
                "--profiles-dir",
                str(PROFILES_DIR),
                "--target",
                manifest.environment,
                "--target-path",
                scratch,
                "--log-path",
                scratch,
            ],
            env=env,
            check=True,
        )
        Path(scratch, "manifest.json").replace(project.manifest_path)


def _is_stale(project: DbtProject) -> bool:
    """Whether a model, seed, test or ``dbt_project.yml`` changed after the last parse."""
    if not project.manifest_path.exists():
        return True
    parsed_at = project.manifest_path.stat().st_mtime
    sources = [project.project_dir / "dbt_project.yml"]
    for folder in ("models", "seeds", "tests", "macros", "snapshots", "analyses"):
        sources.extend(p for p in (project.project_dir / folder).rglob("*") if p.is_file())
    return any(path.stat().st_mtime > parsed_at for path in sources)


def load_project() -> Project:
    """Load the manifest, write the profile and make sure dbt's manifest.json exists.

    The project is re-parsed when a source file is newer than ``manifest.json``, and on every
    load under ``dagster dev``, as ``DbtProject.prepare_if_dev`` would do (which cannot be used
    here: it runs ``dbt parse`` with the process environment, where the ``DBT_ENV_SECRET_*``
    variables are not set).
    """
    manifest = load_manifest(MANIFEST_PATH)
    warehouse_path = _resolve(str(manifest.plugins.compute.config["path"]))
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    _write_profile(manifest, warehouse_path)
    dbt_project = DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=PROFILES_DIR, target=manifest.environment
    )
    if _is_stale(dbt_project) or os.getenv("DAGSTER_IS_DEV_CLI"):
        _parse(dbt_project, manifest)
    return Project(manifest=manifest, warehouse_path=warehouse_path, dbt=dbt_project)


def secrets_store_base_dir() -> Path:
    """Directory relative paths of ``plugins.secrets.config`` are resolved against."""
    return MANIFEST_PATH.parent
