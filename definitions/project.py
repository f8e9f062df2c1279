"""``definitions.project``, the name the Dockerfile's parse step and the benchmarks import: the
dg project's ``floe_demo.project``."""

from floe_demo.project import (
    DBT_PROJECT_DIR,
    MANIFEST_PATH,
    PARTIAL_PARSE_FILE,
    PROFILES_DIR,
    FloeDbtPreparer,
    Project,
    dbt_executable,
    load_project,
    prepare,
    secrets_store_base_dir,
)

__all__ = [
    "DBT_PROJECT_DIR",
    "MANIFEST_PATH",
    "PARTIAL_PARSE_FILE",
    "PROFILES_DIR",
    "FloeDbtPreparer",
    "Project",
    "dbt_executable",
    "load_project",
    "prepare",
    "secrets_store_base_dir",
]
