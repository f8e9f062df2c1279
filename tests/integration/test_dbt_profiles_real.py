"""Generated profiles against real dbt: DuckDB and PostgreSQL end to end, cloud adapters' classes.

DuckDB and PostgreSQL run ``dbt debug``, ``parse`` and ``run`` as subprocesses with the secret
only in ``DBT_ENV_SECRET_*`` variables, and then look for the secret in every file dbt wrote.
Snowflake and BigQuery cannot be reached from here, so their rendered profiles go through dbt's
own profile renderer (``env_var`` and the secret placeholder substitution) into the adapter's
credentials class, and through the client library's key loading.
"""

from __future__ import annotations

import contextvars
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest
import yaml

from floe_dagster_secrets.dbt import (
    duckdb_extension_directory,
    profile_env,
    render_profiles_yml,
    write_profiles_yml,
)
from tests.servers import PostgresServer

pytestmark = pytest.mark.integration

DBT = str(Path(sys.executable).parent / "dbt")


def _project(root: Path) -> Path:
    """A one-model dbt project using the ``floe`` profile."""
    project = root / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: floe_probe\nversion: '1.0'\nprofile: floe\n"
        "models:\n  floe_probe:\n    +materialized: table\n"
    )
    (project / "models" / "greeting.sql").write_text("select 1 as id, 'hello' as greeting\n")
    return project


