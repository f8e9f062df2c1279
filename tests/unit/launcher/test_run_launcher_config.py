"""The launcher's config resolution and its pure container-context seam (no server is reached)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterRun
from dagster_k8s.job import UserDefinedDagsterK8sConfig

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.launcher import FloeK8sRunLauncher
from floe_dagster_secrets.launcher.config import resolve
from floe_dagster_secrets.launcher.pod_env import SECRET_REFS_TAG

REPO = Path(__file__).resolve().parents[3]
DEMO_MANIFEST = REPO / "definitions" / "manifest.yaml"

VAULT_MANIFEST = """\
environment: prod
plugins:
  secrets:
    type: vault
    namespace: floe-jobs
    config:
      address: https://vault.example:8200
      role: floe-runner
      mount_path: k8s-prod
  compute:
    type: postgres
    connection_secret_ref: postgres-prod-credentials
    config: {host: db, database: d, port: 5432}
"""


def test_manifest_gives_prefix_and_required_keys_for_the_compute_secret() -> None:
    resolved = resolve({"manifest_path": str(DEMO_MANIFEST)}, service_account_name=None)
    assert resolved.pod.prefixes == {"duckdb-dev-credentials": "DBT_ENV_SECRET_"}
    assert resolved.keys_for("duckdb-dev-credentials") == ("DUCKDB_ENCRYPTION_KEY",)
    assert resolved.pod.service_account_name is None  # none set: none added (k8s needs none)
    assert resolved.pod.profiles_config_map == "dbt-profiles"  # a manifest implies it
    assert resolved.backend is not None
    assert resolved.backend.name == "local"


def test_explicit_config_adds_to_and_overrides_the_manifest() -> None:
    resolved = resolve(
        {
            "manifest_path": str(DEMO_MANIFEST),
            "platform_secrets": ["polaris-oauth-credentials", "polaris-oauth-credentials"],
            "secret_prefixes": {"polaris-oauth-credentials": "POLARIS_"},
            "required_keys": {"polaris-oauth-credentials": ["CLIENT_ID"]},
        },
        service_account_name="custom-runner",
    )
    assert resolved.platform_secrets == ("polaris-oauth-credentials",)
    assert resolved.pod.prefixes["polaris-oauth-credentials"] == "POLARIS_"
    assert resolved.keys_for("polaris-oauth-credentials") == ("CLIENT_ID",)
    assert resolved.pod.service_account_name == "custom-runner"


def test_vault_manifest_gives_the_pod_a_login_without_credentials(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(VAULT_MANIFEST)
    resolved = resolve({"manifest_path": str(manifest)}, service_account_name=None)
    pod = resolved.contribution(["postgres-prod-credentials"])
    assert pod.env == (
        {"name": "VAULT_ADDR", "value": "https://vault.example:8200"},
        {"name": "FLOE_VAULT_AUTH_ROLE", "value": "floe-runner"},
        {"name": "FLOE_VAULT_AUTH_MOUNT", "value": "k8s-prod"},
    )
    assert pod.env_from == ()  # the pod reads it from Vault: no Kubernetes Secret at all
    assert pod.kubernetes_secrets == ()
    assert pod.service_account_name == "floe-job-runner"
    assert resolved.keys_for("postgres-prod-credentials") == (
        "POSTGRES_HOST",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
    )


def test_missing_manifest_is_our_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidManifestError, match="manifest_path"):
        resolve({"manifest_path": str(tmp_path / "nope.yaml")}, service_account_name=None)


def test_fingerprint_key_from_file_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve({}, service_account_name=None).fingerprint_key() is None
    monkeypatch.setenv("FLOE_LAUNCHER_FINGERPRINT_KEY", "k-from-env-0123456789")
    assert resolve({}, service_account_name=None).fingerprint_key() == b"k-from-env-0123456789"
    key_file = tmp_path / "key"
    key_file.write_text("k-from-file-0123456789\n")
    from_file = resolve({"fingerprint_key_file": str(key_file)}, service_account_name=None)
    assert from_file.fingerprint_key() == b"k-from-file-0123456789"


@pytest.fixture
def launcher(tmp_path: Path) -> FloeK8sRunLauncher:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    secrets = resolve({"manifest_path": str(DEMO_MANIFEST)}, service_account_name=None)
    return FloeK8sRunLauncher(
        secrets=secrets,
        instance_config_map="dagster-instance",
        dagster_home="/opt/dagster/dagster_home",
        job_image="img:1",
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        job_namespace="floe-jobs",
        env_secrets=["shared-env-secret"],
    )


def _env_from(context: object) -> list[dict[str, object]]:
    config = context.run_k8s_config.container_config  # type: ignore[attr-defined]
    return list(config.get("env_from", []))


def test_container_context_adds_refs_from_the_tag_after_a_shallow_user_tag(
    launcher: FloeK8sRunLauncher,
) -> None:
    shallow = {
        "container_config": {"env_from": [{"config_map_ref": {"name": "user-cm"}}]},
        "merge_behavior": "SHALLOW",
    }
    run = DagsterRun(
        job_name="j",
        tags={
            SECRET_REFS_TAG: "duckdb-dev-credentials,api-x-secret",
            "dagster-k8s/config": json.dumps(shallow),
        },
    )
    context = launcher.get_container_context_for_run(run)
    env_from = _env_from(context)
    assert {"config_map_ref": {"name": "user-cm"}} in env_from
    assert env_from[-2:] == [
        {"secret_ref": {"name": "duckdb-dev-credentials"}, "prefix": "DBT_ENV_SECRET_"},
        {"secret_ref": {"name": "api-x-secret"}},
    ]
    assert "service_account_name" not in context.run_k8s_config.pod_spec_config
    assert context.namespace == "floe-jobs"
    assert isinstance(context.run_k8s_config, UserDefinedDagsterK8sConfig)


def test_container_context_without_the_tag_mounts_no_floe_secret(
    launcher: FloeK8sRunLauncher,
) -> None:
    context = launcher.get_container_context_for_run(DagsterRun(job_name="j"))
    assert _env_from(context) == [{"secret_ref": {"name": "shared-env-secret"}}]


def test_config_schema_is_dagster_k8s_plus_floe_fields() -> None:
    schema = FloeK8sRunLauncher.config_type()
    assert {"job_namespace", "instance_config_map", "env_secrets"} <= set(schema)
    assert {"platform_secrets", "manifest_path", "preflight_check", "fingerprint_key_env"} <= set(
        schema
    )


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("required_keys", ["PASSWORD"], "PASSWORD"),  # a string would become keys P, A, S...
        ("required_keys", ["PASSWORD"], [1]),
        ("secret_prefixes", "DBT_ENV_SECRET_", None),  # would become the prefix "None"
        ("secret_prefixes", "DBT_ENV_SECRET_", ["DBT_"]),
    ],
)
def test_launcher_config_of_the_wrong_shape_is_refused_by_dagsters_config_check(
    field: str, good: object, bad: object
) -> None:
    from dagster._config import validate_config
    from dagster._config.field import resolve_to_config_type

    schema = resolve_to_config_type(FloeK8sRunLauncher.config_type())

    def check(value: object) -> Any:
        config = {"instance_config_map": "dagster-instance", field: {"warehouse-creds": value}}
        return validate_config(schema, config)

    assert check(good).success
    refused = check(bad)
    assert not refused.success
    assert "warehouse-creds" in " ".join(str(error.message) for error in refused.errors)


def test_literal_credential_in_dagster_yaml_fails_the_run_before_any_job(
    launcher: FloeK8sRunLauncher,
) -> None:
    from dagster import DagsterRunStatus
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.test_utils import create_run_for_test, instance_for_test

    overrides = {
        "run_launcher": {
            "module": "floe_dagster_secrets.launcher",
            "class": "FloeK8sRunLauncher",
            "config": {
                "instance_config_map": "dagster-instance",
                "job_image": "img:1",
                "load_incluster_config": False,
                "kubeconfig_file": launcher.kubeconfig_file,
                "env_vars": ["WAREHOUSE_PASSWORD=hunter2-literal"],
                "manifest_path": str(DEMO_MANIFEST),
            },
        }
    }
    with instance_for_test(overrides=overrides) as instance:
        ours = instance.run_launcher
        assert isinstance(ours, FloeK8sRunLauncher)
        assert ours.floe.pod.prefixes == {"duckdb-dev-credentials": "DBT_ENV_SECRET_"}
        run = create_run_for_test(instance, job_name="j")
        ours.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        stored = instance.get_run_by_id(run.run_id)
        assert stored is not None
        assert stored.status == DagsterRunStatus.FAILURE
        text = "\n".join(str(e.message) for e in instance.all_logs(run.run_id))
    assert "run_launcher_data.env_vars[0]" in text
    assert "no Job created" in text
    assert "hunter2-literal" not in text
