"""What each compute type's dbt profile needs: fields from the connection secret, and settings.

Every key of the connection secret reaches the job pod as ``DBT_ENV_SECRET_<KEY>`` (an ``envFrom``
prefix) and the profile reads it with ``{{ env_var('DBT_ENV_SECRET_<KEY>') }}``. dbt scrubs the
values of ``DBT_ENV_SECRET_*`` variables from its logs, and allows them only in ``profiles.yml``
and ``packages.yml``. Non-secret settings (database, schema, warehouse, path, threads …) come from
the manifest's ``plugins.compute.config`` and are written into the profile as plain values.

What dbt does with a secret variable decides what a secret key can be (checked in dbt-core 1.11
``dbt/config/renderer.py`` and ``dbt/context/secret.py``, and by rendering real profiles): while
rendering a profile, ``env_var('DBT_ENV_SECRET_X')`` returns a *placeholder* and the value is
substituted into the rendered *string* afterwards, "to avoid any risk of Jinja manipulation".
So a secret value is always a whole string field, and no filter can change it:

* ``| as_number`` on a secret fails ("Could not convert value '$$$DBT_SECRET_START$$$…' into type
  'number'") and ``| int`` silently gives 0. A port therefore cannot come from the secret: the
  PostgreSQL port is the non-secret setting ``port`` (default 5432), and ``POSTGRES_PORT`` in the
  secret, if present, is not read by the profile.
* ``fromjson(env_var(...))`` sees the placeholder, not the JSON, and dbt-bigquery's
  ``keyfile_json`` must be a mapping (a JSON or base64 string fails its schema check). A whole
  service-account JSON in one secret key cannot reach ``keyfile_json``. The BigQuery secret
  therefore holds the three secret fields of the key file as separate keys
  (``GOOGLE_CLIENT_EMAIL``, ``GOOGLE_PRIVATE_KEY``, ``GOOGLE_PRIVATE_KEY_ID``) and the profile
  builds ``keyfile_json`` from them with ``method: service-account-json``; google-auth's
  ``from_service_account_info`` needs ``client_email``, ``token_uri`` and ``private_key`` (and
  uses ``private_key_id`` when present). ``token_uri`` is a setting with Google's default. This
  keeps the credential in env vars only, with no key file on disk.

DuckDB (checked with dbt-duckdb 1.11.1, duckdb 1.4.4 and real ``dbt debug``/``run``): the profile
opens an in-memory database and ``attach``-es the encrypted file with ``options: {encryption_key:
"{{ env_var('DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY') }}"}``; dbt-duckdb turns options into
``ATTACH IF NOT EXISTS 'path' AS alias (ENCRYPTION_KEY '…')`` and ``dbt debug`` shows the option
as ``'*****'``. Writing an encrypted file needs the httpfs extension (OpenSSL). It cannot be
downloaded here, but the PyPI package ``duckdb-ext-httpfs`` ships it for the exact DuckDB version,
so ``config_options`` (passed to ``duckdb.connect``, before any extension loads) point
``extension_directory`` at that package's ``extensions/`` folder with
``autoinstall_known_extensions: false``, and ``extensions: [httpfs]`` loads it (the INSTALL step
finds the file and does nothing). ``database`` is the attach alias, so models land in the
encrypted file. A wrong key fails the connection with "Wrong encryption key used to open the
database file"; a plain ``duckdb.connect`` of the file fails with "Cannot open encrypted database
… without a key". The extension directory is a path, not a secret: it is resolved from the
installed package when the profile is rendered, unless the setting ``extension_directory`` says
where it is in the image that runs dbt.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from floe_dagster_secrets.dbt.spec import (
    AdapterSpec,
    SecretField,
    Setting,
    env_var_reference,
    resolve_settings,
    secret_env_name,
)
from floe_dagster_secrets.errors import (
    BackendNotInstalledError,
    InvalidManifestError,
    InvalidSecretReferenceError,
    SecretNotFoundError,
)
from floe_dagster_secrets.kube.pod_spec import ENV_VAR_NAME
from floe_dagster_secrets.types import SecretValue

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a public URL)


def duckdb_extension_directory() -> str:
    """The ``extensions/`` folder of the installed ``duckdb-ext-httpfs`` for this DuckDB version.

    Extensions are tied to the exact DuckDB version, so the folder must hold ``v<version>/``.

    Raises:
        BackendNotInstalledError: the package (or its build for this DuckDB) is not installed.
    """
    try:
        version = importlib.metadata.version("duckdb")
    except importlib.metadata.PackageNotFoundError as e:
        raise BackendNotInstalledError(
            "DuckDB is not installed",
            fix="pip install 'duckdb==1.4.4' 'duckdb-ext-httpfs==1.4.4.20260205'",
            backend="duckdb",
        ) from e
    spec = importlib.util.find_spec("duckdb_ext")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "extensions"
        if any((folder / f"v{version}").glob("*/httpfs.duckdb_extension")):
            return str(folder)
    raise BackendNotInstalledError(
        f"The httpfs extension for DuckDB {version} (needed to write an encrypted database) "
        "is not installed",
        fix=f"pip install the duckdb-ext-httpfs build for DuckDB {version}, or set "
        "plugins.compute.config.extension_directory to a folder holding "
        f"v{version}/<platform>/httpfs.duckdb_extension",
        backend="duckdb",
    )


def _snowflake(s: Mapping[str, Any], ref: Callable[[str], str]) -> dict[str, Any]:
    target: dict[str, Any] = {
        "type": "snowflake",
        "account": ref("SNOWFLAKE_ACCOUNT"),
        "user": ref("SNOWFLAKE_USER"),
    }
    if s["auth"] == "key_pair":
        target["private_key"] = ref("SNOWFLAKE_PRIVATE_KEY")
        target["private_key_passphrase"] = ref("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    else:
        target["password"] = ref("SNOWFLAKE_PASSWORD")
    return target | _rest(s, exclude={"auth"})


def _bigquery(s: Mapping[str, Any], ref: Callable[[str], str]) -> dict[str, Any]:
    keyfile = {
        "type": "service_account",
        "client_email": ref("GOOGLE_CLIENT_EMAIL"),
        "private_key_id": ref("GOOGLE_PRIVATE_KEY_ID"),
        "private_key": ref("GOOGLE_PRIVATE_KEY"),
        "token_uri": s["token_uri"],
    }
    target = {"type": "bigquery", "method": "service-account-json", "keyfile_json": keyfile}
    return target | _rest(s, exclude={"token_uri"})


def _databricks(s: Mapping[str, Any], ref: Callable[[str], str]) -> dict[str, Any]:
    target = {
        "type": "databricks",
        "host": ref("DATABRICKS_HOST"),
        "http_path": ref("DATABRICKS_HTTP_PATH"),
        "token": ref("DATABRICKS_TOKEN"),
    }
    return target | _rest(s)


def _postgres(s: Mapping[str, Any], ref: Callable[[str], str]) -> dict[str, Any]:
    target = {
        "type": "postgres",
        "host": ref("POSTGRES_HOST"),
        "user": ref("POSTGRES_USER"),
        "password": ref("POSTGRES_PASSWORD"),
    }
    return target | _rest(s)


_DUCKDB_RESERVED = frozenset({"main", "memory", "system", "temp"})


def _duckdb(s: Mapping[str, Any], ref: Callable[[str], str]) -> dict[str, Any]:
    path = str(s["path"])
    alias = s.get("database") or Path(path).stem
    if not ENV_VAR_NAME.match(alias) or alias.lower() in _DUCKDB_RESERVED:
        raise InvalidManifestError(
            f"DuckDB database name '{alias}' (the alias the encrypted file is attached as) is "
            "not a plain SQL identifier or is reserved",
            fix="set plugins.compute.config.database to letters, digits and '_' (not main, "
            "memory, system or temp)",
            path="plugins.compute.config.database",
        )
    target: dict[str, Any] = {
        "type": "duckdb",
        "path": ":memory:",
        "database": alias,
        "schema": s["schema"],
        "threads": s["threads"],
        "config_options": {
            "extension_directory": s.get("extension_directory") or duckdb_extension_directory(),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": True,
        },
        "extensions": ["httpfs"],
        "attach": [
            {
                "path": path,
                "alias": alias,
                "options": {"encryption_key": ref("DUCKDB_ENCRYPTION_KEY")},
            }
        ],
    }
    taken = {"path", "database", "schema", "threads", "extension_directory"}
    return target | _rest(s, exclude=taken)


def _rest(settings: Mapping[str, Any], *, exclude: set[str] | None = None) -> dict[str, Any]:
    """The settings that go into the target as they are (declared order, then extras sorted)."""
    return {k: v for k, v in settings.items() if k not in (exclude or set())}


_THREADS = Setting("threads", int, default=4, minimum=1)

SPECS: dict[str, AdapterSpec] = {
    "snowflake": AdapterSpec(
        "snowflake",
        auth_methods={
            "password": (
                SecretField(("account",), "SNOWFLAKE_ACCOUNT"),
                SecretField(("user",), "SNOWFLAKE_USER"),
                SecretField(("password",), "SNOWFLAKE_PASSWORD"),
            ),
            "key_pair": (
                SecretField(("account",), "SNOWFLAKE_ACCOUNT"),
                SecretField(("user",), "SNOWFLAKE_USER"),
                SecretField(("private_key",), "SNOWFLAKE_PRIVATE_KEY"),
                SecretField(
                    ("private_key_passphrase",), "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", optional=True
                ),
            ),
        },
        settings=(
            Setting("auth", str, default="password", choices=("password", "key_pair")),
            Setting("database", str, required=True),
            Setting("schema", str, required=True),
            Setting("warehouse", str),
            Setting("role", str),
            _THREADS,
            Setting("client_session_keep_alive", bool),
            Setting("query_tag", str),
            Setting("connect_retries", int, minimum=0),
            Setting("connect_timeout", int, minimum=1),
        ),
        build=_snowflake,
        managed=frozenset({"type", "authenticator", "private_key_path"}),
    ),
    "bigquery": AdapterSpec(
        "bigquery",
        auth_methods={
            "service_account": (
                SecretField(("keyfile_json", "client_email"), "GOOGLE_CLIENT_EMAIL"),
                SecretField(("keyfile_json", "private_key_id"), "GOOGLE_PRIVATE_KEY_ID"),
                SecretField(("keyfile_json", "private_key"), "GOOGLE_PRIVATE_KEY"),
            ),
        },
        settings=(
            Setting("project", str, required=True, aliases=("database",)),
            Setting("dataset", str, required=True, aliases=("schema",)),
            Setting("location", str),
            _THREADS,
            Setting("priority", str, choices=("interactive", "batch")),
            Setting("job_execution_timeout_seconds", int, minimum=1),
            Setting("job_retries", int, minimum=0),
            Setting("maximum_bytes_billed", int, minimum=1),
            Setting("execution_project", str),
            Setting("impersonate_service_account", str),
            Setting("token_uri", str, default=GOOGLE_TOKEN_URI),
        ),
        build=_bigquery,
        managed=frozenset({"type", "method", "keyfile"}),
    ),
    "databricks": AdapterSpec(
        "databricks",
        auth_methods={
            "token": (
                SecretField(("host",), "DATABRICKS_HOST"),
                SecretField(("http_path",), "DATABRICKS_HTTP_PATH"),
                SecretField(("token",), "DATABRICKS_TOKEN"),
            ),
        },
        settings=(
            Setting("catalog", str, aliases=("database",)),
            Setting("schema", str, required=True),
            _THREADS,
            Setting("connect_retries", int, minimum=0),
            Setting("connect_timeout", int, minimum=1),
        ),
        build=_databricks,
        managed=frozenset({"type", "auth_type"}),
    ),
    "postgres": AdapterSpec(
        "postgres",
        auth_methods={
            "password": (
                SecretField(("host",), "POSTGRES_HOST"),
                SecretField(("user",), "POSTGRES_USER"),
                SecretField(("password",), "POSTGRES_PASSWORD"),
            ),
        },
        settings=(
            Setting("port", int, default=5432, minimum=1, maximum=65535),
            Setting("dbname", str, required=True, aliases=("database",)),
            Setting("schema", str, required=True),
            _THREADS,
            Setting("sslmode", str),
            Setting("connect_timeout", int, minimum=1),
            Setting("keepalives_idle", int, minimum=0),
            Setting("search_path", str),
            Setting("role", str),
            Setting("retries", int, minimum=0),
        ),
        build=_postgres,
        managed=frozenset({"type"}),
    ),
    "duckdb": AdapterSpec(
        "duckdb",
        auth_methods={
            "encryption_key": (
                SecretField(("attach", 0, "options", "encryption_key"), "DUCKDB_ENCRYPTION_KEY"),
            ),
        },
        settings=(
            Setting("path", str, required=True),
            Setting("database", str, aliases=("alias",)),
            Setting("schema", str, default="main"),
            Setting("threads", int, default=1, minimum=1),
            Setting("extension_directory", str),
        ),
        build=_duckdb,
        managed=frozenset(
            {"type", "attach", "config_options", "extensions", "motherduck_token", "secrets"}
        ),
    ),
}

COMPUTE_TYPES: tuple[str, ...] = tuple(SPECS)


def get_spec(compute_type: str) -> AdapterSpec:
    """The spec of a compute type, or a clear error listing the supported ones."""
    try:
        return SPECS[compute_type]
    except (KeyError, TypeError):
        raise InvalidManifestError(
            f"Unknown compute type '{compute_type}'",
            fix=f"set plugins.compute.type to one of: {', '.join(COMPUTE_TYPES)}",
            path="plugins.compute.type",
        ) from None


def auth_method(spec: AdapterSpec, settings: Mapping[str, Any] | None) -> str:
    """The authentication method the settings pick (``auth``), or the spec's default."""
    auth = settings.get("auth") if isinstance(settings, Mapping) else None
    if auth is None:
        return spec.default_auth
    if not isinstance(auth, str) or auth not in spec.auth_methods:
        raise InvalidManifestError(
            f"Unknown auth '{auth}' for compute type '{spec.compute_type}'",
            fix=f"set plugins.compute.config.auth to one of: {', '.join(spec.auth_methods)}",
            path="plugins.compute.config.auth",
        )
    return auth


