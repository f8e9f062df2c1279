"""Bad manifests: each one names the exact field and says what is wrong, without values."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from manifest_samples import base

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import parse_manifest

DELETE = object()

SECRET_NAME_RULE = (
    "(at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or "
    "digit)"
)
LABEL_RULE = (
    "(at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)"
)
URL_MSG = "not an http(s) URL: write it as https://host[:port][/path]"
CREDENTIAL_MSG = (
    "looks like a credential, and the manifest is committed to git: put it in the secret named "
    "by connection_secret_ref ('{ref}') and remove it here"
)
SNOWFLAKE_REF = "snowflake-dev-credentials"


def _required(parent: str, who: str, example: str) -> str:
    """The message of a missing field: what it is, for which backend, and a line to write."""
    return (
        f"Field required: {who}; write the line `{example}` under {parent} (`floe manifest "
        "schema` prints every field)"
    )


def _needs(what: str, backend: str = "k8s") -> str:
    return f"the manifest (secrets backend {backend}) needs {what}"


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set (or delete, with DELETE) ``a.b[0].c`` in ``doc``; missing mappings are created."""
    keys: list[str | int] = [
        int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", path)
    ]
    target: Any = doc
    for key in keys[:-1]:
        if isinstance(key, str) and key not in target:
            target[key] = {}
        target = target[key]
    if value is DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return doc


def _doc(*changes: tuple[str, Any]) -> dict[str, Any]:
    doc = base()
    for path, value in changes:
        _set(doc, path, value if value is DELETE else copy.deepcopy(value))
    return doc


VAULT = ("plugins.secrets", {"type": "vault", "config": {"address": "https://vault.example.com"}})
ESO = ("plugins.secrets", {"type": "external-secrets", "config": {"store": "aws-secrets-manager"}})

