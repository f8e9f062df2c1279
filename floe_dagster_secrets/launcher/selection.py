"""Which assets a run will execute, and which secrets their ``floe/secrets`` metadata names.

Cheapest correct sources in Dagster 1.13, in order (the launch path reads run storage only
where nothing in memory can answer: each read is a round trip, a new connection with
dagster-postgres):

1. ``run.asset_selection`` / ``run.asset_check_selection``: set on the run itself for every
   asset-selected run (UI materialize, sensors' ``RunRequest(asset_selection=…)``, subsets).
2. A whole-job run (no op selection; ``step_keys_to_execute`` unset, as schedules and sensors
   create it, or naming every step of the job's assets, as the webserver spells it out): the
   job's assets and asset checks as the code location reports them, from the workspace the
   daemon or webserver already holds in memory (``LaunchRunContext.workspace``).
3. Otherwise (a re-execution of some steps, an op selection, no workspace): the run's
   execution plan snapshot, already in run storage (one read by ``execution_plan_snapshot_id``),
   lists each step's outputs with their asset keys.

Asset *metadata* is not in run storage: the job snapshot keeps op output metadata only (empty for
``@dbt_assets``), so the names always come from the code location's asset node snapshots in the
workspace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from dagster import AssetKey, DagsterInstance, DagsterRun

from floe_dagster_secrets.asset_metadata import secrets_from_metadata
from floe_dagster_secrets.errors import InvalidSecretReferenceError

if TYPE_CHECKING:
    from floe_dagster_secrets._dagster_internals import BaseWorkspaceRequestContext


class _AssetNode(Protocol):
    @property
    def asset_key(self) -> AssetKey: ...
    @property
    def op_names(self) -> Sequence[str]: ...
    @property
    def metadata(self) -> Mapping[str, object]: ...


class _AssetCheckNode(Protocol):
    @property
    def asset_key(self) -> AssetKey: ...


class Repository(Protocol):
    """What is read from a code location's ``RemoteRepository`` (all in memory)."""

    def get_asset_node_snaps(self, job_name: str | None = None) -> Sequence[_AssetNode]:
        """The assets ``job_name`` executes (all of the repository's with ``None``)."""
        ...

    def get_asset_check_node_snaps(self, job_name: str | None = None) -> Sequence[_AssetCheckNode]:
        """The asset checks ``job_name`` executes."""
        ...

    def get_asset_node_snap(self, asset_key: AssetKey) -> _AssetNode | None:
        """One asset's snapshot (its metadata), if the repository has it."""
        ...


def run_repository(
    workspace: BaseWorkspaceRequestContext | None, run: DagsterRun
) -> Repository | None:
    """The run's repository in the workspace; ``None`` without a workspace or code location."""
    origin = run.remote_job_origin
    if workspace is None or origin is None or not workspace.has_code_location(origin.location_name):
        return None
    location = workspace.get_code_location(origin.location_name)
    repository: Repository = location.get_repository(origin.repository_origin.repository_name)
    return repository


def run_asset_keys(
    instance: DagsterInstance, run: DagsterRun, repository: Repository | None = None
) -> set[AssetKey]:
    """Asset keys the run will materialize or check (see the module docstring for sources)."""
    if run.asset_selection is not None or run.asset_check_selection is not None:
        keys = set(run.asset_selection or ())
        keys.update(check.asset_key for check in run.asset_check_selection or ())
        return keys
    if repository is not None:
        whole = whole_job_asset_keys(repository, run)
        if whole is not None:
            return whole
    if not run.execution_plan_snapshot_id:
        return set()
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    to_run = set(plan.step_keys_to_execute)
    keys = set()
    for step in plan.steps:
        if step.key not in to_run:
            continue
        for output in step.outputs:
            props = output.properties
            if props is None:
                continue
            if props.asset_key is not None:
                keys.add(props.asset_key)
            if props.asset_check_key is not None:
                keys.add(props.asset_check_key.asset_key)
    return keys


def whole_job_asset_keys(repository: Repository, run: DagsterRun) -> set[AssetKey] | None:
    """The job's assets and checked assets if ``run`` executes the whole job, else ``None``.

    A run executes the whole job when nothing narrows it: no op selection, and no step keys or
    step keys covering every op that computes one of the job's assets (the webserver lists all
    of them for a plain launch). Step keys of dynamic outputs (``op[key]``) count as their op.
    Anything narrower returns ``None`` and is read from the execution plan instead.
    """
    if run.op_selection is not None or run.resolved_op_selection is not None:
        return None
    nodes = repository.get_asset_node_snaps(run.job_name)
    if run.step_keys_to_execute is not None:
        ops = {step.split("[", 1)[0] for step in run.step_keys_to_execute}
        if not all(set(node.op_names) <= ops for node in nodes):
            return None
    keys = {node.asset_key for node in nodes}
    keys.update(check.asset_key for check in repository.get_asset_check_node_snaps(run.job_name))
    return keys


def asset_secrets(
    repository: Repository | None, run: DagsterRun, keys: Iterable[AssetKey]
) -> dict[AssetKey, tuple[str, ...]]:
    """``floe/secrets`` of each asset, from the run's repository in the workspace.

    Raises:
        InvalidSecretReferenceError: there is no workspace or no code location to read from, so
            the run's secrets cannot be known; launching it anyway would either give it too
            much or too little.
    """
    keys = sorted(keys, key=lambda k: k.to_user_string())
    if not keys:
        return {}
    if repository is None:
        raise InvalidSecretReferenceError(
            f"Cannot tell which secrets run {run.run_id} needs: the launcher was called without "
            "a workspace, the run has no code location origin, or its code location is not "
            "loaded",
            fix="launch runs through the daemon, the webserver or instance.launch_run(run_id, "
            "workspace) so the launcher can read the assets' floe/secrets metadata",
        )
    found: dict[AssetKey, tuple[str, ...]] = {}
    for key in keys:
        snap = repository.get_asset_node_snap(key)
        found[key] = secrets_from_metadata(snap.metadata) if snap is not None else ()
    return found


def asset_secrets_from_workspace(
    workspace: BaseWorkspaceRequestContext | None, run: DagsterRun, keys: Iterable[AssetKey]
) -> dict[AssetKey, tuple[str, ...]]:
    """``floe/secrets`` of each asset, from the run's repository in ``workspace``."""
    keys = list(keys)
    if not keys:
        return {}
    return asset_secrets(run_repository(workspace, run), run, keys)


def names_by_asset(found: Mapping[AssetKey, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Printable ``{asset key: secret names}`` for engine events."""
    return {key.to_user_string(): names for key, names in found.items()}
