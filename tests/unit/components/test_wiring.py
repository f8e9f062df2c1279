"""FloeSecretsComponent's wiring, on in-memory definitions and the real local store.

The local store is the embedded default backend (a file under tmp_path), so the check and the
observation below really read it; everything else is pure Dagster definition building.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.components import manifest_asset_secrets, secured_definitions
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.resources import LocalSecretsResource

SECRET = "warehouse-dev-credentials"
NAMESPACE = "floe-jobs"
MANIFEST = f"""
environment: dev
plugins:
  secrets: {{type: local, namespace: {NAMESPACE}, config: {{path: store}}}}
  compute: {{type: duckdb, connection_secret_ref: {SECRET}, config: {{path: w.duckdb}}}}
secrets:
  {SECRET}:
    keys: [DUCKDB_ENCRYPTION_KEY]
    max_age_days: 30
    assets: [orders, reports/revenue, elsewhere]
"""


@dg.asset
def orders() -> None:
    """Uses the secret (named in the manifest)."""


@dg.asset(key=["reports", "revenue"], deps=[orders])
def revenue() -> None:
    """Uses the secret too."""


@dg.asset
def untouched() -> None:
    """Uses no secret."""


nightly = dg.define_asset_job("nightly", selection="*")


def _defs(tmp_path: Path, **kwargs: object) -> dg.Definitions:
    manifest = parse_manifest(MANIFEST)
    resource = LocalSecretsResource(namespace=NAMESPACE, path=str(tmp_path / "store"))
    wrapped = dg.Definitions(assets=[orders, revenue, untouched], jobs=[nightly])
    return secured_definitions(manifest, resource, wrapped=wrapped, **kwargs)  # type: ignore[arg-type]


def test_manifest_asset_secrets_reads_multi_part_keys() -> None:
    found = manifest_asset_secrets(parse_manifest(MANIFEST))
    assert found == {
        dg.AssetKey("orders"): (SECRET,),
        dg.AssetKey(["reports", "revenue"]): (SECRET,),
        dg.AssetKey("elsewhere"): (SECRET,),
    }


def test_wrapped_assets_get_the_secret_asset_upstream_a_tag_and_metadata(tmp_path: Path) -> None:
    graph = _defs(tmp_path).get_repository_def().asset_graph
    secret_key = dg.AssetKey(["secrets", SECRET])
    for key in (dg.AssetKey("orders"), dg.AssetKey(["reports", "revenue"])):
        node = graph.get(key)
        assert secret_key in node.parent_keys
        assert node.metadata["floe/secrets"] == SECRET
        assert f"floe/secret.{SECRET}" in node.tags
    plain = graph.get(dg.AssetKey("untouched"))
    assert secret_key not in plain.parent_keys
    assert "floe/secrets" not in plain.metadata
    assert graph.get(secret_key).is_observable


def test_checks_cover_wrapped_assets_and_assets_defined_elsewhere(tmp_path: Path) -> None:
    defs = _defs(tmp_path)
    keys = {
        check_key
        for checks_def in defs.asset_checks or ()
        for check_key in checks_def.check_keys  # type: ignore[union-attr]
    }
    assert keys == {
        dg.AssetCheckKey(dg.AssetKey("orders"), "floe_secrets"),
        dg.AssetCheckKey(dg.AssetKey(["reports", "revenue"]), "floe_secrets"),
        dg.AssetCheckKey(dg.AssetKey("elsewhere"), "floe_secrets"),
    }
    assert "elsewhere" not in {a.key.to_user_string() for a in defs.assets or ()}  # type: ignore[union-attr]


def test_sensor_targets_the_named_job_and_resource_is_bound(tmp_path: Path) -> None:
    repo = _defs(tmp_path, sensor_job="nightly").get_repository_def()
    sensor = repo.get_sensor_def("floe_secret_rotation")
    assert sensor.job_name == "nightly"
    assert "secrets" in repo.get_top_level_resources()


def test_sensor_defaults_to_the_assets_that_use_a_secret(tmp_path: Path) -> None:
    repo = _defs(tmp_path).get_repository_def()
    (target,) = repo.get_sensor_def("floe_secret_rotation").targets
    selected = {spec.key for assets_def in target.assets_defs for spec in assets_def.specs}
    assert selected == {dg.AssetKey("orders"), dg.AssetKey(["reports", "revenue"])}


def test_no_sensor_and_no_checks_when_switched_off(tmp_path: Path) -> None:
    defs = _defs(tmp_path, sensor_name=None, checks=False)
    assert list(defs.sensors or ()) == []
    assert list(defs.asset_checks or ()) == []


def test_an_unknown_sensor_job_is_our_error_naming_the_jobs(tmp_path: Path) -> None:
    with pytest.raises(InvalidManifestError, match=r"'hourly' is not a job.*nightly"):
        _defs(tmp_path, sensor_job="hourly")


def test_check_and_observation_run_against_the_real_store(tmp_path: Path) -> None:
    canary = "canary-" + "k" * 24
    LocalSecretsPlugin(path=tmp_path / "store").create_secret(
        SECRET, NAMESPACE, {"DUCKDB_ENCRYPTION_KEY": canary}
    )
    defs = _defs(tmp_path)
    job = dg.define_asset_job(
        "observe_and_check",
        selection=dg.AssetSelection.assets(["secrets", SECRET])
        | dg.AssetSelection.checks_for_assets("orders"),
    )
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(
        "observe_and_check"
    )
    result = resolved.execute_in_process(raise_on_error=False)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert [(e.asset_key, e.passed) for e in evaluations] == [(dg.AssetKey("orders"), True)]
    observed = result.asset_observations_for_node("floe_secret_assets")
    assert [o.asset_key for o in observed] == [dg.AssetKey(["secrets", SECRET])]
    assert canary not in repr(result.all_events)