def required_secret_keys(
    compute_type: str, *, settings: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The keys the connection secret must hold for this compute type (and ``auth`` setting).

    Args:
        compute_type: The manifest's ``plugins.compute.type``.
        settings: ``plugins.compute.config``; only ``auth`` is read (Snowflake key-pair).
    """
    spec = get_spec(compute_type)
    fields = spec.secret_fields(auth_method(spec, settings))
    return tuple(f.key for f in fields if not f.optional)


def profile_env(
    compute_type: str,
    secret: Mapping[str, str] | Mapping[str, SecretValue],
    *,
    settings: Mapping[str, Any] | None = None,
    secret_name: str | None = None,
) -> dict[str, str]:
    """The environment a dbt process needs: each secret key renamed to ``DBT_ENV_SECRET_<KEY>``.

    This is the one place values meet the dbt layer, and they only pass through: the renderers
    never take a value, so a profile cannot hold one. In a pod the same renaming is done by
    ``envFrom`` with the prefix, so every key is passed on, not only those the profile reads.

    Args:
        compute_type: The manifest's ``plugins.compute.type``.
        secret: The secret's data, key -> text or ``SecretValue`` (revealed here, for the
            process that consumes it).
        settings: ``plugins.compute.config`` (only ``auth`` is read).
        secret_name: The secret's name, for error messages.

    Returns:
        ``{"DBT_ENV_SECRET_<KEY>": value}`` for every key, sorted by key.

    Raises:
        SecretNotFoundError: a required key is missing from the secret.
        InvalidSecretReferenceError: a key is not a valid env var name (the kubelet would skip it).
    """
    spec = get_spec(compute_type)
    keys = sorted(secret)
    bad = [k for k in keys if not isinstance(k, str) or not ENV_VAR_NAME.match(k)]
    if bad:
        raise InvalidSecretReferenceError(
            f"Key(s) {', '.join(repr(k) for k in bad)} of the {compute_type} connection secret "
            "are not valid environment variable names, so they would never reach dbt",
            fix="rename them to letters, digits and '_' only, not starting with a digit",
            secret=secret_name,
        )
    missing = [k for k in required_secret_keys(compute_type, settings=settings) if k not in secret]
    if missing:
        raise SecretNotFoundError(
            f"The {compute_type} connection secret lacks key(s) {', '.join(missing)} "
            f"(auth '{auth_method(spec, settings)}')",
            fix=f"add {', '.join(missing)} to the secret named in "
            "plugins.compute.connection_secret_ref",
            secret=secret_name,
        )
    env: dict[str, str] = {}
    for key in keys:
        value = secret[key]
        env[secret_env_name(key)] = value.reveal() if isinstance(value, SecretValue) else value
    return env


def build_target(compute_type: str, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dbt target (one entry of ``outputs``) with ``env_var()`` for every secret field."""
    spec = get_spec(compute_type)
    secret_paths: dict[str, tuple[str, ...]] = {}
    for f in spec.all_secret_fields():
        top = str(f.path[0])
        if top in spec.managed:
            continue
        secret_paths[top] = (*secret_paths.get(top, ()), f.key)
    resolved = resolve_settings(
        compute_type,
        spec.settings,
        settings or {},
        secret_fields=secret_paths,
        managed=spec.managed,
    )
    auth = auth_method(spec, settings)
    optional = {f.key for f in spec.secret_fields(auth) if f.optional}

    def ref(key: str) -> str:
        return env_var_reference(key, optional=key in optional)

    return spec.build(resolved, ref)
