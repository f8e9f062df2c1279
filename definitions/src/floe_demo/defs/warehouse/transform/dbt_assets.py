"""The demo's data: dbt models on an encrypted DuckDB, the key fetched when the step runs.

One ``@dbt_assets`` over ``definitions/dbt_project/`` (seeds → staging → intermediate → mart, dbt
tests as asset checks), the job that builds and checks all of it, a daily schedule and the
``dbt`` resource. The ``FloeSecretsComponent`` of the folder above (``../defs.yaml``) loads this
folder and adds the rest from ``manifest.yaml``: the ``secrets`` resource (where the store is,
not what is in it), the observable asset ``secrets/duckdb-dev-credentials`` (group
``floe_secrets``) upstream of every dbt asset, which carries a
``floe/secret.duckdb-dev-credentials`` tag, a ``floe_secrets`` check on each, and the
``floe_secret_rotation`` sensor; each fetch is an observation of the secret in the run log
(docs/lineage.md). The DuckDB key reaches dbt only as ``DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY``
in the dbt process environment.
"""

import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AssetSpec,
    Definitions,
    Failure,
    MetadataValue,
    Output,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError
from floe_demo.project import PARTIAL_PARSE_FILE, dbt_executable, load_project
from floe_demo.warehouse import check_key, row_counts
from packaging.version import Version

from floe_dagster_secrets.dbt import SECRET_ENV_PREFIX, required_secret_keys
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.resources import FloeSecretsResource, secrets_metadata

ENCRYPTION_KEY = "DUCKDB_ENCRYPTION_KEY"
JOB_NAME = "floe_demo_job"

PROJECT = load_project()
MANIFEST = PROJECT.manifest


class FloeDbtTranslator(DagsterDbtTranslator):
    """dagster-dbt's defaults, plus ``floe/secrets`` metadata naming the compute connection secret.

    Every dbt node runs on the compute connection, so every dbt asset needs that secret. The
    ``FloeSecretsComponent`` turns this metadata (and the manifest's ``secrets.<name>.assets``)
    into the ``secrets/<name>`` dep, the ``floe/secret.<name>`` tag, the check and the launcher's
    per-run secrets.
    """

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        return spec.merge_attributes(metadata=secrets_metadata([PROJECT.connection_secret]))


class DemoDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, minus its ``dbt --version`` process when dbt is this venv's.

    dagster-dbt starts ``dbt --version`` once per resource to learn the version (a whole dbt
    start, and a PyPI lookup, several seconds). The ``dbt`` next to this interpreter is the
    dbt-core installed here, whose version the package metadata already holds. Relies on
    dagster-dbt's private ``_cli_version`` (pinned dagster-dbt 0.29); any other executable gets
    dagster-dbt's own lookup.
    """

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable) == Path(sys.executable).parent / "dbt":
            return Version(installed_version("dbt-core"))
        found: Version = super()._cli_version
        return found


@contextmanager
def _process_env(extra: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the duration of ``dbt.cli(...)``, which copies ``os.environ`` into dbt.

    ``DbtCliResource.cli`` has no ``env`` argument: it starts dbt with a copy of this process's
    environment (and loads the profile in-process), so the connection variables are set only
    while the dbt process is being started, then removed again.
    """
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _env_from_pod() -> dict[str, str] | None:
    """The connection variables when the run launcher already put them into this process.

    In a Job pod launched by ``FloeK8sRunLauncher`` the connection secret arrives through
    ``envFrom`` with the ``DBT_ENV_SECRET_`` prefix, so there is nothing to fetch. ``None`` (fetch
    from the configured backend) unless every required variable is set.
    """
    compute = MANIFEST.plugins.compute
    names = [
        f"{SECRET_ENV_PREFIX}{key}"
        for key in required_secret_keys(compute.type, settings=compute.config)
    ]
    if not names or not all(os.environ.get(name) for name in names):
        return None
    return {name: os.environ[name] for name in names}


def _partial_parse_env() -> dict[str, str]:
    """Point dbt at the last run's parse, so ``dbt build`` re-parses only what changed.

    dagster-dbt gives each invocation a fresh target directory, where dbt finds no
    ``partial_parse.msgpack`` and parses the whole project again. dbt reads the file named by
    ``DBT_PARTIAL_PARSE_FILE_PATH`` instead, and rejects it by itself (full parse) when the
    project, the profile or dbt changed.
    """
    if not PARTIAL_PARSE_FILE.exists():
        return {}
    return {"DBT_PARTIAL_PARSE_FILE_PATH": str(PARTIAL_PARSE_FILE)}


