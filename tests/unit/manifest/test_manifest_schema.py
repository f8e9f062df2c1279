"""Good manifests: round trips, the questions the model answers, backend kwargs, naming rules."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import pytest
import yaml
from manifest_samples import (
    ADR_EXAMPLE,
    ADR_EXAMPLE_ESO,
    GOOD,
    base,
    parse_allowing_naming_warnings,
)

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import (
    ExternalSecretsConfig,
    FloeNamingWarning,
    K8sSecretsConfig,
    LocalSecretsConfig,
    Manifest,
    SecretPolicy,
    SecretReference,
    SecretsPluginConfig,
    VaultSecretsConfig,
    check_no_shared_secrets,
    follows_naming_convention,
    looks_like_credential,
    parse_manifest,
)

ALL_GOOD = {**GOOD, "adr-example": ADR_EXAMPLE, "adr-example-eso": ADR_EXAMPLE_ESO}


@pytest.mark.parametrize("doc", GOOD.values(), ids=GOOD.keys())
def test_good_manifest_validates_without_warnings(doc: dict[str, Any]) -> None:
    # filterwarnings=error: any FloeNamingWarning would fail this test.
    manifest = parse_manifest(doc, strict=True)
    assert manifest.environment == doc["environment"]


@pytest.mark.parametrize("doc", ALL_GOOD.values(), ids=ALL_GOOD.keys())
def test_round_trip_through_model_dump(doc: str | dict[str, Any]) -> None:
    manifest = parse_allowing_naming_warnings(doc)
    again = parse_allowing_naming_warnings(manifest.model_dump())
    assert again == manifest
    assert again.model_dump() == manifest.model_dump()


@pytest.mark.parametrize("doc", ALL_GOOD.values(), ids=ALL_GOOD.keys())
def test_round_trip_through_yaml_text(doc: str | dict[str, Any]) -> None:
    manifest = parse_allowing_naming_warnings(doc)
    text = yaml.safe_dump(manifest.model_dump(mode="json"), sort_keys=False)
    assert parse_allowing_naming_warnings(text) == manifest


def test_every_secrets_type_and_compute_type_is_covered() -> None:
    manifests = [parse_manifest(doc) for doc in GOOD.values()]
    assert {m.plugins.secrets.type for m in manifests} == {
        "k8s",
        "external-secrets",
        "vault",
        "local",
    }
    assert {m.plugins.compute.type for m in manifests} == {
        "snowflake",
        "bigquery",
        "databricks",
        "postgres",
        "duckdb",
    }


def test_adr_example_parses_and_warns_about_its_own_names() -> None:
    with pytest.warns(FloeNamingWarning) as record:
        manifest = parse_manifest(ADR_EXAMPLE)
    messages = [str(w.message) for w in record]
    assert messages == [
        f"manifest.yaml: {path}: secret name '{name}' does not follow the ADR-0023 naming "
        "convention {service}-{environment}-credentials or {service}-{purpose}-secret, e.g. "
        f"'{suggestion}' (strict mode makes this an error)"
        for path, name, suggestion in [
            (
                "plugins.compute.connection_secret_ref",
                "snowflake-credentials",
                "snowflake-prod-credentials",
            ),
            (
                "plugins.catalog.config.client_secret_ref",
                "polaris-credentials",
                "polaris-prod-credentials",
            ),
            (
                "ingestion.pipelines[0].source.secret_refs.client_id",
                "salesforce-credentials",
                "salesforce-prod-credentials",
            ),
        ]
    ]
    assert manifest.plugins.secrets.type == "vault"
    assert isinstance(manifest.plugins.secrets.config, VaultSecretsConfig)
    assert manifest.plugins.secrets.config.address == "https://vault.example.com"
    assert manifest.plugins.catalog is not None
    assert manifest.plugins.catalog.config.client_secret_ref == "polaris-credentials"


def test_strict_turns_naming_warnings_into_errors() -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(ADR_EXAMPLE, strict=True, source="adr.yaml")
    problem = info.value.problem
    assert problem.startswith("adr.yaml is not a valid manifest, 3 problems:\n")
    assert "  plugins.compute.connection_secret_ref: secret name 'snowflake-credentials'" in problem
    assert "(strict mode" not in problem


def test_unreferenced_policy_warns_and_is_an_error_when_strict() -> None:
    doc = base()
    doc["secrets"]["snowflak-dev-credentials"] = {"max_age_days": 30}
    expected = (
        "manifest.yaml: secrets.snowflak-dev-credentials: policy for secret "
        "'snowflak-dev-credentials', which nothing in the manifest references: check the "
        "spelling, or reference it from plugins or ingestion (strict mode makes this an error)"
    )
    with pytest.warns(FloeNamingWarning) as record:
        manifest = parse_manifest(doc)
    assert [str(w.message) for w in record] == [expected]
    # A policy-only name is still a reference: rotation sensors may watch it.
    assert manifest.secret_references()[-1] == SecretReference(
        "snowflak-dev-credentials", "secrets.snowflak-dev-credentials", ()
    )
    with pytest.raises(InvalidManifestError, match=r"secrets\.snowflak-dev-credentials: policy"):
        parse_manifest(doc, strict=True)


def test_each_name_is_checked_once_at_its_first_mention() -> None:
    doc = base()
    doc["environment"] = "dev"
    doc["plugins"]["compute"]["connection_secret_ref"] = "warehouse"
    doc["ingestion"]["pipelines"][0]["source"]["secret_refs"]["extra"] = "warehouse"
    doc["secrets"] = {}
    with pytest.warns(FloeNamingWarning) as record:
        parse_manifest(doc)
    assert len(record) == 1
    assert "plugins.compute.connection_secret_ref: secret name 'warehouse'" in str(
        record[0].message
    )


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("snowflake-prod-credentials", True),
        ("polaris-oauth-credentials", True),
        ("salesforce-api-secret", True),
        ("cube-jwt-signing-key", True),
        ("snowflake-credentials", False),
        ("credentials", False),
        ("snowflake-prod", False),
        ("orders.replica-api-secret", False),
    ],
)
def test_naming_convention(name: str, ok: bool) -> None:
    assert follows_naming_convention(name) is ok


def test_environment_of_several_words_owns_its_parts() -> None:
    doc = base()
    doc["environment"] = "prod-eu"
    doc["plugins"]["compute"]["connection_secret_ref"] = "snowflake-prod-eu-credentials"
    doc["secrets"] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_manifest(doc).environment == "prod-eu"


def test_secret_references_order_paths_and_keys() -> None:
    doc = base()
    doc["ingestion"]["pipelines"].append(
        {
            "name": "ads",
            "source": {"type": "google-ads", "secret_refs": {"developer_token": "ads-api-secret"}},
        }
    )
    manifest = parse_manifest(doc)
    assert manifest.secret_references() == [
        SecretReference(
            "snowflake-dev-credentials",
            "plugins.compute.connection_secret_ref",
            ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD"),
        ),
        SecretReference(
            "polaris-oauth-credentials", "plugins.catalog.config.client_secret_ref", ()
        ),
        SecretReference(
            "salesforce-api-secret",
            "ingestion.pipelines[0].source.secret_refs.client_id",
            ("client_id", "client_secret"),
        ),
        SecretReference(
            "ads-api-secret", "ingestion.pipelines[1].source.secret_refs.developer_token", ()
        ),
    ]


def test_secret_policy_and_assets() -> None:
    manifest = parse_manifest(base())
    policy = manifest.secret_policy("snowflake-dev-credentials")
    assert policy.max_age_days == 90
    assert policy.on_rotation == "rematerialize"
    assert manifest.assets_for_secret("snowflake-dev-credentials") == ("marts/orders", "customers")
    assert manifest.secret_policy("not-there") == SecretPolicy()
    assert SecretPolicy().on_rotation == "rematerialize"
    assert SecretPolicy().keys == []
    assert SecretPolicy().max_age_days is None
    assert manifest.assets_for_secret("polaris-oauth-credentials") == ()


def test_defaults() -> None:
    manifest = parse_manifest(GOOD["k8s-default-postgres"])
    assert manifest.plugins.secrets == SecretsPluginConfig()
    assert manifest.plugins.secrets.type == "k8s"
    assert manifest.plugins.secrets.namespace == "floe-jobs"
    assert manifest.plugins.secrets.config == K8sSecretsConfig()
    assert manifest.plugins.catalog is None
    assert manifest.ingestion.pipelines == []
    assert manifest.secrets == {}


@pytest.mark.parametrize(
    ("name", "config_type", "kwargs"),
    [
        ("base-k8s-snowflake", K8sSecretsConfig, {}),
        (
            "k8s-kubeconfig-bigquery",
            K8sSecretsConfig,
            {"kubeconfig": "/etc/floe/kubeconfig", "context": "admin"},
        ),
        ("local-duckdb", LocalSecretsConfig, {"path": "/tmp/floe-secrets"}),
        ("local-default-databricks", LocalSecretsConfig, {"path": ".floe/secrets"}),
    ],
)
def test_backend_kwargs_local_and_k8s(
    name: str, config_type: type[Any], kwargs: dict[str, Any]
) -> None:
    config = parse_manifest(GOOD[name]).plugins.secrets.config
    assert isinstance(config, config_type)
    assert config.backend_kwargs() == kwargs


def test_backend_kwargs_vault_and_eso_give_every_field() -> None:
    vault = parse_manifest(GOOD["vault-kubernetes"]).plugins.secrets.config
    assert isinstance(vault, VaultSecretsConfig)
    assert vault.backend_kwargs() == {
        "address": "https://vault.example.com",
        "auth_method": "kubernetes",
        "role": "floe",
        "mount_path": "kubernetes",
        "secret_path_prefix": "floe/",
        "kv_mount": "secret",
        "token_env": None,
        "role_id_env": "VAULT_ROLE_ID",
        "secret_id_env": "VAULT_SECRET_ID",
        "token_file": None,
    }
    eso = parse_manifest(GOOD["eso-aws"]).plugins.secrets.config
    assert isinstance(eso, ExternalSecretsConfig)
    kwargs = eso.backend_kwargs()
    assert kwargs["store"] == "aws-secrets-manager"
    assert kwargs["refresh_interval"] == "1h"
    assert kwargs["provider"] == "aws"
    assert kwargs["region"] == "us-east-1"
    assert set(kwargs) == set(ExternalSecretsConfig.model_fields)


def test_models_are_frozen() -> None:
    manifest = parse_manifest(base())
    with pytest.raises(ValueError, match="frozen"):
        manifest.environment = "prod"  # type: ignore[misc]


def test_config_model_must_match_type_when_built_in_python() -> None:
    with pytest.raises(ValueError, match="a K8sSecretsConfig does not configure the vault backend"):
        SecretsPluginConfig(type="vault", config=K8sSecretsConfig())
    built = SecretsPluginConfig(type="local", config=LocalSecretsConfig(path="/x"))
    assert built.config.backend_kwargs() == {"path": "/x"}


def test_strict_context_works_without_the_loader() -> None:
    with pytest.raises(ValueError, match="does not follow the ADR-0023 naming convention"):
        Manifest.model_validate(yaml.safe_load(ADR_EXAMPLE), context={"strict": True})


@pytest.mark.parametrize(
    ("key", "credential"),
    [
        ("password", True),
        ("db_password", True),
        ("clientSecret", True),
        ("private_key_passphrase", True),
        ("keyfile_json", True),
        ("api-key", True),
        ("token", True),
        ("SAS_KEY", True),
        ("clientsecret", True),
        ("privateKeyPath", True),
        ("tokenUri", True),
        ("secrets", True),
        ("gcp_credentials", True),
        ("secretary", False),
        ("tokenizer", False),
        ("role", False),
        ("host", False),
        ("warehouse", False),
        ("threads", False),
        ("authenticator", False),
        ("http_path", False),
        ("keepalives_idle", False),
    ],
)
def test_looks_like_credential(key: str, credential: bool) -> None:
    assert looks_like_credential(key) is credential


# --- ADR-0023: MUST NOT share secrets across environments -----------------------------------


def _env(environment: str, ref: str) -> Manifest:
    return parse_manifest(
        {
            "environment": environment,
            "plugins": {"compute": {"type": "postgres", "connection_secret_ref": ref}},
        }
    )


def test_shared_secret_across_environments_is_rejected() -> None:
    with pytest.warns(FloeNamingWarning):
        manifests = [_env("dev", "warehouse-db"), _env("prod", "warehouse-db")]
    with pytest.raises(InvalidManifestError) as info:
        check_no_shared_secrets(manifests)
    assert info.value.secret == "warehouse-db"
    assert info.value.problem == (
        "secrets shared across environments: 'warehouse-db' in dev "
        "(plugins.compute.connection_secret_ref) and prod (plugins.compute.connection_secret_ref)"
    )
    assert "MUST NOT share secrets across environments" in info.value.fix
    assert "'warehouse-db-dev-credentials'" in info.value.fix


def test_same_environment_may_share_and_aliases_are_one_environment() -> None:
    first = _env("prod", "postgres-prod-credentials")
    second = _env("production", "postgres-prod-credentials")
    check_no_shared_secrets([first, second])
    check_no_shared_secrets([_env("dev", "postgres-dev-credentials"), first])
    check_no_shared_secrets([])


def test_every_shared_name_is_listed() -> None:
    dev = parse_manifest(base())
    staging_doc = base()
    staging_doc["environment"] = "staging"
    staging_doc["plugins"]["compute"]["connection_secret_ref"] = "snowflake-staging-credentials"
    staging_doc["secrets"] = {}
    staging = parse_manifest(staging_doc)
    with pytest.raises(InvalidManifestError) as info:
        check_no_shared_secrets([dev, staging])
    problem = info.value.problem
    assert "'polaris-oauth-credentials' in dev (plugins.catalog.config.client_secret_ref) and " in (
        problem
    )
    assert "'salesforce-api-secret' in dev" in problem
    assert "snowflake" not in problem


def test_public_names() -> None:
    import floe_dagster_secrets.manifest as package

    public = {name for name in vars(package) if not name.startswith("_")}
    assert {
        "Manifest",
        "SecretPolicy",
        "SecretReference",
        "FloeNamingWarning",
        "load_manifest",
        "parse_manifest",
        "check_no_shared_secrets",
        "manifest_json_schema",
        "LocalSecretsConfig",
        "K8sSecretsConfig",
        "ExternalSecretsConfig",
        "VaultSecretsConfig",
    } <= public


def test_core_does_not_import_dagster() -> None:
    code = (
        "import sys, floe_dagster_secrets.manifest as m; "
        "m.manifest_json_schema(); "
        "assert not [n for n in sys.modules if n.split('.')[0] == 'dagster'], 'dagster imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
