"""The rotation sensor on an ESO-synced secret: real controller, real OpenBao, real daemon ticks.

A rotation through the ESO backend writes a new version into OpenBao and forces ESO to sync it
into the target Secret; the sensor compares the synced Secret's ``resourceVersion`` (ESO's
output, which is what a run's pod reads) and requests one run of exactly the dependents.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from dagster import (
    AssetKey,
    DefaultSensorStatus,
    Definitions,
    asset,
    definitions,
)
from dagster._core.scheduler.instigation import TickStatus

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.sensors import ROTATED_SECRET_TAG, make_secret_rotation_sensor
from tests.integration.sensor_daemon import sensor_daemon
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WAREHOUSE = "warehouse-credentials"
REPORTING = "reporting-api-key"
SETTINGS_VAR = "FLOE_ESO_SENSOR_TEST_SETTINGS"  # the plugin's settings, as JSON
NAMESPACE_VAR = "FLOE_ESO_SENSOR_TEST_NAMESPACE"


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

    with sensor_daemon(__file__, "eso_defs", location="eso-rotation") as daemon:
        assert daemon.tick_status() == TickStatus.SKIPPED  # the baseline launches nothing
        assert daemon.selections() == []

        eso.update_secret(WAREHOUSE, k8s_namespace, {"PASSWORD": values[1]})  # waits for ESO
        assert daemon.tick_status() == TickStatus.SUCCESS
        assert daemon.selections() == [{AssetKey("orders"), AssetKey("customers")}]
        assert daemon.tick_status() == TickStatus.SKIPPED  # nothing new
        assert len(daemon.selections()) == 1

        eso.update_secret(WAREHOUSE, k8s_namespace, {"PASSWORD": values[2]})
        daemon.tick()
        assert daemon.selections()[1:] == [{AssetKey("orders"), AssetKey("customers")}]

        runs = daemon.runs()
        assert [run.tags[ROTATED_SECRET_TAG] for run in runs] == [WAREHOUSE, WAREHOUSE]
        assert runs[0].tags["dagster/run_key"] != runs[1].tags["dagster/run_key"]
        recorded = json.dumps([run.tags for run in runs]) + (daemon.cursor() or "")
        for value in values:
            assert value not in recorded
