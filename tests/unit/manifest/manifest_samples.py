"""Good manifests for the manifest tests: every secrets type, every compute type, the ADR's."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any

from floe_dagster_secrets.manifest import FloeNamingWarning, Manifest, parse_manifest

# ADR-0023's "Configuration Schema" block with its alternatives resolved (the ADR writes
# `type: k8s | external-secrets | vault` and lists every backend's config at once) and the
# environment the rules need. Its secret names do not follow the ADR's own naming convention.
ADR_EXAMPLE = """\
# manifest.yaml - full secrets configuration
environment: prod
plugins:
  secrets:
    type: vault

    # HashiCorp Vault
    config:
      address: https://vault.example.com
      auth_method: kubernetes
      role: floe
      mount_path: kubernetes  # For K8s auth
      secret_path_prefix: floe/

  # Compute plugin with secret reference
  compute:
    type: snowflake
    connection_secret_ref: snowflake-credentials  # K8s Secret name

  # Catalog plugin with secret reference
  catalog:
    type: polaris
    config:
      client_secret_ref: polaris-credentials

# Secret references in ingestion configs
ingestion:
  pipelines:
    - name: salesforce-sync
      source:
        type: salesforce
        secret_refs:
          client_id: salesforce-credentials
          client_secret: salesforce-credentials
"""

ADR_EXAMPLE_ESO = """\
environment: prod
plugins:
  secrets:
    type: external-secrets
    config:
      store: aws-secrets-manager
      region: us-east-1
  compute:
    type: snowflake
    connection_secret_ref: snowflake-prod-credentials
"""

BASE: dict[str, Any] = {
    "environment": "dev",
    "plugins": {
        "secrets": {"type": "k8s", "namespace": "floe-jobs"},
        "compute": {
            "type": "snowflake",
            "connection_secret_ref": "snowflake-dev-credentials",
            "config": {"account_locator": "xy12345", "warehouse": "transforming", "threads": 4},
        },
        "catalog": {
            "type": "polaris",
            "config": {
                "uri": "https://polaris.example.com/api/catalog",
                "client_secret_ref": "polaris-oauth-credentials",
                "warehouse": "lake",
                "scope": "PRINCIPAL_ROLE:ALL",
            },
        },
    },
    "ingestion": {
        "pipelines": [
            {
                "name": "salesforce-sync",
                "source": {
                    "type": "salesforce",
                    "secret_refs": {
                        "client_id": "salesforce-api-secret",
                        "client_secret": "salesforce-api-secret",
                    },
                },
            }
        ]
    },
    "secrets": {
        "snowflake-dev-credentials": {
            "keys": ["SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD"],
            "max_age_days": 90,
            "on_rotation": "rematerialize",
            "assets": ["marts/orders", "customers"],
        },
        "salesforce-api-secret": {"keys": ["client_id", "client_secret"], "on_rotation": "checks"},
    },
}


def base() -> dict[str, Any]:
    """A fresh deep copy of BASE to mutate."""
    return copy.deepcopy(BASE)


def _with(**changes: Any) -> dict[str, Any]:
    doc = base()
    for dotted, value in changes.items():
        target = doc
        *parents, last = dotted.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return doc


def _minimal(
    compute: str, secrets: Mapping[str, Any] | None = None, **config: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "environment": "staging",
        "plugins": {
            "compute": {
                "type": compute,
                "connection_secret_ref": f"{compute}-staging-credentials",
                "config": config,
            }
        },
    }
    if secrets is not None:
        doc["plugins"]["secrets"] = dict(secrets)
    return doc


# Each follows the naming convention, so it validates without any warning.
GOOD: dict[str, dict[str, Any]] = {
    "base-k8s-snowflake": base(),
    "k8s-default-postgres": _minimal("postgres", host="db.internal", port=5432, dbname="analytics"),
    "k8s-kubeconfig-bigquery": _minimal(
        "bigquery",
        {"type": "k8s", "config": {"kubeconfig": "/etc/floe/kubeconfig", "context": "admin"}},
        project="analytics-123",
        dataset="marts",
        method="service-account-json",
    ),
    "local-duckdb": _minimal(
        "duckdb", {"type": "local", "config": {"path": "/tmp/floe-secrets"}}, path="warehouse.db"
    ),
    "local-default-databricks": _minimal(
        "databricks",
        {"type": "local"},
        host="adb-123.azuredatabricks.net",
        http_path="/sql/1.0/warehouses/abc",
        catalog="main",
    ),
    "eso-aws": _minimal(
        "snowflake",
        {
            "type": "external-secrets",
            "namespace": "floe-staging",
            "config": {"store": "aws-secrets-manager", "provider": "aws", "region": "us-east-1"},
        },
    ),
    "eso-gcp": _minimal(
        "bigquery",
        {
            "type": "external-secrets",
            "config": {
                "store": "gcp-secret-manager",
                "refresh_interval": "30m",
                "provider": "gcp",
                "project": "my-gcp-project",
                "cluster_location": "us-central1",
                "cluster_name": "my-cluster",
                "service_account": "external-secrets",
            },
        },
    ),
    "eso-azure": _minimal(
        "databricks",
        {
            "type": "external-secrets",
            "config": {
                "store": "azure-keyvault",
                "refresh_interval": "1h30m",
                "provider": "azure",
                "vault_url": "https://my-vault.vault.azure.net",
            },
        },
    ),
    "eso-vault-no-provider": _minimal(
        "postgres",
        {
            "type": "external-secrets",
            "config": {
                "store": "vault-backend",
                "refresh_interval": "0",
                "provider": "vault",
                "vault_address": "http://vault.vault.svc:8200",
                "vault_path": "secret",
                "vault_role": "eso",
            },
        },
    ),
    "vault-kubernetes": _minimal(
        "snowflake",
        {"type": "vault", "config": {"address": "https://vault.example.com"}},
    ),
    "vault-approle": _minimal(
        "postgres",
        {
            "type": "vault",
            "namespace": "floe-staging",
            "config": {
                "address": "http://127.0.0.1:8200",
                "auth_method": "approle",
                "mount_path": "approle",
                "role_id_env": "VAULT_ROLE_ID",
                "secret_id_env": "VAULT_SECRET_ID",
                "secret_path_prefix": "teams/data/",
                "kv_mount": "kv",
            },
        },
    ),
    "vault-token": _minimal(
        "duckdb",
        {
            "type": "vault",
            "config": {
                "address": "https://bao.internal:8200/",
                "auth_method": "token",
                "token_env": "BAO_TOKEN",
                "token_file": "/var/run/secrets/vault/token",
            },
        },
        path="/data/warehouse.db",
    ),
    "production-alias": _with(
        environment="production",
        plugins__compute__connection_secret_ref="snowflake-prod-credentials",
        secrets={},
        ingestion={"pipelines": []},
    ),
    "multi-pipeline": _with(
        ingestion={
            "pipelines": [
                {"name": "hubspot", "source": {"type": "hubspot", "secret_refs": {}}},
                {
                    "name": "orders-db",
                    "source": {
                        "type": "postgres",
                        "secret_refs": {"password": "orders-replica-secret"},
                    },
                },
            ]
        },
        secrets={"orders-replica-secret": {"max_age_days": 30, "on_rotation": "none"}},
    ),
}


def parse_allowing_naming_warnings(doc: str | Mapping[str, Any]) -> Manifest:
    """Parse a manifest whose names may break the convention (the ADR's own example does)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FloeNamingWarning)
        return parse_manifest(doc)