def _dbt(
    command: str, project: Path, profiles: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run real dbt with a clean environment plus ``env`` (the DBT_ENV_SECRET_* variables)."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(profiles.parent),
        "LANG": "C.UTF-8",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    return subprocess.run(
        [DBT, command, "--project-dir", str(project), "--profiles-dir", str(profiles)],
        cwd=project,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _files_holding(value: str, *folders: Path) -> list[str]:
    hits = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and value.encode() in path.read_bytes():
                hits.append(str(path))
    return hits


def _canary(tag: str) -> str:
    return f"canary-{tag}-{secrets.token_hex(12)}"


# --- DuckDB: an encrypted database opened with the key from the secret --------------------------


def _duckdb_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    project = _project(tmp_path)
    profiles = tmp_path / "profiles"
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    write_profiles_yml(profiles, "duckdb", {"path": str(warehouse)})
    return project, profiles, warehouse


def _read_encrypted(warehouse: Path, key: str) -> list[tuple[Any, ...]]:
    config = {"extension_directory": duckdb_extension_directory()}
    config["autoinstall_known_extensions"] = False  # type: ignore[assignment]
    with duckdb.connect(":memory:", config=config) as con:
        con.execute("LOAD httpfs")
        con.execute(f"ATTACH '{warehouse}' AS w (ENCRYPTION_KEY '{key}', READ_ONLY)")
        return con.execute("select id, greeting from w.main.greeting").fetchall()


def test_duckdb_profile_runs_dbt_on_an_encrypted_file_and_leaves_no_key(tmp_path: Path) -> None:
    project, profiles, warehouse = _duckdb_setup(tmp_path)
    key = _canary("duckdb")
    env = profile_env("duckdb", {"DUCKDB_ENCRYPTION_KEY": key})
    assert list(env) == ["DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY"]

    outputs = []
    for command in ("debug", "parse", "run"):
        result = _dbt(command, project, profiles, env)
        _ok(result)
        outputs.append(result.stdout + result.stderr)
    assert "Connection test: [OK connection ok]" in outputs[0]
    assert "'encryption_key': '*****'" in outputs[0]  # dbt scrubs DBT_ENV_SECRET_* values

    assert _read_encrypted(warehouse, key) == [(1, "hello")]
    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect(str(warehouse)).close()

    assert all(key not in text for text in outputs)
    written = [project / "target", project / "logs", profiles]
    assert all(folder.is_dir() for folder in written)
    # The scan finds what is there (the variable's name), so finding no key means something.
    assert _files_holding("DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY", *written)
    assert _files_holding(key, *written, warehouse.parent) == []


def test_duckdb_wrong_key_fails_dbt(tmp_path: Path) -> None:
    project, profiles, _ = _duckdb_setup(tmp_path)
    right = profile_env("duckdb", {"DUCKDB_ENCRYPTION_KEY": _canary("right")})
    _ok(_dbt("run", project, profiles, right))

    wrong_key = _canary("wrong")
    wrong = profile_env("duckdb", {"DUCKDB_ENCRYPTION_KEY": wrong_key})
    for command in ("debug", "run"):
        result = _dbt(command, project, profiles, wrong)
        assert result.returncode != 0
        assert wrong_key not in result.stdout + result.stderr
    assert "Wrong encryption key" in result.stdout + result.stderr
    assert _files_holding(wrong_key, project / "target", project / "logs", profiles) == []


def test_dbt_names_a_missing_secret_variable(tmp_path: Path) -> None:
    project, profiles, _ = _duckdb_setup(tmp_path)
    result = _dbt("parse", project, profiles, {})
    assert result.returncode != 0
    assert "DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY" in result.stdout + result.stderr


# --- PostgreSQL: a real server, a role whose password lives only in the secret --------------------


def test_postgres_profile_runs_dbt_against_a_real_server(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    role = f"dbt_{secrets.token_hex(4)}"
    password = _canary("pg")
    schema = f"floe_{secrets.token_hex(4)}"
    admin = psycopg2.connect(postgres_server.dsn())
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (password,))
            cur.execute(f"GRANT CREATE ON DATABASE {postgres_server.dbname} TO {role}")

        project = _project(tmp_path)
        profiles = tmp_path / "profiles"
        settings = {
            "dbname": postgres_server.dbname,
            "schema": schema,
            "port": postgres_server.port,
            "threads": 1,
        }
        write_profiles_yml(profiles, "postgres", settings)
        secret = {
            "POSTGRES_HOST": postgres_server.host,
            "POSTGRES_USER": role,
            "POSTGRES_PASSWORD": password,
        }
        env = profile_env("postgres", secret)
        outputs = []
        for command in ("debug", "run"):
            result = _dbt(command, project, profiles, env)
            _ok(result)
            outputs.append(result.stdout + result.stderr)
        assert "Connection test: [OK connection ok]" in outputs[0]

        with admin.cursor() as cur:
            cur.execute(f"select id, greeting from {schema}.greeting")  # noqa: S608 (our name)
            assert cur.fetchall() == [(1, "hello")]

        assert all(password not in text for text in outputs)
        assert _files_holding(password, project / "target", project / "logs", profiles) == []

        bad = profile_env("postgres", secret | {"POSTGRES_PASSWORD": _canary("bad")})
        result = _dbt("debug", project, profiles, bad)
        assert result.returncode != 0
        assert "password authentication failed" in result.stdout + result.stderr
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            cur.execute(f"REVOKE ALL ON DATABASE {postgres_server.dbname} FROM {role}")
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()


# --- Snowflake and BigQuery: dbt's renderer and the adapters' credentials classes ---------------


def _dbt_credentials(profile_text: str, env: dict[str, str]) -> Any:
    """Render a profiles.yml the way dbt does (with ``env``) and build its credentials object."""
    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    def load() -> Any:
        set_invocation_context(env)
        raw = yaml.safe_load(profile_text)["floe"]
        # The two steps of Profile.from_raw_profile_info that need no global dbt flags.
        target, data = Profile.render_profile(raw, "floe", None, ProfileRenderer({}))
        return Profile._credentials_from_profile(data, "floe", target)

    # A copy of the context, so the invocation context does not outlive this call.
    return contextvars.copy_context().run(load)


def _rsa_pem(passphrase: str | None = None) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def test_snowflake_password_profile_builds_snowflake_credentials() -> None:
    from dbt.adapters.snowflake import SnowflakeCredentials

    settings = {"database": "ANALYTICS", "schema": "MARTS", "warehouse": "WH", "role": "DBT"}
    secret = {
        "SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1",
        "SNOWFLAKE_USER": "dbt_user",
        "SNOWFLAKE_PASSWORD": "pw-{{ not jinja }}-'quote",
    }
    creds = _dbt_credentials(
        render_profiles_yml("snowflake", settings), profile_env("snowflake", secret)
    )
    assert isinstance(creds, SnowflakeCredentials)
    assert (creds.account, creds.user, creds.password) == (
        "xy12345.eu-west-1",
        "dbt_user",
        secret["SNOWFLAKE_PASSWORD"],
    )
    assert (creds.database, creds.schema, creds.warehouse, creds.role) == (
        "ANALYTICS",
        "MARTS",
        "WH",
        "DBT",
    )
    assert creds.auth_args()["password"] == secret["SNOWFLAKE_PASSWORD"]
    assert "'*****'" not in str(creds.password)


@pytest.mark.parametrize("passphrase", [None, "correct horse"])
def test_snowflake_key_pair_profile_loads_the_private_key(passphrase: str | None) -> None:
    from dbt.adapters.snowflake import SnowflakeCredentials

    settings = {"auth": "key_pair", "database": "ANALYTICS", "schema": "MARTS"}
    secret = {
        "SNOWFLAKE_ACCOUNT": "xy12345",
        "SNOWFLAKE_USER": "dbt_user",
        "SNOWFLAKE_PRIVATE_KEY": _rsa_pem(passphrase),
    }
    if passphrase:
        secret["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"] = passphrase
    env = profile_env("snowflake", secret, settings=settings)
    creds = _dbt_credentials(render_profiles_yml("snowflake", settings), env)
    assert isinstance(creds, SnowflakeCredentials)
    assert creds.private_key == secret["SNOWFLAKE_PRIVATE_KEY"]
    assert creds.private_key_passphrase == (passphrase or "")
    assert creds.password is None
    der = creds.auth_args()["private_key"]
    assert isinstance(der, bytes)
    assert len(der) > 1000


def test_bigquery_profile_builds_a_service_account_from_env_vars() -> None:
    from dbt.adapters.bigquery.credentials import BigQueryCredentials, create_google_credentials

    settings = {"project": "floe-analytics", "dataset": "marts", "location": "EU"}
    secret = {
        "GOOGLE_CLIENT_EMAIL": "dbt@floe-analytics.iam.gserviceaccount.com",
        "GOOGLE_PRIVATE_KEY_ID": secrets.token_hex(20),
        "GOOGLE_PRIVATE_KEY": _rsa_pem(),
    }
    creds = _dbt_credentials(
        render_profiles_yml("bigquery", settings), profile_env("bigquery", secret)
    )
    assert isinstance(creds, BigQueryCredentials)
    assert creds.method == "service-account-json"
    assert (creds.database, creds.schema, creds.location) == ("floe-analytics", "marts", "EU")
    assert creds.keyfile_json["private_key"] == secret["GOOGLE_PRIVATE_KEY"]
    google = create_google_credentials(creds)  # google-auth parses and loads the key, offline
    assert google.service_account_email == secret["GOOGLE_CLIENT_EMAIL"]
    assert google.signer.key_id == secret["GOOGLE_PRIVATE_KEY_ID"]


def test_bigquery_accepts_a_private_key_with_escaped_newlines() -> None:
    """Some secret stores keep the key as it appears inside the JSON file: ``\\n`` escapes."""
    from dbt.adapters.bigquery.credentials import create_google_credentials

    pem = _rsa_pem()
    secret = {
        "GOOGLE_CLIENT_EMAIL": "dbt@p.iam.gserviceaccount.com",
        "GOOGLE_PRIVATE_KEY_ID": "k1",
        "GOOGLE_PRIVATE_KEY": pem.replace("\n", "\\n"),
    }
    text = render_profiles_yml("bigquery", {"project": "p", "dataset": "d"})
    creds = _dbt_credentials(text, profile_env("bigquery", secret))
    assert creds.keyfile_json["private_key"] == pem
    assert create_google_credentials(creds).service_account_email == secret["GOOGLE_CLIENT_EMAIL"]
