"""Which assets a run executes without reading run storage, and the launch record's bounded tags.

Real Dagster (an in-process workspace over a real code location, a temp SQLite instance); the
run-storage read that a whole-job run no longer needs is observed on the real instance.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.test_utils import in_process_test_workspace, instance_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_k8s import K8sRunLauncher

from floe_dagster_secrets.launcher import _dagster_k8s_internals as internals
from floe_dagster_secrets.launcher.launch_record import (
    REFS_TAG_MAX_CHARS,
    LaunchRecord,
    is_refs_digest,
    refs_tag_value,
    run_fingerprint,
)
from floe_dagster_secrets.launcher.selection import run_asset_keys, run_repository

DEFS = """\
from dagster import AssetCheckResult, Definitions, asset, asset_check, define_asset_job


@asset(metadata={"floe/secrets": "a-credentials"})
def a():
    return 1


@asset(deps=[a], metadata={"floe/secrets": "b-credentials"})
def b():
    return 1


@asset(metadata={"floe/secrets": "c-credentials"})
def c():
    return 1


@asset_check(asset=c)
def c_fresh():
    return AssetCheckResult(passed=True)


defs = Definitions(
    assets=[a, b, c],
    asset_checks=[c_fresh],
    jobs=[define_asset_job("ab_job", selection=[a, b])],
)
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[DagsterInstance, Any]]:
    path = tmp_path / "selection_defs.py"
    path.write_text(DEFS)
    origin = LoadableTargetOrigin(python_file=str(path), attribute="defs")
    with (
        instance_for_test() as instance,
        in_process_test_workspace(instance, origin) as ws,
    ):
        yield instance, ws


def make_run(
    instance: DagsterInstance, ws: Any, job_name: str, *, steps: list[str] | str | None = "all"
) -> DagsterRun:
    location_name = ws.code_location_names[0]
    location = ws.get_code_location(location_name)
    repository = next(iter(location.get_repositories().values()))
    remote = location.get_job(
        JobSubsetSelector(
            location_name=location_name,
            repository_name=repository.name,
            job_name=job_name,
            op_selection=None,
        )
    )
    plan = location.get_execution_plan(remote, {}, steps if steps != "all" else None, None)
    keys = plan.execution_plan_snapshot.step_keys_to_execute if steps == "all" else steps
    return instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config={},
        status=DagsterRunStatus.NOT_STARTED,
        tags={},
        root_run_id=None,
        parent_run_id=None,
        step_keys_to_execute=keys,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        job_snapshot=remote.job_snapshot,
        parent_job_snapshot=remote.parent_job_snapshot,
        asset_selection=None,
        asset_check_selection=None,
        resolved_op_selection=None,
        op_selection=None,
        remote_job_origin=remote.get_remote_origin(),
        job_code_origin=remote.get_python_origin(),
        asset_graph=ws.asset_graph,
    )


class PlanReads:
    """Counts the instance's execution-plan reads (the storage read a launch should not need)."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.count = 0
        self._read = instance.get_execution_plan_snapshot

        def counted(snapshot_id: str) -> Any:
            self.count += 1
            return self._read(snapshot_id)

        instance.get_execution_plan_snapshot = counted  # type: ignore[method-assign]


@pytest.mark.parametrize("steps", ["all", None], ids=["webserver-spelled-out", "schedule-none"])
def test_whole_job_run_reads_its_assets_from_the_workspace_not_run_storage(
    workspace: tuple[DagsterInstance, Any], steps: str | None
) -> None:
    instance, ws = workspace
    run = make_run(instance, ws, "ab_job", steps=steps)
    reads = PlanReads(instance)
    keys = run_asset_keys(instance, run, run_repository(ws, run))
    assert keys == {AssetKey("a"), AssetKey("b")}
    assert reads.count == 0


def test_re_execution_of_some_steps_reads_the_plan_and_gets_only_those(
    workspace: tuple[DagsterInstance, Any],
) -> None:
    instance, ws = workspace
    run = make_run(instance, ws, "ab_job", steps=["b"])
    reads = PlanReads(instance)
    assert run_asset_keys(instance, run, run_repository(ws, run)) == {AssetKey("b")}
    assert reads.count == 1


def test_whole_implicit_asset_job_includes_checked_assets(
    workspace: tuple[DagsterInstance, Any],
) -> None:
    instance, ws = workspace
    run = make_run(instance, ws, "__ASSET_JOB", steps=None)
    keys = run_asset_keys(instance, run, run_repository(ws, run))
    assert keys == {AssetKey("a"), AssetKey("b"), AssetKey("c")}


def test_without_a_workspace_the_plan_is_read(workspace: tuple[DagsterInstance, Any]) -> None:
    instance, ws = workspace
    run = make_run(instance, ws, "ab_job")
    assert run_repository(None, run) is None
    assert run_asset_keys(instance, run, None) == {AssetKey("a"), AssetKey("b")}


def test_refs_tag_is_the_names_while_short_and_a_digest_beyond() -> None:
    few = ("a-credentials", "b-credentials")
    assert refs_tag_value(few) == "a-credentials,b-credentials"
    many = tuple(f"warehouse-{i:04d}-readonly-credentials" for i in range(1000))
    value = refs_tag_value(many)
    assert is_refs_digest(value)
    assert len(value) < 80 < REFS_TAG_MAX_CHARS
    assert refs_tag_value(many) == value  # deterministic: checked against the launch event


def test_record_tags_stay_small_and_the_event_holds_each_secret() -> None:
    names = tuple(f"s-{i:04d}-credentials" for i in range(500))
    versions = {name: str(1000 + i) for i, name in enumerate(names)}
    record = LaunchRecord.checked(names, versions, namespace="ns", key=b"k" * 32)
    tags = record.tags()
    assert sum(len(v) for v in tags.values()) < 200
    assert tags["floe/secrets-fingerprint"] == run_fingerprint(
        b"k" * 32, namespace="ns", versions=versions
    )
    event = record.event_metadata()
    assert all(name in event["floe secret versions"] for name in names)
    unkeyed = LaunchRecord.checked(names, versions, namespace="ns", key=None)
    assert "floe/secrets-fingerprint" not in unkeyed.tags()
    assert unkeyed.event_metadata()["floe secret fingerprints"] == "(no key)"


def test_run_fingerprint_changes_with_any_version_and_the_namespace() -> None:
    key = b"k" * 32
    base = run_fingerprint(key, namespace="ns", versions={"a": "1", "b": "2"})
    assert base == run_fingerprint(key, namespace="ns", versions={"b": "2", "a": "1"})
    assert base != run_fingerprint(key, namespace="ns", versions={"a": "1", "b": "3"})
    assert base != run_fingerprint(key, namespace="other", versions={"a": "1", "b": "2"})


def test_the_copied_job_launch_is_dagster_k8s_s_current_source() -> None:
    """``FloeK8sRunLauncher._launch_k8s_job_with_args`` copies dagster-k8s's body (to fold
    floe's tags into its one tag write). If dagster-k8s changed it, re-copy, then update
    ``LAUNCH_JOB_SOURCE_SHA256``."""
    source = inspect.getsource(K8sRunLauncher._launch_k8s_job_with_args)
    assert hashlib.sha256(source.encode()).hexdigest() == internals.LAUNCH_JOB_SOURCE_SHA256
