"""VaultSecretsPlugin without a server: construction is lazy, paths are checked, config maps 1:1."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from floe_dagster_secrets.backends.factory import accepted_options
from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from floe_dagster_secrets.backends.vault.leases import DatabaseCredentials
from floe_dagster_secrets.backends.vault.plugin import parse_time
from floe_dagster_secrets.backends.vault.session import import_hvac
from floe_dagster_secrets.errors import (
    BackendNotInstalledError,
    InvalidManifestError,
    InvalidSecretReferenceError,
)
from floe_dagster_secrets.manifest import VaultSecretsConfig
from floe_dagster_secrets.types import SecretValue


def test_constructor_takes_exactly_the_manifest_fields_plus_tls_timeout_and_pinning() -> None:
    fields = set(VaultSecretsConfig.model_fields)
    extra = {"ca_cert", "timeout", "pin_reads"}
    assert accepted_options(VaultSecretsPlugin) == frozenset(fields | extra)


def test_manifest_config_builds_a_plugin_without_any_io() -> None:
    config = VaultSecretsConfig(address="https://vault.example.com")
    plugin = VaultSecretsPlugin(**config.backend_kwargs())
    assert plugin.auth.method == "kubernetes"
    assert plugin.auth.mount_path == "kubernetes"
    assert plugin.session._client is None  # nothing built until the first request
    plugin.close()


def test_approle_with_the_manifest_default_mount_uses_approle() -> None:
    config = VaultSecretsConfig(
        address="https://v.example.com",
        auth_method="approle",
        role_id_env="ROLE_ID",
        secret_id_env="SECRET_ID",
    )
    assert VaultSecretsPlugin(**config.backend_kwargs()).auth.mount_path == "approle"
    custom = VaultSecretsPlugin(address="https://v", auth_method="approle", mount_path="ci/approle")
    assert custom.auth.mount_path == "ci/approle"


def test_paths() -> None:
    plugin = VaultSecretsPlugin(
        address="https://v.example.com/", kv_mount="/kv/", secret_path_prefix="teams/data"
    )
    assert plugin.address == "https://v.example.com"
    assert plugin.secret_path("a-dev-key", "etl") == "teams/data/etl/a-dev-key"
    assert plugin.data_path("a-dev-key", "etl") == "kv/data/teams/data/etl/a-dev-key"
    assert plugin.metadata_path("a-dev-key", "etl") == "kv/metadata/teams/data/etl/a-dev-key"


@pytest.mark.parametrize(
    ("name", "namespace"), [("../x", "etl"), ("a/b", "etl"), ("ok-dev-key", "../etc"), ("", "etl")]
)
def test_path_traversal_is_refused(name: str, namespace: str) -> None:
    plugin = VaultSecretsPlugin(address="https://v")
    with pytest.raises(InvalidSecretReferenceError):
        plugin.data_path(name, namespace)


def test_bad_config() -> None:
    with pytest.raises(InvalidManifestError, match="auth_method"):
        VaultSecretsPlugin(address="https://v", auth_method="ldap")  # type: ignore[arg-type]
    with pytest.raises(InvalidManifestError, match="address"):
        VaultSecretsPlugin(address="")


def test_parse_time() -> None:
    parsed = parse_time("2026-11-28T04:19:56.838123456Z")
    assert parsed == datetime(2026, 11, 28, 4, 19, 56, 838123, tzinfo=UTC)
    assert parse_time("2026-11-28T04:19:56Z") == datetime(2026, 11, 28, 4, 19, 56, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("") is None
    assert parse_time(None) is None
    assert parse_time("garbage") is None


def test_database_credentials_never_show_the_password() -> None:
    creds = DatabaseCredentials(
        "v-user", SecretValue("p4ssw0rd-value"), "database/creds/r/1", 60, True
    )
    assert "p4ssw0rd-value" not in repr(creds)
    assert "p4ssw0rd-value" not in str(creds)


def test_importing_the_backend_does_not_import_hvac() -> None:
    code = (
        "import sys, floe_dagster_secrets.backends.vault, floe_dagster_secrets.backends.vault;"
        "assert 'hvac' not in sys.modules, 'hvac imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_hvac_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hvac", None)
    with pytest.raises(
        BackendNotInstalledError, match=r"pip install 'floe-dagster-secrets\[vault\]'"
    ):
        import_hvac()


def test_pod_login_overrides_only_with_the_launchers_variables() -> None:
    from floe_dagster_secrets.backends.vault import pod_login_overrides

    assert pod_login_overrides({"VAULT_ADDR": "https://dev-shell"}) == {}
    assert pod_login_overrides(
        {
            "VAULT_ADDR": "http://vault.vault.svc:8200",
            "FLOE_VAULT_AUTH_ROLE": "floe",
            "FLOE_VAULT_AUTH_MOUNT": "kubernetes-prod",
        }
    ) == {
        "address": "http://vault.vault.svc:8200",
        "role": "floe",
        "mount_path": "kubernetes-prod",
    }
    assert pod_login_overrides({"FLOE_VAULT_AUTH_ROLE": "floe"}) == {"role": "floe"}