# (id, changes to the base manifest, expected field path, expected message)
BAD: list[tuple[str, tuple[tuple[str, Any], ...], str, str]] = [
    # top level
    (
        "environment-uppercase",
        (("environment", "Dev"),),
        "environment",
        f"not a valid DNS-1123 label: it has uppercase letters {LABEL_RULE}",
    ),
    (
        "environment-underscore",
        (("environment", "dev_eu"),),
        "environment",
        "not a valid DNS-1123 label: it has characters other than lowercase letters, digits and "
        f"'-' {LABEL_RULE}",
    ),
    (
        "environment-too-long",
        (("environment", "d" * 64),),
        "environment",
        f"not a valid DNS-1123 label: it is 64 characters long, more than 63 {LABEL_RULE}",
    ),
    ("environment-bool", (("environment", True),), "environment", "Input should be a valid string"),
    (
        "no-plugins",
        (("plugins", DELETE),),
        "plugins",
        _required(
            "the top level of the manifest",
            _needs("the plugins section, with at least the secrets backend"),
            "plugins: {secrets: {type: k8s}}",
        ),
    ),
    ("unknown-top-key", (("version", 2),), "version", "Extra inputs are not permitted"),
    # plugins.secrets
    (
        "secrets-type",
        (("plugins.secrets.type", "aws"),),
        "plugins.secrets.type",
        "No secrets backend named 'aws' is installed (installed: external-secrets, k8s, local, "
        "vault); set plugins.secrets.type to one of: external-secrets, k8s, local, vault, or "
        "install the package that provides 'aws'",
    ),
    (
        "secrets-namespace",
        (("plugins.secrets.namespace", "floe.jobs"),),
        "plugins.secrets.namespace",
        "not a valid DNS-1123 label: it has characters other than lowercase letters, digits and "
        f"'-' {LABEL_RULE}",
    ),
    (
        "secrets-typo",
        (("plugins.secrets.namepsace", "floe-jobs"),),
        "plugins.secrets.namepsace",
        "Extra inputs are not permitted",
    ),
    (
        "k8s-config-unknown-key",
        (("plugins.secrets.config", {"path": ".floe"}),),
        "plugins.secrets.config.path",
        "Extra inputs are not permitted",
    ),
    (
        "local-empty-path",
        (("plugins.secrets", {"type": "local", "config": {"path": ""}}),),
        "plugins.secrets.config.path",
        "String should have at least 1 character",
    ),
    (
        "eso-without-config",
        (("plugins.secrets", {"type": "external-secrets"}),),
        "plugins.secrets.config.store",
        _required(
            "plugins.secrets.config",
            "the external-secrets backend needs the name of the ClusterSecretStore to sync from",
            "store: aws-secrets-manager",
        ),
    ),
    (
        "eso-bad-duration",
        (ESO, ("plugins.secrets.config.refresh_interval", "1 hour")),
        "plugins.secrets.config.refresh_interval",
        "not a Go duration: write a number and a unit, e.g. 1h, 30m, 1h30m or 0 to never refresh",
    ),
    (
        "eso-store-name",
        (ESO, ("plugins.secrets.config.store", "AWS_Store")),
        "plugins.secrets.config.store",
        f"not a valid Kubernetes resource name: it has uppercase letters {SECRET_NAME_RULE}",
    ),
    (
        "eso-provider",
        (ESO, ("plugins.secrets.config.provider", "alibaba")),
        "plugins.secrets.config.provider",
        "Input should be 'aws', 'gcp', 'azure' or 'vault'",
    ),
    (
        "eso-gcp-needs-project",
        (ESO, ("plugins.secrets.config.provider", "gcp")),
        "plugins.secrets.config.project",
        "the gcp provider needs project",
    ),
    (
        "eso-field-of-other-provider",
        (
            ESO,
            ("plugins.secrets.config.provider", "aws"),
            ("plugins.secrets.config.vault_url", "https://v.vault.azure.net"),
        ),
        "plugins.secrets.config.vault_url",
        "vault_url belongs to the azure provider, not aws",
    ),
    (
        "eso-vault-url",
        (ESO, ("plugins.secrets.config.vault_url", "my-vault")),
        "plugins.secrets.config.vault_url",
        URL_MSG,
    ),
    (
        "vault-without-address",
        (("plugins.secrets", {"type": "vault"}),),
        "plugins.secrets.config.address",
        _required(
            "plugins.secrets.config",
            "the vault backend needs the address of the Vault server",
            "address: https://vault.example.com",
        ),
    ),
    (
        "vault-address-no-scheme",
        (VAULT, ("plugins.secrets.config.address", "vault.example.com:8200")),
        "plugins.secrets.config.address",
        URL_MSG,
    ),
    (
        "vault-auth-method",
        (VAULT, ("plugins.secrets.config.auth_method", "ldap")),
        "plugins.secrets.config.auth_method",
        "Input should be 'kubernetes', 'approle' or 'token'",
    ),
    (
        "vault-literal-token",
        (VAULT, ("plugins.secrets.config.token", "hvs.not-a-real-token")),
        "plugins.secrets.config.token",
        "never write the credential itself in the manifest: use token_env (the NAME of an env "
        "var) or token_file (a path)",
    ),
    (
        "vault-literal-secret-id",
        (VAULT, ("plugins.secrets.config.secret_id", "abc")),
        "plugins.secrets.config.secret_id",
        "never write the credential itself in the manifest: use secret_id_env, the NAME of the "
        "env var holding it",
    ),
    (
        "vault-prefix-slash",
        (VAULT, ("plugins.secrets.config.secret_path_prefix", "floe")),
        "plugins.secrets.config.secret_path_prefix",
        "must be a relative Vault path ending with '/', e.g. floe/ or teams/data/",
    ),
    (
        "vault-token-env-name",
        (VAULT, ("plugins.secrets.config.token_env", "VAULT TOKEN")),
        "plugins.secrets.config.token_env",
        "not a valid environment variable name: use letters, digits and '_', not starting with a "
        "digit",
    ),
    (
        "vault-kv-mount",
        (VAULT, ("plugins.secrets.config.kv_mount", "/secret/")),
        "plugins.secrets.config.kv_mount",
        "not a Vault mount path: use letters, digits, '_', '-', '.' and '/'",
    ),
    # plugins.compute
    (
        "compute-type",
        (("plugins.compute.type", "mysql"),),
        "plugins.compute.type",
        "Input should be 'snowflake', 'bigquery', 'databricks', 'postgres' or 'duckdb'",
    ),
    (
        "compute-no-secret-ref",
        (("plugins.compute.connection_secret_ref", DELETE),),
        "plugins.compute.connection_secret_ref",
        _required(
            "plugins.compute",
            _needs("the name of the secret holding the compute connection credentials"),
            "connection_secret_ref: snowflake-credentials",
        ),
    ),
    (
        "compute-ref-uppercase",
        (("plugins.compute.connection_secret_ref", "Snowflake_Credentials"),),
        "plugins.compute.connection_secret_ref",
        f"not a valid Kubernetes Secret name: it has uppercase letters {SECRET_NAME_RULE}",
    ),
    (
        "compute-ref-too-long",
        (("plugins.compute.connection_secret_ref", "s" * 254),),
        "plugins.compute.connection_secret_ref",
        "not a valid Kubernetes Secret name: it is 254 characters long, more than 253 "
        f"{SECRET_NAME_RULE}",
    ),
    (
        "compute-ref-leading-dash",
        (("plugins.compute.connection_secret_ref", "-snowflake-dev-credentials"),),
        "plugins.compute.connection_secret_ref",
        "not a valid Kubernetes Secret name: each part must start and end with a letter or digit "
        f"{SECRET_NAME_RULE}",
    ),
    (
        "compute-ref-empty",
        (("plugins.compute.connection_secret_ref", ""),),
        "plugins.compute.connection_secret_ref",
        f"not a valid Kubernetes Secret name: it is empty {SECRET_NAME_RULE}",
    ),
    (
        "compute-config-password",
        (("plugins.compute.config.password", "hunter2"),),
        "plugins.compute.config.password",
        CREDENTIAL_MSG.format(ref=SNOWFLAKE_REF),
    ),
    (
        "compute-config-nested-private-key",
        (("plugins.compute.config.auth", {"private_key_path": "/keys/rsa.p8"}),),
        "plugins.compute.config.auth.private_key_path",
        CREDENTIAL_MSG.format(ref=SNOWFLAKE_REF),
    ),
    (
        "compute-config-keyfile-json",
        (
            ("plugins.compute.type", "bigquery"),
            ("plugins.compute.config.keyfile_json", {"type": "service_account"}),
        ),
        "plugins.compute.config.keyfile_json",
        CREDENTIAL_MSG.format(ref=SNOWFLAKE_REF),
    ),
    (
        "compute-config-camel-case-secret",
        (("plugins.compute.config.clientSecret", "x"),),
        "plugins.compute.config.clientSecret",
        CREDENTIAL_MSG.format(ref=SNOWFLAKE_REF),
    ),
    (
        "compute-config-token-in-list",
        (("plugins.compute.config.hosts", [{"name": "a", "access_token": "x"}]),),
        "plugins.compute.config.hosts[0].access_token",
        CREDENTIAL_MSG.format(ref=SNOWFLAKE_REF),
    ),
    (
        "compute-config-not-mapping",
        (("plugins.compute.config", ["threads", 4]),),
        "plugins.compute.config",
        "Input should be a valid dictionary",
    ),
    # plugins.catalog
    (
        "catalog-type",
        (("plugins.catalog.type", "glue"),),
        "plugins.catalog.type",
        "Input should be 'polaris'",
    ),
    (
        "catalog-no-client-secret-ref",
        (("plugins.catalog.config.client_secret_ref", DELETE),),
        "plugins.catalog.config.client_secret_ref",
        _required(
            "plugins.catalog.config",
            _needs("the name of the secret holding the catalog's OAuth2 client credentials"),
            "client_secret_ref: polaris-credentials",
        ),
    ),
    (
        "catalog-uri",
        (("plugins.catalog.config.uri", "polaris:8181"),),
        "plugins.catalog.config.uri",
        URL_MSG,
    ),
    (
        "catalog-literal-client-secret",
        (("plugins.catalog.config.client_secret", "x"),),
        "plugins.catalog.config.client_secret",
        "Extra inputs are not permitted",
    ),
    # ingestion
    (
        "ingestion-ref-name",
        (("ingestion.pipelines[0].source.secret_refs.client_id", "Salesforce"),),
        "ingestion.pipelines[0].source.secret_refs.client_id",
        f"not a valid Kubernetes Secret name: it has uppercase letters {SECRET_NAME_RULE}",
    ),
    (
        "ingestion-duplicate-pipeline",
        (
            (
                "ingestion.pipelines",
                [
                    {"name": "crm", "source": {"type": "salesforce"}},
                    {"name": "crm", "source": {"type": "hubspot"}},
                ],
            ),
        ),
        "ingestion.pipelines[1].name",
        "pipeline name 'crm' is already used by pipelines[0]",
    ),
    (
        "ingestion-pipeline-name",
        (("ingestion.pipelines[0].name", "salesforce sync"),),
        "ingestion.pipelines[0].name",
        "use 1 to 63 letters, digits, '_', '-' and '.', starting with a letter or digit",
    ),
    (
        "ingestion-source-type-empty",
        (("ingestion.pipelines[0].source.type", ""),),
        "ingestion.pipelines[0].source.type",
        "use 1 to 63 letters, digits, '_', '-' and '.', starting with a letter or digit",
    ),
    (
        "ingestion-secret-ref-field",
        (("ingestion.pipelines[0].source.secret_refs", {"client id": "salesforce-api-secret"}),),
        'ingestion.pipelines[0].source.secret_refs["client id"]',
        "not a source field name: use letters, digits, '_', '-' and '.', starting with a letter "
        "or '_'",
    ),
    (
        "ingestion-no-source",
        (("ingestion.pipelines[0].source", DELETE),),
        "ingestion.pipelines[0].source",
        _required(
            "ingestion.pipelines[0]",
            _needs("the pipeline's source and the secrets its fields come from"),
            "source: {type: salesforce, secret_refs: {client_id: salesforce-credentials}}",
        ),
    ),
    (
        "ingestion-pipelines-not-list",
        (("ingestion.pipelines", {"name": "crm"}),),
        "ingestion.pipelines",
        "Input should be a valid list",
    ),
    # secrets policies
    (
        "policy-name",
        (("secrets.Snowflake", {}),),
        "secrets.Snowflake",
        f"not a valid Kubernetes Secret name: it has uppercase letters {SECRET_NAME_RULE}",
    ),
    (
        "policy-key-env-name",
        (("secrets.snowflake-dev-credentials.keys", ["9LIVES"]),),
        "secrets.snowflake-dev-credentials.keys[0]",
        "not a valid environment variable name: use letters, digits and '_', not starting with a "
        "digit",
    ),
    (
        "policy-duplicate-key",
        (("secrets.snowflake-dev-credentials.keys", ["A", "A"]),),
        "secrets.snowflake-dev-credentials.keys",
        "lists the same key twice",
    ),
    (
        "policy-max-age-zero",
        (("secrets.snowflake-dev-credentials.max_age_days", 0),),
        "secrets.snowflake-dev-credentials.max_age_days",
        "Input should be greater than 0",
    ),
    (
        "policy-max-age-text",
        (("secrets.snowflake-dev-credentials.max_age_days", "30"),),
        "secrets.snowflake-dev-credentials.max_age_days",
        "Input should be a valid integer",
    ),
    (
        "policy-on-rotation",
        (("secrets.snowflake-dev-credentials.on_rotation", "restart"),),
        "secrets.snowflake-dev-credentials.on_rotation",
        "Input should be 'rematerialize', 'checks' or 'none'",
    ),
    (
        "policy-asset-key",
        (("secrets.snowflake-dev-credentials.assets", ["marts//orders"]),),
        "secrets.snowflake-dev-credentials.assets[0]",
        "not an asset key: write its parts separated by '/', e.g. marts/orders; parts use "
        "letters, digits, '_', '-' and '.'",
    ),
    (
        "policy-unknown-key",
        (("secrets.snowflake-dev-credentials.ttl", "90d"),),
        "secrets.snowflake-dev-credentials.ttl",
        "Extra inputs are not permitted",
    ),
    (
        "policy-dotted-name-quoted",
        (("secrets", {"a.b": {"ttl": 1}}),),
        'secrets["a.b"].ttl',
        "Extra inputs are not permitted",
    ),
    # ADR-0023: secrets MUST NOT be shared across environments
    (
        "other-environment-compute",
        (
            ("plugins.compute.connection_secret_ref", "snowflake-prod-credentials"),
            ("secrets", {}),
        ),
        "plugins.compute.connection_secret_ref",
        "secret 'snowflake-prod-credentials' belongs to environment prod, but this manifest is "
        "for 'dev': secrets MUST NOT be shared across environments (ADR-0023); use a secret of "
        "this environment, e.g. 'snowflake-dev-credentials'",
    ),
    (
        "other-environment-alias",
        (
            ("environment", "prod"),
            ("plugins.compute.connection_secret_ref", "snowflake-production-credentials"),
            ("plugins.catalog.config.client_secret_ref", "polaris-staging-credentials"),
            ("secrets", {}),
        ),
        "plugins.catalog.config.client_secret_ref",
        "secret 'polaris-staging-credentials' belongs to environment staging, but this manifest "
        "is for 'prod': secrets MUST NOT be shared across environments (ADR-0023); use a secret "
        "of this environment, e.g. 'polaris-prod-credentials'",
    ),
    (
        "other-environment-ingestion",
        (("ingestion.pipelines[0].source.secret_refs.client_id", "salesforce-qa-secret"),),
        "ingestion.pipelines[0].source.secret_refs.client_id",
        "secret 'salesforce-qa-secret' belongs to environment qa, but this manifest is for 'dev': "
        "secrets MUST NOT be shared across environments (ADR-0023); use a secret of this "
        "environment, e.g. 'salesforce-dev-credentials'",
    ),
]


