"""Which assets a run will execute, and which secrets their ``floe/secrets`` metadata names.

Cheapest correct sources in Dagster 1.13, in order:

1. ``run.asset_selection`` / ``run.asset_check_selection``: set on the run itself for every
   asset-selected run (UI materialize, sensors' ``RunRequest(asset_selection=…)``, subsets), so
   no read at all.
2. Otherwise the run executes its whole job, or the ``step_keys_to_execute`` of a re-execution:
   the run's execution plan snapshot, already in run storage (one read by
   ``execution_plan_snapshot_id``), lists each step's outputs with their asset keys.

Asset *metadata* is not in run storage: the job snapshot keeps op output metadata only (empty for
``@dbt_assets``), so the names come from the code location's asset node snapshots, which the
workspace the daemon or webserver already holds in memory (``LaunchRunContext.workspace``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from dagster import AssetKey, DagsterInstance, DagsterRun

from floe_dagster_secrets.errors import InvalidSecretReferenceError
from floe_dagster_secrets.resources.metadata import secrets_from_metadata

if TYPE_CHECKING:
    from floe_dagster_secrets._dagster_internals import BaseWorkspaceRequestContext


def run_asset_keys(instance: DagsterInstance, run: DagsterRun) -> set[AssetKey]:
    """Asset keys the run will materialize or check (see the module docstring for sources)."""
    if run.asset_selection is not None or run.asset_check_selection is not None:
        keys = set(run.asset_selection or ())
        keys.update(check.asset_key for check in run.asset_check_selection or ())
        return keys
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


def asset_secrets_from_workspace(
    workspace: BaseWorkspaceRequestContext | None, run: DagsterRun, keys: Iterable[AssetKey]
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
    origin = run.remote_job_origin
    if workspace is None or origin is None:
        raise InvalidSecretReferenceError(
            f"Cannot tell which secrets run {run.run_id} needs: the launcher was called without "
            "a workspace (or the run has no code location origin)",
            fix="launch runs through the daemon, the webserver or instance.launch_run(run_id, "
            "workspace) so the launcher can read the assets' floe/secrets metadata",
        )
    location = workspace.get_code_location(origin.location_name)
    repository = location.get_repository(origin.repository_origin.repository_name)
    found: dict[AssetKey, tuple[str, ...]] = {}
    for key in keys:
        snap = repository.get_asset_node_snap(key)
        found[key] = secrets_from_metadata(snap.metadata) if snap is not None else ()
    return found


def names_by_asset(found: Mapping[AssetKey, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Printable ``{asset key: secret names}`` for engine events."""
    return {key.to_user_string(): names for key, names in found.items()}
