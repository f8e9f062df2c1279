"""A Pipes pod's secrets follow the launcher's rule, on the launcher's own settings; pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.launcher.config import resolve
from floe_dagster_secrets.pipes import pipes_pod_spec, step_secret_names
from floe_dagster_secrets.resources import secrets_metadata

COMPUTE = "warehouse-dev-credentials"
MANIFEST = f"""
environment: dev
plugins:
  secrets: {{type: k8s, namespace: floe-jobs}}
  compute: {{type: duckdb, connection_secret_ref: {COMPUTE}, config: {{path: w.duckdb}}}}
"""
VAULT_MANIFEST = """
environment: dev
plugins:
  secrets:
    type: vault
    namespace: floe-jobs
    config: {address: "https://vault.example:8200", role: floe-runner}
"""


def _settings(tmp_path: Path, text: str = MANIFEST, **config: object):  # type: ignore[no-untyped-def]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    return resolve(
        {"manifest_path": str(manifest), "dbt_profiles_config_map": None, **config},
        service_account_name=None,
    )


def test_names_are_platform_first_then_the_steps_assets_sorted_and_unique(tmp_path: Path) -> None:
    settings = _settings(tmp_path, platform_secrets=["polaris-oauth-credentials"])
    metadata = [
        secrets_metadata(["zeta-api-secret", COMPUTE]),
        secrets_metadata([COMPUTE]),
        {"unrelated": "x"},
    ]
    assert step_secret_names(settings, metadata) == (
        "polaris-oauth-credentials",
        COMPUTE,
        "zeta-api-secret",
    )


def test_the_first_container_gets_env_from_with_the_compute_prefix(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    base = {
        "hostNetwork": True,
        "containers": [{"name": "etl", "envFrom": [{"configMapRef": {"name": "etl-config"}}]}],
    }
    spec = pipes_pod_spec([COMPUTE, "zeta-api-secret"], settings, base)
    container = spec["containers"][0]
    assert container["env_from"] == [
        {"configMapRef": {"name": "etl-config"}},
        {"secret_ref": {"name": COMPUTE}, "prefix": "DBT_ENV_SECRET_"},
        {"secret_ref": {"name": "zeta-api-secret"}},
    ]
    assert "envFrom" not in container
    assert spec["hostNetwork"] is True
    assert "service_account_name" not in spec
    assert base["containers"][0]["envFrom"] == [{"configMapRef": {"name": "etl-config"}}]


def test_no_secrets_leaves_the_spec_as_it_was(tmp_path: Path) -> None:
    spec = pipes_pod_spec([], _settings(tmp_path), {"containers": [{"name": "etl"}]})
    assert spec == {"containers": [{"name": "etl"}]}


def test_a_profiles_config_map_is_mounted_as_for_a_run_pod(tmp_path: Path) -> None:
    settings = _settings(tmp_path, dbt_profiles_config_map="dbt-profiles")
    spec = pipes_pod_spec([COMPUTE], settings)
    (container,) = spec["containers"]
    assert {"name": "DBT_PROFILES_DIR", "value": "/opt/floe/dbt-profiles"} in container["env"]
    assert spec["volumes"] == [
        {"name": "floe-dbt-profiles", "config_map": {"name": "dbt-profiles"}}
    ]


def test_vault_sets_its_service_account_and_refuses_another(tmp_path: Path) -> None:
    settings = _settings(tmp_path, VAULT_MANIFEST)
    spec = pipes_pod_spec(["app-dev-secret"], settings)
    assert spec["service_account_name"] == "floe-job-runner"
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env["VAULT_ADDR"] == "https://vault.example:8200"
    assert "env_from" not in spec["containers"][0]
    with pytest.raises(SecretAccessDeniedError, match="base_pod_spec"):
        pipes_pod_spec(["app-dev-secret"], settings, {"serviceAccountName": "team-x"})