def _problems(error: InvalidManifestError) -> list[tuple[str, str]]:
    lines = [line[2:] for line in error.problem.splitlines()[1:] if line.startswith("  ")]
    return [tuple(line.split(": ", 1)) for line in lines]  # type: ignore[misc]


def test_table_is_big_enough() -> None:
    assert len(BAD) >= 35
    assert len({case[0] for case in BAD}) == len(BAD)


@pytest.mark.parametrize(
    ("changes", "path", "message"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_manifest_names_field_and_problem(
    changes: tuple[tuple[str, Any], ...], path: str, message: str
) -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(_doc(*changes), source="teams/data/manifest.yaml")
    error = info.value
    assert _problems(error) == [(path, message)]
    assert error.path == "teams/data/manifest.yaml"
    assert str(error).startswith("teams/data/manifest.yaml is not a valid manifest, 1 problem:\n")
    assert "Fix: edit teams/data/manifest.yaml" in str(error)
    assert "errors.pydantic.dev" not in str(error)
    assert "input_value" not in str(error)
    # hide_input_in_errors: not even the chained pydantic error shows values.
    assert "input_value" not in str(error.__cause__ or "")


def test_several_problems_are_all_listed_in_document_order() -> None:
    doc = _doc(
        ("environment", "Dev"),
        ("plugins.compute.type", "mysql"),
        ("secrets.snowflake-dev-credentials.max_age_days", -1),
    )
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(doc)
    assert [path for path, _ in _problems(info.value)] == [
        "environment",
        "plugins.compute.type",
        "secrets.snowflake-dev-credentials.max_age_days",
    ]
    assert str(info.value).startswith("manifest.yaml is not a valid manifest, 3 problems:")


SENTINEL = "hunter2-Sup3r-S3cret-value!"


@pytest.mark.parametrize(
    "path",
    [
        "environment",
        "plugins.secrets.namespace",
        "plugins.compute.connection_secret_ref",
        "plugins.compute.config.password",
        "plugins.compute.config.nested.token",
        "plugins.catalog.config.client_secret",
        "plugins.catalog.config.uri",
        "ingestion.pipelines[0].source.secret_refs.client_secret",
        "secrets.snowflake-dev-credentials.max_age_days",
        "secrets.snowflake-dev-credentials.keys",
    ],
)
def test_no_value_in_any_message(path: str) -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(_doc((path, SENTINEL)))
    assert SENTINEL not in str(info.value)
    assert SENTINEL not in repr(info.value)
    assert SENTINEL not in str(info.value.__cause__)


@pytest.mark.parametrize(
    "path",
    ["plugins.secrets.config.token", "plugins.secrets.config.address"],
)
def test_no_vault_value_in_any_message(path: str) -> None:
    doc = _doc(VAULT, (path, SENTINEL))
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(doc)
    assert SENTINEL not in str(info.value)
    assert SENTINEL not in str(info.value.__cause__)
