"""What the rotation sensor shows in the UI: its description, skip reasons, secret observations."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from floe_dagster_secrets.assets import secret_asset_key, secret_assets, with_secret_lineage
from floe_dagster_secrets.assets.observations import DATA_VERSION_TAG
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.resources import LocalSecretsResource
from floe_dagster_secrets.sensors import make_secret_rotation_sensor

NS = "floe-jobs"
SECRET = "warehouse-db-credentials"
MANIFEST = parse_manifest(
    {
        "environment": "dev",
        "plugins": {
            "secrets": {"type": "local", "namespace": NS, "config": {"path": "store"}},
            "compute": {
                "type": "duckdb",
                "connection_secret_ref": SECRET,
                "config": {"path": "w.duckdb"},
            },
        },
        "secrets": {SECRET: {"on_rotation": "rematerialize", "assets": ["orders"]}},
    }
)


@dg.asset
def orders() -> int:
    return 1


@pytest.fixture
def store(tmp_path: Path) -> Path:
    LocalSecretsPlugin(path=tmp_path).create_secret(SECRET, NS, {"PASSWORD": "one"})
    return tmp_path


def _defs(store: Path) -> tuple[dg.Definitions, dg.SensorDefinition]:
    lineage = with_secret_lineage([orders], MANIFEST)
    job = dg.define_asset_job("build", selection=dg.AssetSelection.all())
    sensor = make_secret_rotation_sensor(
        target=job,
        manifest=MANIFEST,
        namespace=NS,
        plugin_factory=lambda: LocalSecretsPlugin(path=store),
    )
    defs = dg.Definitions(
        assets=[*lineage, secret_assets(MANIFEST, assets=lineage)],
        jobs=[job],
        sensors=[sensor],
        resources={"secrets": LocalSecretsResource(path=str(store), namespace=NS)},
    )
    return defs, sensor


def _tick(defs: dg.Definitions, sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(cursor=cursor, definitions=defs) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_description_names_each_secret_and_its_policy(store: Path) -> None:
    _, sensor = _defs(store)
    assert f"- `{SECRET}`: `rematerialize`" in (sensor.description or "")


def test_ticks_give_skip_reasons_and_observe_only_changed_versions(store: Path) -> None:
    defs, sensor = _defs(store)
    first = _tick(defs, sensor, None)
    assert first.skip_reason is not None
    assert first.skip_reason.skip_message == f"baseline recorded for 1 secrets ({SECRET})"
    (observed,) = first.asset_events
    assert isinstance(observed, dg.AssetObservation)
    assert observed.asset_key == secret_asset_key(SECRET)
    version = LocalSecretsPlugin(path=store).describe_secret(SECRET, NS).version
    assert observed.tags[DATA_VERSION_TAG] == version

    second = _tick(defs, sensor, first.cursor)
    assert second.skip_reason is not None
    assert second.skip_reason.skip_message.startswith("no rotation since 20")
    assert second.asset_events == []  # nothing changed: no event, whatever the tick count

    LocalSecretsPlugin(path=store).update_secret(SECRET, NS, {"PASSWORD": "two"})
    third = _tick(defs, sensor, second.cursor)
    (request,) = third.run_requests or []
    assert request.asset_selection == [dg.AssetKey("orders")]
    (rotated,) = third.asset_events
    assert rotated.tags[DATA_VERSION_TAG] != version
