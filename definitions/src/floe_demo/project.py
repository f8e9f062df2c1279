"""Everything the demo derives from ``manifest.yaml``, computed once at load time.

Nothing here reads a secret: the generated ``profiles.yml`` only holds
``env_var('DBT_ENV_SECRET_…')`` references, and ``dbt parse`` (which renders the profile too) gets
placeholder values, because parsing never connects to the warehouse. Paths are relative to
``definitions/``, the dg project's home, so a copy of that folder is a self-contained location.
"""

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import DbtProjectPreparer
from dagster_shared.record import replace

from floe_dagster_secrets.dbt import profile_env, required_secret_keys, write_profiles_yml
from floe_dagster_secrets.manifest import Manifest, load_manifest

# definitions/, the dg project's home: src/floe_demo/project.py is two levels below it.
HERE = Path(__file__).resolve().parents[2]
MANIFEST_PATH = HERE / "manifest.yaml"
DBT_PROJECT_DIR = HERE / "dbt_project"
# Inside target/, which git ignores; regenerated at every load, so it can never go stale.
PROFILES_DIR = DBT_PROJECT_DIR / "target" / "floe-profiles"
PROFILE_NAME = "floe"
# dbt's parse of the last demo run, reused by the next ``dbt build`` (transform/dbt_assets.py).
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


class FloeDbtPreparer(DbtProjectPreparer):
    """dagster-dbt's preparer contract (``DbtProject.prepare_if_dev``, ``prepare``) for a profile
    whose connection values are secrets.

    ``dbt parse`` renders ``profiles.yml`` too, so every ``env_var('DBT_ENV_SECRET_…')`` it names
    must be set: they get placeholders, passed to the dbt process's own environment (never to
    this process's), since parsing never connects. ``manifest.json`` is replaced atomically, so
    processes loading the project at once never read half a file.
    """

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def prepare_if_dev(self, project: DbtProject) -> None:
        """Re-parse at every load under ``dagster dev`` / ``dg dev``, as dagster-dbt's own does."""
        if self.using_dagster_dev():
            self.prepare(project)

    def prepare(self, project: DbtProject) -> None:
        """Write ``target/manifest.json`` with ``dbt parse``."""
        compute = self.manifest.plugins.compute
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
                    str(project.profiles_dir),
                    "--target",
                    self.manifest.environment,
                    "--target-path",
                    scratch,
                    "--log-path",
                    scratch,
                ],
                env=env,
                check=True,
            )
            Path(scratch, "manifest.json").replace(project.manifest_path)


def load_project(*, force_prepare: bool = False) -> Project:
    """Load the manifest, write the profile, and prepare the dbt project when it must be.

    The dbt project is a ``DbtProject`` with :class:`FloeDbtPreparer`: it is parsed under
    ``dagster dev``/``dg dev`` (``prepare_if_dev``), and otherwise only when ``manifest.json`` is
    missing (a fresh checkout, or the image build, which runs this once so that neither the code
    server nor a run pod parses), or when ``force_prepare`` is set. After editing a model outside
    ``dagster dev``, run ``python -c "from definitions.project import prepare; prepare()"`` to
    parse again.
    """
    manifest = load_manifest(MANIFEST_PATH)
    warehouse_path = _resolve(str(manifest.plugins.compute.config["path"]))
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    _write_profile(manifest, warehouse_path)
    dbt_project = replace(
        DbtProject(
            project_dir=DBT_PROJECT_DIR, profiles_dir=PROFILES_DIR, target=manifest.environment
        ),
        preparer=FloeDbtPreparer(manifest),
    )
    if force_prepare or not dbt_project.manifest_path.exists():
        dbt_project.preparer.prepare(dbt_project)
    else:
        dbt_project.prepare_if_dev()
    return Project(manifest=manifest, warehouse_path=warehouse_path, dbt=dbt_project)


def prepare() -> None:
    """Parse the dbt project now (the image build and ``tools/demo.sh`` call this)."""
    load_project(force_prepare=True)


def secrets_store_base_dir() -> Path:
    """Directory relative paths of ``plugins.secrets.config`` are resolved against."""
    return MANIFEST_PATH.parent
