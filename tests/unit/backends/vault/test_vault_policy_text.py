"""The generated Vault policy, auth role payload and Terraform: pure functions over a manifest."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floe_dagster_secrets.backends.vault import (
    kubernetes_auth_role,
    kubernetes_auth_role_path,
    kv_paths,
    policy_payload,
    terraform,
    vault_policy,
)
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import Manifest, parse_manifest


def simple() -> Manifest:
    return parse_manifest(
        {
            "environment": "prod",
            "plugins": {
                "secrets": {
                    "type": "vault",
                    "config": {
                        "address": "https://vault.example.com",
                        "secret_path_prefix": "teams/data/",
                        "kv_mount": "kv",
                        "mount_path": "k8s-prod",
                        "role": "floe-runs",
                    },
                },
                "compute": {
                    "type": "postgres",
                    "connection_secret_ref": "postgres-prod-credentials",
                    "config": {"dbname": "analytics", "schema": "marts"},
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
        }
    )


EXPECTED_POLICY = """\
# floe runs of environment 'prod', namespace 'floe-jobs': generated, least privilege.

path "kv/data/teams/data/floe-jobs/postgres-prod-credentials" {
  capabilities = ["read"]
}

path "kv/data/teams/data/floe-jobs/salesforce-api-secret" {
  capabilities = ["read"]
}

path "database/creds/dbt-runner" {
  capabilities = ["read"]
}

path "sys/leases/renew/database/creds/dbt-runner/*" {
  capabilities = ["update"]
}

path "sys/leases/revoke/database/creds/dbt-runner/*" {
  capabilities = ["update"]
}
"""


def test_policy_grants_read_on_exactly_the_referenced_secrets_and_roles() -> None:
    assert vault_policy(simple(), database_roles=["dbt-runner", "dbt-runner"]) == EXPECTED_POLICY


def test_policy_without_database_roles_has_no_lease_paths_and_no_wildcards() -> None:
    hcl = vault_policy(simple())
    assert "sys/leases" not in hcl
    assert "creds" not in hcl
    assert "*" not in hcl
    assert '"list"' not in hcl


def test_metadata_paths_only_when_asked() -> None:
    assert "kv/metadata/" not in vault_policy(simple())
    hcl = vault_policy(simple(), include_metadata=True)
    assert 'path "kv/metadata/teams/data/floe-jobs/postgres-prod-credentials"' in hcl


def test_custom_database_mount() -> None:
    hcl = vault_policy(simple(), database_roles=["r"], database_mount="/pg-prod/")
    assert 'path "pg-prod/creds/r"' in hcl
    assert 'path "sys/leases/revoke/pg-prod/creds/r/*"' in hcl


def test_kv_paths_and_policy_payload() -> None:
    assert kv_paths(simple()) == [
        "kv/data/teams/data/floe-jobs/postgres-prod-credentials",
        "kv/data/teams/data/floe-jobs/salesforce-api-secret",
    ]
    assert policy_payload("x") == {"policy": "x"}


def test_kubernetes_auth_role_payload() -> None:
    m = simple()
    assert kubernetes_auth_role_path(m) == "auth/k8s-prod/role/floe-runs"
    assert kubernetes_auth_role(m, policies=["floe-prod"], token_max_ttl=7200) == {
        "bound_service_account_names": ["floe-job-runner"],
        "bound_service_account_namespaces": ["floe-jobs"],
        "token_policies": ["floe-prod"],
        "token_ttl": 3600,
        "token_max_ttl": 7200,
    }
    other = kubernetes_auth_role(m, namespace="etl", service_account="runner")
    assert other["bound_service_account_names"] == ["runner"]
    assert other["bound_service_account_namespaces"] == ["etl"]
    assert "token_max_ttl" not in other


def test_terraform_has_the_policy_and_the_adr_role_block() -> None:
    text = terraform(simple(), policy_name="floe-prod", database_roles=["dbt-runner"])
    assert 'resource "vault_policy" "floe_prod"' in text
    assert 'resource "vault_kubernetes_auth_backend_role" "floe_prod_runtime"' in text
    assert re.search(r'backend\s+= "k8s-prod"', text)
    assert re.search(r'role_name\s+= "floe-runs"', text)
    assert re.search(r'bound_service_account_names\s+= \["floe-job-runner"\]', text)
    assert re.search(r'token_policies\s+= \["floe-prod"\]', text)
    assert re.search(r"token_ttl\s+= 3600", text)
    assert 'path "database/creds/dbt-runner"' in text
    assert text.count("EOT") == 2


def test_not_a_vault_manifest_is_an_error() -> None:
    m = parse_manifest(
        {
            "environment": "dev",
            "plugins": {
                "secrets": {"type": "local"},
                "compute": {
                    "type": "duckdb",
                    "connection_secret_ref": "duckdb-dev-credentials",
                    "config": {"path": "w.duckdb"},
                },
            },
        }
    )
    with pytest.raises(InvalidManifestError, match="not 'vault'"):
        vault_policy(m)


names = st.from_regex(r"[a-z]{3,8}-(dev|api|oauth)-(credentials|secret|key)", fullmatch=True)


@given(st.lists(names, min_size=1, max_size=6, unique=True))
def test_every_granted_kv_path_is_a_referenced_secret(secret_names: list[str]) -> None:
    m = parse_manifest(
        {
            "environment": "dev",
            "plugins": {
                "secrets": {"type": "vault", "config": {"address": "https://v.example.com"}},
                "compute": {
                    "type": "duckdb",
                    "connection_secret_ref": "duckdb-dev-credentials",
                    "config": {"path": "w.duckdb"},
                },
            },
            "ingestion": {
                "pipelines": [
                    {
                        "name": f"p{i}",
                        "source": {"type": "api", "secret_refs": {"key": name}},
                    }
                    for i, name in enumerate(secret_names)
                ]
            },
        }
    )
    granted = re.findall(r'path "([^"]+)"', vault_policy(m))
    expected = dict.fromkeys(["duckdb-dev-credentials", *secret_names])
    assert granted == [f"secret/data/floe/floe-jobs/{name}" for name in expected]
