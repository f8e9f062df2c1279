"""The demo's data: dbt models on an encrypted DuckDB, the key in the step's environment.

One ``@dbt_assets`` over ``definitions/dbt_project/`` (seeds → staging → intermediate → mart, dbt
tests as asset checks), the job that builds and checks all of it, a daily schedule and the
``dbt`` resource. The ``FloeSecretsComponent`` of the folder above (``../defs.yaml``) loads this
folder and adds the rest from ``manifest.yaml``: the ``secrets`` resource (where the store is,
not what is in it), the observable asset ``secrets/duckdb-dev-credentials`` (group
``floe_secrets``) upstream of every dbt asset, which carries a
``floe/secret.duckdb-dev-credentials`` tag, a ``floe_secrets`` check on each, and the
``floe_secret_rotation`` sensor. The dbt step records which secret it took from its environment
as an observation of the secret in the run log (names only; docs/lineage.md).

The step never writes ``os.environ`` (dagster-dbt's ``DbtCliResource.cli`` has no ``env``
argument: it copies this process's environment into dbt, and loads the profile in-process from
it, so setting variables around it would race with other threads). The connection secret is in
the environment before any code runs, as ``DBT_ENV_SECRET_<KEY>``, put there by whoever starts the
process: in a Job pod of ``FloeK8sRunLauncher`` by ``envFrom``; under ``tools/demo.py``,
``dagster dev`` or the webserver by the instance's ``FloeSecretsLoader`` (``dagster.yaml``,
written by :mod:`floe_demo.instance`), which Dagster calls when a code server or run worker
starts. The step only reads it, and fails naming the secret, the backend and the fix when it is
not there.
"""

import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetObservation,
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

from floe_dagster_secrets.assets import access_metadata, secret_asset_key
from floe_dagster_secrets.audit import AuditEvent, current_actor
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
    """dagster-dbt's resource, minus two pieces of set-up this asset never uses.

    - ``dbt --version``: dagster-dbt starts it once per resource to learn the version (a whole
      dbt start, and a PyPI lookup, several seconds). The ``dbt`` next to this interpreter is
      the dbt-core installed here, whose version the package metadata already holds; any other
      executable gets dagster-dbt's own lookup.
    - The in-process dbt adapter: before every ``dbt.cli(...)`` dagster-dbt loads the profile
      and the project in this process and registers the adapter (dbt-duckdb here), only for
      ``fetch_row_counts()`` / ``fetch_column_metadata()`` on the event stream. This asset calls
      neither (it counts rows itself once dbt has exited), so it skips that set-up; dagster-dbt
      runs without an adapter whenever its set-up fails, so ``None`` is a state it handles.

    Both override private methods of dagster-dbt (pinned 0.29: ``_cli_version``,
    ``_initialize_dbt_core_adapter``); ``tests/e2e/test_demo.py`` runs the job through them.
    """

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable) == Path(sys.executable).parent / "dbt":
            return Version(installed_version("dbt-core"))
        found: Version = super()._cli_version
        return found

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


def _connection_env(secrets: FloeSecretsResource) -> dict[str, str]:
    """The connection variables this process was started with (read, never written).

    Raises:
        Failure: a required ``DBT_ENV_SECRET_<KEY>`` is not set, naming the secret, the backend
            and the two ways to provide it.
    """
    compute = MANIFEST.plugins.compute
    keys = required_secret_keys(compute.type, settings=compute.config)
    names = [f"{SECRET_ENV_PREFIX}{key}" for key in keys]
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        secret = PROJECT.connection_secret
        raise Failure(
            description=(
                f"Secret '{secret}' ({secrets.backend} backend, namespace "
                f"'{secrets.namespace}') is not in this run's environment: "
                f"{', '.join(missing)} not set. The dbt step reads the connection secret from "
                "the environment its process was started with; it never fetches it itself. "
                "Fix: run the demo with tools/demo.py (its instance's dagster.yaml has a "
                f"FloeSecretsLoader for secret '{secret}' with prefix '{SECRET_ENV_PREFIX}' and "
                "location 'floe_demo'; floe_demo.instance.write_instance_config writes one for "
                "another DAGSTER_HOME), or launch it with FloeK8sRunLauncher, whose Job pod gets "
                "the secret through envFrom."
            ),
            metadata={"secret": secret, "backend": secrets.backend, "missing": ", ".join(missing)},
        )
    return {name: os.environ[name] for name in names}


def _env_observation(context: AssetExecutionContext, secrets: FloeSecretsResource) -> None:
    """The run log's access event for a secret the step took from its environment.

    The backend access itself happened when the process started (the loader's, or the
    kubelet's for ``envFrom``), outside any step; this records which secret, which keys and which
    step used it, in the same shape as a fetch's observation (names only, never a value).
    """
    secret = PROJECT.connection_secret
    compute = MANIFEST.plugins.compute
    step = context.get_step_execution_context().step.key
    event = AuditEvent(
        backend=secrets.backend,
        operation="environment",
        namespace=secrets.namespace,
        name=secret,
        keys=sorted(required_secret_keys(compute.type, settings=compute.config)),
        actor=current_actor(),
    )
    context.log_event(
        AssetObservation(
            asset_key=secret_asset_key(secret),
            description=(
                f"Step `{step}` took secret `{secret}` ({secrets.backend} backend) from its "
                "process environment, where the instance's secrets loader or the Job pod's "
                "envFrom put it when the process started"
            ),
            metadata=access_metadata(event, version=None, step=step),
        )
    )


def _partial_parse_args() -> list[str]:
    """Point dbt at the last run's parse, so ``dbt build`` re-parses only what changed.

    dagster-dbt gives each invocation a fresh target directory, where dbt finds no
    ``partial_parse.msgpack`` and parses the whole project again. dbt's
    ``--partial-parse-file-path`` (a global flag of every command) names the file to read
    instead; dbt rejects it by itself (full parse) when the project, the profile or dbt changed.
    """
    if not PARTIAL_PARSE_FILE.exists():
        return []
    return ["--partial-parse-file-path", str(PARTIAL_PARSE_FILE)]


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
    """``dbt build`` with the connection secret its process was started with."""
    secret = PROJECT.connection_secret
    env = _connection_env(secrets)
    _env_observation(context, secrets)
    key = env[f"{SECRET_ENV_PREFIX}{ENCRYPTION_KEY}"]
    where = {"secret": secret, "namespace": secrets.namespace, "backend": secrets.backend}
    try:
        check_key(PROJECT.warehouse_path, key, **where)
    except FloeSecretsError as e:
        raise Failure(description=str(e)) from e

    invocation = dbt.cli(["build", *_partial_parse_args()], context=context)
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
