"""The sensor's evaluation with the local backend (files only): policies, baseline, deletion."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetKey,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorResult,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
)

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import FloeSecretsError, InvalidSecretReferenceError
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.sensors import (
    ROTATED_SECRET_TAG,
    SecretDependents,
    make_secret_rotation_sensor,
)

NS = "floe-jobs"
SECRET_A = "warehouse-db-credentials"
SECRET_B = "reporting-api-key"


@asset(metadata=secrets_metadata([SECRET_A]))
def orders() -> int:
    return 1


@asset(metadata=secrets_metadata([SECRET_A, SECRET_B]))
def customers() -> int:
    return 2


@asset
def untouched() -> int:
    return 3


@asset_check(asset=orders)
def orders_not_empty() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


TARGET = [orders, customers, untouched, orders_not_empty]


def _tick(sensor, cursor: str | None) -> SensorResult:  # type: ignore[no-untyped-def]
    result = sensor(build_sensor_context(cursor=cursor))
    assert isinstance(result, SensorResult)
    return result


def _sensor(store: Path, **kwargs):  # type: ignore[no-untyped-def]
    return make_secret_rotation_sensor(
        target=TARGET,
        namespace=NS,
        plugin_factory=lambda: LocalSecretsPlugin(path=store),
        **kwargs,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    plugin = LocalSecretsPlugin(path=tmp_path)
    plugin.create_secret(SECRET_A, NS, {"PASSWORD": "one"})
    plugin.create_secret(SECRET_B, NS, {"TOKEN": "one"})
    return tmp_path


def _rotate(store: Path, name: str, value: str) -> None:
    LocalSecretsPlugin(path=store).update_secret(name, NS, {"K": value})


def test_dependents_index() -> None:
    deps = SecretDependents.from_assets(TARGET)
    assert deps.assets == {
        SECRET_A: (AssetKey("customers"), AssetKey("orders")),
        SECRET_B: (AssetKey("customers"),),
    }
    assert deps.checks[SECRET_A] == (AssetCheckKey(AssetKey("orders"), "orders_not_empty"),)
    assert deps.checks[SECRET_B] == ()


def test_defaults_are_stopped_and_named() -> None:
    sensor = make_secret_rotation_sensor(target=TARGET)
    assert sensor.name == "floe_secret_rotation"
    assert sensor.default_status == DefaultSensorStatus.STOPPED
    assert sensor.minimum_interval_seconds == 60
    assert sensor.required_resource_keys == {"secrets"}


def test_plugin_factory_needs_a_namespace(tmp_path: Path) -> None:
    with pytest.raises(InvalidSecretReferenceError, match="namespace"):
        make_secret_rotation_sensor(
            target=TARGET, plugin_factory=lambda: LocalSecretsPlugin(path=tmp_path)
        )


def test_rematerialize_selects_the_dependents(store: Path) -> None:
    sensor = _sensor(store)
    first = _tick(sensor, None)
    assert first.run_requests == []
    _rotate(store, SECRET_A, "two")
    second = _tick(sensor, first.cursor)
    (request,) = second.run_requests or []
    assert isinstance(request, RunRequest)
    assert set(request.asset_selection or ()) == {AssetKey("orders"), AssetKey("customers")}
    assert request.tags[ROTATED_SECRET_TAG] == SECRET_A
    assert request.run_key is not None
    assert request.run_key.startswith(f"{SECRET_A}@{NS}:")
    assert _tick(sensor, second.cursor).run_requests == []


def test_checks_policy_runs_only_the_checks(store: Path) -> None:
    sensor = _sensor(store, policies={SECRET_A: "checks", SECRET_B: "checks"})
    cursor = _tick(sensor, None).cursor
    _rotate(store, SECRET_A, "two")
    _rotate(store, SECRET_B, "two")
    result = _tick(sensor, cursor)
    (request,) = result.run_requests or []  # B's asset has no check: nothing for B
    assert request.asset_selection == []
    assert list(request.asset_check_keys or ()) == [
        AssetCheckKey(AssetKey("orders"), "orders_not_empty")
    ]


def test_none_policy_moves_the_cursor_only(store: Path) -> None:
    sensor = _sensor(store, policies={SECRET_A: "none"})
    cursor = _tick(sensor, None).cursor
    _rotate(store, SECRET_A, "two")
    result = _tick(sensor, cursor)
    assert result.run_requests == []
    assert result.cursor != cursor


def test_deleted_secret_launches_nothing(store: Path) -> None:
    sensor = _sensor(store)
    cursor = _tick(sensor, None).cursor
    LocalSecretsPlugin(path=store).delete_secret(SECRET_A, NS)
    assert _tick(sensor, cursor).run_requests == []


def test_corrupt_cursor_is_a_baseline(store: Path) -> None:
    result = _tick(_sensor(store), "{garbage")
    assert result.run_requests == []
    assert result.cursor is not None
    assert SECRET_A in result.cursor


def test_backend_error_propagates(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-dir"
    bad.write_text("x")
    sensor = make_secret_rotation_sensor(
        target=TARGET, namespace=NS, plugin_factory=lambda: LocalSecretsPlugin(path=bad)
    )
    with pytest.raises(FloeSecretsError):
        _tick(sensor, None)


def test_manifest_policies_and_extra_assets(store: Path) -> None:
    manifest = parse_manifest(
        {
            "environment": "staging",
            "plugins": {
                "compute": {
                    "type": "postgres",
                    "connection_secret_ref": "postgres-staging-credentials",
                    "config": {"host": "db.internal"},
                }
            },
            "ingestion": {
                "pipelines": [
                    {
                        "name": "warehouse",
                        "source": {
                            "type": "postgres",
                            "secret_refs": {"password": SECRET_A, "token": SECRET_B},
                        },
                    }
                ]
            },
            "secrets": {
                SECRET_A: {"on_rotation": "checks"},
                SECRET_B: {"assets": ["untouched", "not_in_target"]},
            },
        }
    )
    sensor = _sensor(store, manifest=manifest)
    cursor = _tick(sensor, None).cursor
    _rotate(store, SECRET_A, "two")
    _rotate(store, SECRET_B, "two")
    by_secret = {r.tags[ROTATED_SECRET_TAG]: r for r in _tick(sensor, cursor).run_requests or []}
    assert by_secret[SECRET_A].asset_selection == []
    assert set(by_secret[SECRET_B].asset_selection or ()) == {
        AssetKey("customers"),
        AssetKey("untouched"),
    }


def test_job_target_reads_the_job_selection_from_the_repository(store: Path) -> None:
    job = define_asset_job("warehouse_job", selection=[orders, untouched])
    sensor = make_secret_rotation_sensor(
        target=job,
        namespace=NS,
        plugin_factory=lambda: LocalSecretsPlugin(path=store),
        policies={SECRET_B: "rematerialize"},
    )
    defs = Definitions(assets=[orders, customers, untouched], jobs=[job], sensors=[sensor])

    def tick(cursor: str | None) -> SensorResult:
        result = sensor(build_sensor_context(cursor=cursor, definitions=defs))
        assert isinstance(result, SensorResult)
        return result

    cursor = tick(None).cursor
    assert cursor is not None
    assert SECRET_B not in cursor  # only customers uses B, and the job does not select it
    _rotate(store, SECRET_A, "two")
    (request,) = tick(cursor).run_requests or []
    assert list(request.asset_selection or ()) == [AssetKey("orders")]


def test_job_target_without_a_repository_is_our_error(store: Path) -> None:
    sensor = make_secret_rotation_sensor(
        target=define_asset_job("warehouse_job", selection=[orders]),
        namespace=NS,
        plugin_factory=lambda: LocalSecretsPlugin(path=store),
    )
    with pytest.raises(InvalidSecretReferenceError, match="warehouse_job"):
        _tick(sensor, None)
