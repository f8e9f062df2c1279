"""VaultSecretsResource holds references only and maps 1:1 onto the plugin's constructor."""

from __future__ import annotations

import inspect

import pytest

from floe_dagster_secrets.backends.factory import accepted_options
from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import VaultSecretsConfig
from floe_dagster_secrets.resources.vault import VaultSecretsResource


def test_fields_are_references_never_credentials() -> None:
    fields = set(VaultSecretsResource.model_fields)
    assert not fields & {"token", "role_id", "secret_id", "password", "jwt"}
    assert {"token_env", "role_id_env", "secret_id_env", "token_file"} <= fields


def test_backend_kwargs_are_the_plugin_constructor() -> None:
    resource = VaultSecretsResource(address="https://vault.example.com")
    assert set(resource.backend_kwargs()) == accepted_options(VaultSecretsPlugin)
    manifest_fields = set(VaultSecretsConfig.model_fields)
    assert manifest_fields <= set(VaultSecretsResource.model_fields)


def test_plugin_is_built_lazily_without_io() -> None:
    resource = VaultSecretsResource(
        address="https://vault.example.com",
        auth_method="approle",
    )
    plugin = resource.vault()
    assert isinstance(plugin, VaultSecretsPlugin)
    assert plugin.auth.mount_path == "approle"
    assert (plugin.auth.role_id_env, plugin.auth.secret_id_env) == (
        "VAULT_ROLE_ID",
        "VAULT_SECRET_ID",
    )
    assert plugin.session._client is None


def test_database_credentials_need_a_database_role() -> None:
    resource = VaultSecretsResource(address="https://vault.example.com")
    with pytest.raises(InvalidManifestError, match="database_role"):
        resource.database_credentials()


def test_in_a_launcher_pod_the_launchers_login_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", "http://vault.vault.svc:8200")
    monkeypatch.setenv("FLOE_VAULT_AUTH_ROLE", "floe-prod")
    monkeypatch.setenv("FLOE_VAULT_AUTH_MOUNT", "k8s-prod")
    plugin = VaultSecretsResource(address="https://vault.example.com").vault()
    assert plugin.address == "http://vault.vault.svc:8200"
    assert plugin.auth.role == "floe-prod"
    assert plugin.auth.mount_path == "k8s-prod"


def test_approle_defaults_are_the_config_models() -> None:
    """One declaration: the manifest's defaults are the resource's and the plugin's."""
    model = VaultSecretsConfig.model_fields
    resource = VaultSecretsResource.model_fields
    for field in ("role_id_env", "secret_id_env"):
        assert resource[field].default == model[field].default
        plugin_default = inspect.signature(VaultSecretsPlugin).parameters[field].default
        assert plugin_default == model[field].default


def test_resource_from_the_manifest_config() -> None:
    """What ``secrets_resource_from_manifest`` does: namespace plus every config field."""
    config = VaultSecretsConfig(
        address="https://vault.example.com",
        auth_method="approle",
        role_id_env="ROLE_ID",
        secret_id_env="SECRET_ID",
    )
    resource = VaultSecretsResource(namespace="floe-jobs", **config.backend_kwargs())
    auth = resource.vault().auth
    assert (auth.method, auth.mount_path, auth.role_id_env) == ("approle", "approle", "ROLE_ID")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"address": "not-a-url"}, "address"),
        ({"address": "https://vault.example", "role_id_env": "VAULT ROLE"}, "role_id_env"),
        ({"address": "https://vault.example", "kv_mount": "bad mount!"}, "kv_mount"),
        ({"address": "https://vault.example", "secret_path_prefix": "no-slash"}, "prefix"),
    ],
)
def test_resource_gets_the_manifests_checks(fields: dict[str, str], named: str) -> None:
    """The resource validates with the backend's one declaration (its config model)."""
    resource = VaultSecretsResource(**fields)
    with pytest.raises(InvalidManifestError, match=named):
        resource.plugin()
