"""dbt_env, the manifest → resource factory and the floe/secrets metadata helpers."""

from pathlib import Path

import pytest

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import SecretNotFoundError
from floe_dagster_secrets.manifest import Manifest, load_manifest
from floe_dagster_secrets.resources import (
    SECRETS_METADATA_KEY,
    K8sSecretsResource,
    LocalSecretsResource,
    VaultSecretsResource,
    secrets_from_metadata,
    secrets_metadata,
    secrets_resource_from_manifest,
)

NAMESPACE = "floe-jobs"
SECRET = "duckdb-dev-credentials"


def _manifest(
    tmp_path: Path, secrets_section: str, *, policy_keys: str = "[DUCKDB_ENCRYPTION_KEY]"
) -> Manifest:
    path = tmp_path / "manifest.yaml"
    path.write_text(
        f"""
environment: dev
plugins:
  secrets:
{secrets_section}
  compute:
    type: duckdb
    connection_secret_ref: {SECRET}
    config:
      path: warehouse.duckdb
secrets:
  {SECRET}:
    keys: {policy_keys}
"""
    )
    return load_manifest(path)


LOCAL = """    type: local
    namespace: floe-jobs
    config:
      path: .floe/secrets"""


def test_dbt_env_prefixes_every_key_of_the_connection_secret(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, LOCAL)
    resource = secrets_resource_from_manifest(manifest, base_dir=tmp_path)
    LocalSecretsPlugin(path=tmp_path / ".floe" / "secrets").create_secret(
        SECRET, NAMESPACE, {"DUCKDB_ENCRYPTION_KEY": "key-value-1234", "EXTRA": "extra-value"}
    )

    assert resource.dbt_env(manifest) == {
        "DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY": "key-value-1234",
        "DBT_ENV_SECRET_EXTRA": "extra-value",
    }


def test_dbt_env_names_keys_the_policy_requires(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, LOCAL, policy_keys="[DUCKDB_ENCRYPTION_KEY, AUDIT_TOKEN]")
    resource = secrets_resource_from_manifest(manifest, base_dir=tmp_path)
    LocalSecretsPlugin(path=tmp_path / ".floe" / "secrets").create_secret(
        SECRET, NAMESPACE, {"DUCKDB_ENCRYPTION_KEY": "key-value-1234"}
    )

    with pytest.raises(SecretNotFoundError) as info:
        resource.dbt_env(manifest)

    message = str(info.value)
    assert "AUDIT_TOKEN" in message
    assert SECRET in message
    assert "key-value-1234" not in message


def test_factory_resolves_a_relative_store_against_the_manifest(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, LOCAL)

    resource = secrets_resource_from_manifest(manifest, base_dir=tmp_path)

    assert isinstance(resource, LocalSecretsResource)
    assert resource.path == str(tmp_path / ".floe" / "secrets")
    assert resource.namespace == NAMESPACE


def test_factory_builds_the_k8s_resource_from_references(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        """    type: k8s
    namespace: team-a
    config:
      kubeconfig: /etc/floe/kubeconfig
      context: dev""",
    )

    resource = secrets_resource_from_manifest(manifest)

    assert isinstance(resource, K8sSecretsResource)
    assert (resource.kubeconfig, resource.context, resource.namespace) == (
        "/etc/floe/kubeconfig",
        "dev",
        "team-a",
    )


def test_factory_builds_the_vault_resource_from_references(tmp_path: Path) -> None:
    manifest = _manifest(
        tmp_path,
        """    type: vault
    namespace: team-a
    config:
      address: https://vault.example.com
      auth_method: approle
      role_id_env: FLOE_ROLE_ID
      secret_id_env: FLOE_SECRET_ID""",
    )

    resource = secrets_resource_from_manifest(manifest)

    assert isinstance(resource, VaultSecretsResource)
    assert (resource.address, resource.auth_method, resource.secret_id_env) == (
        "https://vault.example.com",
        "approle",
        "FLOE_SECRET_ID",
    )


def test_factory_builds_the_eso_resource_with_references_only(tmp_path: Path) -> None:
    from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
    from floe_dagster_secrets.resources import ESOSecretsResource

    manifest = _manifest(
        tmp_path,
        """    type: external-secrets
    config:
      store: aws-secrets-manager
      provider: aws
      region: eu-west-1""",
    )

    resource = secrets_resource_from_manifest(manifest)

    assert isinstance(resource, ESOSecretsResource)
    assert (resource.store, resource.provider, resource.region) == (
        "aws-secrets-manager",
        "aws",
        "eu-west-1",
    )
    plugin = resource.plugin()
    assert isinstance(plugin, ESOSecretsPlugin)
    assert plugin.cluster_secret_store()["spec"]["provider"]["aws"]["region"] == "eu-west-1"


def test_secrets_metadata_round_trips() -> None:
    metadata = secrets_metadata(["a-credentials", "b-credentials", "a-credentials"])

    assert metadata == {SECRETS_METADATA_KEY: "a-credentials,b-credentials"}
    assert secrets_from_metadata(metadata) == ("a-credentials", "b-credentials")
    assert secrets_from_metadata({}) == ()