def _keep_partial_parse(target_path: Any) -> None:
    """Keep this invocation's parse for the next run (atomically: runs may overlap)."""
    parsed = target_path / "partial_parse.msgpack"
    if not parsed.exists():
        return
    scratch = PARTIAL_PARSE_FILE.with_name(f".{PARTIAL_PARSE_FILE.name}.{os.getpid()}")
    shutil.copyfile(parsed, scratch)
    scratch.replace(PARTIAL_PARSE_FILE)


def _relations() -> dict[str, str]:
    """dbt unique_id → ``schema.table`` of every seed and model dbt builds as a relation."""
    manifest = json.loads(PROJECT.dbt.manifest_path.read_text())
    return {
        unique_id: f"{node['schema']}.{node['alias']}"
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("seed", "model")
        and node["config"].get("materialized") != "ephemeral"
    }


def _unique_id(event: Output[Any]) -> str | None:
    value = event.metadata.get("unique_id")
    text = getattr(value, "value", value)
    return text if isinstance(text, str) else None


@dbt_assets(
    manifest=PROJECT.dbt.manifest_path,
    project=PROJECT.dbt,
    name="floe_demo_dbt",
    dagster_dbt_translator=FloeDbtTranslator(),
)
def floe_demo_dbt(
    context: AssetExecutionContext, dbt: DemoDbtCliResource, secrets: FloeSecretsResource
) -> Iterator[Any]:
    """``dbt build`` with the connection secret fetched now, from the configured backend."""
    secret = PROJECT.connection_secret
    try:
        pod_env = _env_from_pod()
        env = pod_env if pod_env is not None else secrets.dbt_env(MANIFEST)
        key = env.get(f"{SECRET_ENV_PREFIX}{ENCRYPTION_KEY}") or (
            secrets.get_secret(secret)[ENCRYPTION_KEY].reveal()
        )
        where = {"secret": secret, "namespace": secrets.namespace, "backend": secrets.backend}
        check_key(PROJECT.warehouse_path, key, **where)
    except FloeSecretsError as e:
        raise Failure(description=str(e)) from e

    with _process_env({**env, **_partial_parse_env()}):
        invocation = dbt.cli(["build"], context=context)
    events: list[Any] = []
    try:
        events.extend(invocation.stream())
    except DagsterDbtCliRuntimeError:
        yield from events
        raise
    _keep_partial_parse(invocation.target_path)

    # dbt has exited and released the database file: count what it built.
    relations = _relations()
    built = {uid for event in events if isinstance(event, Output) and (uid := _unique_id(event))}
    counts = row_counts(
        PROJECT.warehouse_path,
        key,
        [(uid, relations[uid]) for uid in sorted(built) if uid in relations],
        **where,
    )
    for event in events:
        uid = _unique_id(event) if isinstance(event, Output) else None
        if uid in counts:
            yield event.with_metadata(
                {**event.metadata, "dagster/row_count": MetadataValue.int(counts[uid])}
            )
        else:
            yield event


# In-process: one dbt step and one check step need no process each (every step process would
# start Python and load this code location again, several seconds each; benchmarks/README.md).
floe_demo_job = define_asset_job(
    JOB_NAME,
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description=(
        "Builds the demo warehouse: `dbt build` (seeds, staging, intermediate, mart and dbt "
        "tests) on an encrypted DuckDB whose key is fetched from the secrets store when the "
        "step runs, then the `floe_secrets` checks (each asset's secrets exist, hold their keys "
        "and are younger than `max_age_days`). The `secrets/*` assets are observed, not built."
    ),
)

floe_demo_daily = ScheduleDefinition(
    name="floe_demo_daily",
    job=floe_demo_job,
    # FLOE_DEMO_SCHEDULE_CRON on the code server changes when (deploy/'s in-cluster test ticks it
    # every minute); the description says the default.
    cron_schedule=os.environ.get("FLOE_DEMO_SCHEDULE_CRON", "0 6 * * *"),
    execution_timezone="UTC",
    description=(
        "Runs `floe_demo_job` every day at 06:00 UTC, so the warehouse is rebuilt and the "
        "secrets' age is checked daily even when no secret is rotated."
    ),
)

# The secrets resource, checks, secret assets and sensor come from the FloeSecretsComponent.
defs = Definitions(
    assets=[floe_demo_dbt],
    jobs=[floe_demo_job],
    schedules=[floe_demo_daily],
    resources={
        "dbt": DemoDbtCliResource(project_dir=PROJECT.dbt, dbt_executable=dbt_executable()),
    },
)

__all__ = ["defs"]
