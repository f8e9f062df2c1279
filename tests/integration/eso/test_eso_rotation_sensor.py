"""The rotation sensor on an ESO-synced secret: real controller, real OpenBao, real daemon ticks.

A rotation through the ESO backend writes a new version into OpenBao and forces ESO to sync it
into the target Secret; the sensor compares the synced Secret's ``resourceVersion`` (ESO's
output, which is what a run's pod reads) and requests one run of exactly the dependents.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    asset,
    definitions,
    instance_for_test,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._time import get_current_datetime

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.sensors import ROTATED_SECRET_TAG, make_secret_rotation_sensor
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WAREHOUSE = "warehouse-credentials"
REPORTING = "reporting-api-key"
SETTINGS_VAR = "FLOE_ESO_SENSOR_TEST_SETTINGS"  # the plugin's settings, as JSON
NAMESPACE_VAR = "FLOE_ESO_SENSOR_TEST_NAMESPACE"
SENSOR = "floe_secret_rotation"


@asset(metadata=secrets_metadata([WAREHOUSE]))
def orders() -> int:
    return 1


@asset(metadata=secrets_metadata([WAREHOUSE]))
def customers() -> int:
    return 2


@asset(metadata=secrets_metadata([REPORTING]))
def report() -> int:
    return 3


def _eso_plugin() -> ESOSecretsPlugin:
    settings: dict[str, Any] = json.loads(os.environ[SETTINGS_VAR])
    return ESOSecretsPlugin(**settings)


@definitions
def eso_defs() -> Definitions:
    """Built when the workspace loads, so the sensor watches this test's namespace."""
    return Definitions(
        assets=[orders, customers, report],
        sensors=[
            make_secret_rotation_sensor(
                target=[orders, customers, report],
                namespace=os.environ[NAMESPACE_VAR],
                plugin_factory=_eso_plugin,
                minimum_interval_seconds=30,
                default_status=DefaultSensorStatus.RUNNING,
            )
        ],
    )


@contextmanager
def _workspace(instance: DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=__file__, attribute="eso_defs"),
        location_name="eso-rotation",
    )
    with create_test_daemon_workspace_context(
        InProcessWorkspaceLoadTarget(origin), instance
    ) as context:
        yield context


class _Daemon:
    """One sensor-daemon iteration per tick, on a frozen clock moved past the interval."""

    def __init__(self, instance: DagsterInstance, workspace: WorkspaceProcessContext) -> None:
        self.instance = instance
        self.workspace = workspace
        self.now = get_current_datetime()
        location = workspace.create_request_context().get_code_location("eso-rotation")
        self.sensor = next(iter(location.get_repositories().values())).get_sensor(SENSOR)

    def tick(self) -> TickStatus:
        self.now += timedelta(minutes=5)
        with freeze_time(self.now):
            list(execute_sensor_iteration(self.workspace, logging.getLogger("test"), None, None))
        origin = self.sensor.get_remote_origin_id()
        return self.instance.get_ticks(origin, self.sensor.selector_id)[0].status

    def cursor(self) -> str:
        origin = self.sensor.get_remote_origin_id()
        state = self.instance.get_instigator_state(origin, self.sensor.selector_id)
        assert state is not None
        return str(state.instigator_data.cursor)  # type: ignore[union-attr]

    def selections(self) -> list[set[AssetKey]]:
        return [set(run.asset_selection or ()) for run in reversed(self.instance.get_runs())]


@pytest.fixture
def eso(
    eso_controller: EsoController,
    vault_store_env: dict[str, str],
    k8s_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ESOSecretsPlugin]:
    settings = {**vault_store_env, "sync_timeout": 90}
    monkeypatch.setenv(SETTINGS_VAR, json.dumps(settings))
    monkeypatch.setenv(NAMESPACE_VAR, k8s_namespace)
    plugin = ESOSecretsPlugin(**settings)  # type: ignore[arg-type]
    plugin.apply_cluster_secret_store()
    yield plugin
    plugin.close()


def test_eso_synced_rotation_launches_exactly_the_dependents(
    eso: ESOSecretsPlugin, k8s_namespace: str
) -> None:
    values = [f"canary{secrets.token_hex(12)}" for _ in range(3)]
    eso.create_secret(WAREHOUSE, k8s_namespace, {"PASSWORD": values[0]})
    eso.create_secret(REPORTING, k8s_namespace, {"TOKEN": "first-report-token"})

    with instance_for_test() as instance, _workspace(instance) as workspace:
        daemon = _Daemon(instance, workspace)
        assert daemon.tick() == TickStatus.SKIPPED  # the baseline launches nothing
        assert daemon.selections() == []

        eso.update_secret(WAREHOUSE, k8s_namespace, {"PASSWORD": values[1]})  # waits for ESO
        assert daemon.tick() == TickStatus.SUCCESS
        assert daemon.selections() == [{AssetKey("orders"), AssetKey("customers")}]
        assert daemon.tick() == TickStatus.SKIPPED  # nothing new
        assert len(daemon.selections()) == 1

        eso.update_secret(WAREHOUSE, k8s_namespace, {"PASSWORD": values[2]})
        daemon.tick()
        assert daemon.selections()[1:] == [{AssetKey("orders"), AssetKey("customers")}]

        runs = list(reversed(instance.get_runs()))
        assert [run.tags[ROTATED_SECRET_TAG] for run in runs] == [WAREHOUSE, WAREHOUSE]
        assert runs[0].tags["dagster/run_key"] != runs[1].tags["dagster/run_key"]
        recorded = json.dumps([run.tags for run in runs]) + daemon.cursor()
        for value in values:
            assert value not in recorded
