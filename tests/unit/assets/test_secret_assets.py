"""Secrets as assets, on the local backend (files only): lineage, tags, observations, run log."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.assets import (
    SECRET_GROUP,
    observations,
    on_secret_rotation,
    secret_asset_key,
    secret_assets,
    secret_lineage,
    secret_tag_key,
    with_secret_lineage,
)
from floe_dagster_secrets.assets.observations import DATA_VERSION_TAG
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.resources import LocalSecretsResource

NS = "floe-jobs"
CONNECTION = "warehouse-db-credentials"
API = "reporting-api-key"
MANIFEST = parse_manifest(
    {
        "environment": "dev",
        "plugins": {
            "secrets": {"type": "local", "namespace": NS, "config": {"path": "store"}},
            "compute": {
                "type": "duckdb",
                "connection_secret_ref": CONNECTION,
                "config": {"path": "w.duckdb"},
            },
        },
        "ingestion": {
            "pipelines": [
                {"name": "reports", "source": {"type": "rest", "secret_refs": {"token": API}}}
            ]
        },
        "secrets": {
            API: {"keys": ["TOKEN"], "on_rotation": "checks", "assets": ["report"]},
            CONNECTION: {"max_age_days": 30},
        },
    }
)


@dg.asset(metadata=secrets_metadata([CONNECTION]))
def orders() -> int:
    return 1


@dg.asset(deps=[orders])
def report() -> int:
    return 2


@dg.asset
def untouched() -> int:
    return 3


def test_tag_keys_are_valid_dagster_tag_keys_and_unique() -> None:
    assert secret_tag_key("duckdb-dev-credentials") == "floe/secret.duckdb-dev-credentials"
    odd = [secret_tag_key("team/app/db"), secret_tag_key("team/app.db"), secret_tag_key("x" * 90)]
    assert len(set(odd)) == 3
    for key in odd:
        dg.AssetSpec("a", tags={key: ""})  # raises on an invalid key


def test_lineage_puts_each_secret_upstream_of_exactly_its_users() -> None:
    lineage = with_secret_lineage([orders, report, untouched], MANIFEST)
    secrets = secret_assets(MANIFEST, assets=lineage)
    defs = dg.Definitions(
        assets=[*lineage, secrets], resources={"secrets": LocalSecretsResource(path="unused")}
    )
    graph = defs.get_repository_def().asset_graph
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents["orders"] == {f"secrets/{CONNECTION}"}
    assert parents["report"] == {"orders", f"secrets/{API}"}
    assert parents["untouched"] == set()
    assert graph.get(dg.AssetKey("report")).tags == {secret_tag_key(API): ""}
    assert graph.get(dg.AssetKey("orders")).tags == {secret_tag_key(CONNECTION): ""}
    node = graph.get(secret_asset_key(API))
    assert node.is_observable
    assert not node.is_materializable
    assert node.group_name == SECRET_GROUP
    assert "on rotation: `checks`" in (node.description or "")
    assert "used by 1 asset(s)" in (node.description or "")
    # what a version is comes from the backend's declaration (LocalSecretsPlugin.version_source)
    assert "the local store's version counter" in (node.description or "")
    # The launcher and the sensor read floe/secrets: the manifest's extra names are in it too.
    assert graph.get(dg.AssetKey("report")).metadata["floe/secrets"] == API


def test_lineage_keeps_an_asset_without_secrets_unchanged() -> None:
    spec = dg.AssetSpec("plain")
    assert secret_lineage(spec) is spec


@pytest.fixture
def store(tmp_path: Path) -> Path:
    plugin = LocalSecretsPlugin(path=tmp_path)
    plugin.create_secret(CONNECTION, NS, {"DUCKDB_ENCRYPTION_KEY": "canary-value-1"})
    return tmp_path


def test_observe_records_the_backend_version_as_data_version(store: Path) -> None:
    secrets = secret_assets(MANIFEST)
    defs = dg.Definitions(
        assets=[secrets],
        jobs=[dg.define_asset_job("observe", selection=dg.AssetSelection.assets(secrets))],
        resources={"secrets": LocalSecretsResource(path=str(store), namespace=NS)},
    )
    result = defs.resolve_job_def("observe").execute_in_process()
    assert result.success
    found = {
        e.asset_key.to_user_string(): e
        for e in (
            ev.asset_observation_data.asset_observation
            for ev in result.get_asset_observation_events()
        )
    }
    connection = found[f"secrets/{CONNECTION}"]
    version = LocalSecretsPlugin(path=store).describe_secret(CONNECTION, NS).version
    assert connection.tags[DATA_VERSION_TAG] == version
    assert connection.metadata["exists"].value is True
    missing = found[f"secrets/{API}"]
    assert DATA_VERSION_TAG not in missing.tags
    assert missing.metadata["exists"].value is False


def test_each_fetch_in_a_step_is_one_observation_without_the_value(
    store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    @dg.asset(metadata=secrets_metadata([CONNECTION]))
    def uses_secret(secrets: LocalSecretsResource) -> int:
        data = secrets.get_secret(CONNECTION)
        return len(data)

    version = LocalSecretsPlugin(path=store).describe_secret(CONNECTION, NS).version
    caplog.clear()
    result = dg.materialize(
        [uses_secret], resources={"secrets": LocalSecretsResource(path=str(store), namespace=NS)}
    )
    assert result.success
    events = [
        ev.asset_observation_data.asset_observation for ev in result.get_asset_observation_events()
    ]
    assert len(events) == 1
    (event,) = events
    assert event.asset_key == secret_asset_key(CONNECTION)
    meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["secret"] == CONNECTION
    assert meta["backend"] == "local"
    assert meta["version"] == version
    assert meta["step"] == "uses_secret"
    assert meta["keys"] == "DUCKDB_ENCRYPTION_KEY"
    assert meta["outcome"] == "ok"
    everything = " ".join(str(e) for e in result.all_events)
    assert "canary-value-1" not in everything
    # the audit trail still holds one access: the version read belongs to the fetch's record
    trail = [r.floe_audit for r in caplog.records if hasattr(r, "floe_audit")]
    assert [(e["operation"], e["name"]) for e in trail] == [("get", CONNECTION)]


def test_the_data_version_tag_is_dagsters() -> None:
    from dagster._core.definitions.data_version import DATA_VERSION_TAG as DAGSTERS

    assert DATA_VERSION_TAG == DAGSTERS


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # inside evaluate_automation_conditions
def test_on_secret_rotation_fires_once_per_new_secret_version() -> None:
    @dg.asset(metadata=secrets_metadata([CONNECTION]))
    def loads() -> int:
        return 1

    @dg.asset(deps=[loads])
    def downstream() -> int:
        return 2

    [lineage] = with_secret_lineage([loads])
    lineage = lineage.map_asset_specs(
        lambda s: s.replace_attributes(automation_condition=on_secret_rotation())
    )
    defs = dg.Definitions(
        assets=[lineage, downstream, secret_assets(MANIFEST)],
        resources={"secrets": LocalSecretsResource(path="unused")},
    )

    def observe(version: str) -> None:
        (event,) = observations({CONNECTION: version}, backend="local", namespace=NS)
        instance.report_runless_asset_event(event)

    with dg.instance_for_test() as instance:
        observe("1")
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert result.get_num_requested(dg.AssetKey("loads")) == 0
        observe("2")
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=result.cursor
        )
        assert result.get_num_requested(dg.AssetKey("loads")) == 1
        assert result.get_num_requested(dg.AssetKey("downstream")) == 0
