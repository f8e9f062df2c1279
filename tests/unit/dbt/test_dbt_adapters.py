"""Adapter specs: which keys a connection secret needs, the env a dbt process gets, bad settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from floe_dagster_secrets.dbt import (
    COMPUTE_TYPES,
    SECRET_ENV_PREFIX,
    SPECS,
    duckdb_extension_directory,
    env_var_reference,
    profile_env,
    render_profile,
    required_secret_keys,
)
from floe_dagster_secrets.errors import (
    FloeSecretsError,
    InvalidManifestError,
    InvalidSecretReferenceError,
    SecretNotFoundError,
)
from floe_dagster_secrets.types import SecretValue
from tests.unit.dbt.dbt_cases import MINIMAL


def _target(compute_type: str, settings: dict[str, Any]) -> dict[str, Any]:
    return render_profile(compute_type, settings)["floe"]["outputs"]["dev"]  # type: ignore[no-any-return]


def test_compute_types_are_the_manifests_five() -> None:
    assert COMPUTE_TYPES == ("snowflake", "bigquery", "databricks", "postgres", "duckdb")
    assert SECRET_ENV_PREFIX == "DBT_ENV_SECRET_"


@pytest.mark.parametrize(
    ("compute_type", "settings", "keys"),
    [
        ("snowflake", None, ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD")),
        (
            "snowflake",
            {"auth": "key_pair"},
            ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PRIVATE_KEY"),
        ),
        ("bigquery", None, ("GOOGLE_CLIENT_EMAIL", "GOOGLE_PRIVATE_KEY_ID", "GOOGLE_PRIVATE_KEY")),
        ("databricks", None, ("DATABRICKS_HOST", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN")),
        ("postgres", None, ("POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_PASSWORD")),
        ("duckdb", None, ("DUCKDB_ENCRYPTION_KEY",)),
    ],
)
def test_required_secret_keys(
    compute_type: str, settings: dict[str, Any] | None, keys: tuple[str, ...]
) -> None:
    assert required_secret_keys(compute_type, settings=settings) == keys


@pytest.mark.parametrize("compute_type", COMPUTE_TYPES)
def test_every_required_key_is_read_by_the_profile(compute_type: str) -> None:
    rendered = str(_target(compute_type, MINIMAL[compute_type]))
    for key in required_secret_keys(compute_type):
        assert env_var_reference(key) in rendered


def test_env_var_reference_shape() -> None:
    assert env_var_reference("X") == "{{ env_var('DBT_ENV_SECRET_X') }}"
    assert env_var_reference("X", optional=True) == "{{ env_var('DBT_ENV_SECRET_X', '') }}"


def test_profile_env_prefixes_every_key_and_reveals_secret_values() -> None:
    secret = {
        "POSTGRES_USER": SecretValue("u-value", register=False),
        "POSTGRES_HOST": SecretValue("h-value", register=False),
        "POSTGRES_PASSWORD": SecretValue("p-value", register=False),
        "EXTRA": SecretValue("e-value", register=False),
    }
    env = profile_env("postgres", secret)
    assert list(env) == [
        "DBT_ENV_SECRET_EXTRA",
        "DBT_ENV_SECRET_POSTGRES_HOST",
        "DBT_ENV_SECRET_POSTGRES_PASSWORD",
        "DBT_ENV_SECRET_POSTGRES_USER",
    ]
    assert env["DBT_ENV_SECRET_POSTGRES_PASSWORD"] == "p-value"


def test_profile_env_accepts_plain_text() -> None:
    assert profile_env("duckdb", {"DUCKDB_ENCRYPTION_KEY": "k"}) == {
        "DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY": "k"
    }


def test_profile_env_names_missing_keys_never_values() -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        profile_env(
            "snowflake",
            {"SNOWFLAKE_ACCOUNT": "acct-value-123", "SNOWFLAKE_USER": "user-value-456"},
            secret_name="snowflake-credentials",
        )
    message = str(caught.value)
    assert "SNOWFLAKE_PASSWORD" in message
    assert "snowflake-credentials" in message
    assert "acct-value-123" not in message
    assert "user-value-456" not in message
    assert caught.value.fix


def test_profile_env_follows_the_auth_setting() -> None:
    secret = {"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PRIVATE_KEY": "k"}
    with pytest.raises(SecretNotFoundError):
        profile_env("snowflake", secret)
    assert len(profile_env("snowflake", secret, settings={"auth": "key_pair"})) == 3


@pytest.mark.parametrize("key", ["1ABC", "HAS-DASH", "has space", ""])
def test_profile_env_refuses_keys_that_are_no_env_names(key: str) -> None:
    with pytest.raises(InvalidSecretReferenceError, match="environment variable"):
        profile_env("duckdb", {"DUCKDB_ENCRYPTION_KEY": "k", key: "v"})


def test_unknown_compute_type_lists_the_supported_ones() -> None:
    for call in (
        lambda: required_secret_keys("oracle"),
        lambda: render_profile("oracle", {}),
        lambda: profile_env("oracle", {}),
    ):
        with pytest.raises(InvalidManifestError) as caught:
            call()
        assert "oracle" in str(caught.value)
        assert "snowflake, bigquery, databricks, postgres, duckdb" in caught.value.fix


def test_unknown_auth_is_refused() -> None:
    with pytest.raises(InvalidManifestError, match="auth"):
        required_secret_keys("snowflake", settings={"auth": "oauth"})


@pytest.mark.parametrize("compute_type", COMPUTE_TYPES)
def test_missing_required_setting_names_it(compute_type: str) -> None:
    required = [s.name for s in SPECS[compute_type].settings if s.required]
    assert required
    settings = {k: v for k, v in MINIMAL[compute_type].items() if k != required[0]}
    with pytest.raises(InvalidManifestError) as caught:
        render_profile(compute_type, settings)
    assert f"plugins.compute.config.{required[0]}" in str(caught.value)
    assert caught.value.path == f"plugins.compute.config.{required[0]}"


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"threads": "4"}, "must be of type int"),
        ({"threads": True}, "must be of type int"),
        ({"threads": 0}, "at least 1"),
        ({"port": 70000}, "at most 65535"),
        ({"schema": 5}, "must be of type str"),
        ({"database": "a", "dbname": "b"}, "mean the same"),
    ],
)
def test_ill_typed_settings_are_refused(settings: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidManifestError, match=match):
        render_profile("postgres", {"dbname": "db", "schema": "s"} | settings)


def test_choices_are_enforced() -> None:
    with pytest.raises(InvalidManifestError, match="interactive, batch"):
        render_profile("bigquery", {"project": "p", "dataset": "d", "priority": "urgent"})


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"password": "hunter2-value"}, "plugins.compute.config.password"),
        ({"api_key": "k-value"}, "plugins.compute.config.api_key"),
        ({"motherduck_token": "t-value"}, "plugins.compute.config.motherduck_token"),
        ({"keyfile_json": {"a": "b"}}, "plugins.compute.config.keyfile_json"),
        (
            {"session": {"nested": {"aws_secret_access_key": "s-value"}}},
            "plugins.compute.config.session.nested.aws_secret_access_key",
        ),
        (
            {"note": "-----BEGIN RSA PRIVATE KEY-----\nMIIE-value\n"},
            "plugins.compute.config.note",
        ),
    ],
)
def test_credential_like_settings_are_refused_without_echoing_them(
    extra: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidSecretReferenceError) as caught:
        render_profile("duckdb", MINIMAL["duckdb"] | extra)
    message = str(caught.value)
    assert where in message
    assert "-value" not in message
    assert "connection secret" in caught.value.fix


@pytest.mark.parametrize(
    ("compute_type", "field", "key"),
    [
        ("snowflake", "user", "SNOWFLAKE_USER"),
        ("snowflake", "account", "SNOWFLAKE_ACCOUNT"),
        ("postgres", "host", "POSTGRES_HOST"),
        ("databricks", "http_path", "DATABRICKS_HTTP_PATH"),
    ],
)
def test_fields_of_the_secret_cannot_be_set_in_the_manifest(
    compute_type: str, field: str, key: str
) -> None:
    with pytest.raises(InvalidSecretReferenceError) as caught:
        render_profile(compute_type, MINIMAL[compute_type] | {field: "literal-value"})
    assert key in str(caught.value)
    assert "literal-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("compute_type", "field"),
    [
        ("duckdb", "attach"),
        ("duckdb", "config_options"),
        ("bigquery", "method"),
        ("postgres", "type"),
    ],
)
def test_fields_floe_writes_cannot_be_overridden(compute_type: str, field: str) -> None:
    with pytest.raises(InvalidManifestError, match="written by floe"):
        render_profile(compute_type, MINIMAL[compute_type] | {field: "x"})


def test_undeclared_settings_pass_through_sorted() -> None:
    target = _target("postgres", {"zeta": 1, "dbname": "db", "alpha": [1, "x"], "schema": "s"})
    assert list(target)[-2:] == ["alpha", "zeta"]
    assert target["alpha"] == [1, "x"]


def test_undeclared_settings_must_be_plain_data() -> None:
    with pytest.raises(InvalidManifestError, match=r"is a .*Path"):
        render_profile("postgres", {"dbname": "db", "schema": "s", "odd": Path("/x")})


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(InvalidManifestError, match="must be a mapping"):
        render_profile("postgres", ["dbname"])  # type: ignore[arg-type]


def test_postgres_port_is_a_setting_with_a_default() -> None:
    assert _target("postgres", MINIMAL["postgres"])["port"] == 5432


def test_duckdb_database_defaults_to_the_file_stem_and_is_the_attach_alias() -> None:
    target = _target("duckdb", {"path": "/d/sales_2026.duckdb", "extension_directory": "/e"})
    assert target["database"] == "sales_2026"
    assert target["attach"][0]["alias"] == "sales_2026"
    assert target["path"] == ":memory:"


@pytest.mark.parametrize("alias", ["main", "my-db", "temp"])
def test_duckdb_alias_must_be_a_plain_unreserved_identifier(alias: str) -> None:
    with pytest.raises(InvalidManifestError, match="SQL identifier"):
        render_profile("duckdb", MINIMAL["duckdb"] | {"database": alias})


def test_duckdb_extension_directory_is_resolved_from_the_installed_package() -> None:
    folder = Path(duckdb_extension_directory())
    assert folder.name == "extensions"
    assert list(folder.glob("v*/*/httpfs.duckdb_extension"))
    target = _target("duckdb", {"path": "/d/w.duckdb"})
    assert target["config_options"]["extension_directory"] == str(folder)


def test_every_error_is_a_floe_error_with_a_fix() -> None:
    with pytest.raises(FloeSecretsError) as caught:
        render_profile("snowflake", {})
    assert "Fix:" in str(caught.value)


def test_the_dbt_layer_imports_neither_dagster_nor_dbt() -> None:
    code = (
        "import sys, floe_dagster_secrets.dbt\n"
        "heavy = {'dagster', 'dbt', 'duckdb', 'kubernetes', 'hvac'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
