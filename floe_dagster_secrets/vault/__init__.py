"""Vault set-up that floe derives from a manifest: the least-privilege policy and the auth role."""

from floe_dagster_secrets.vault.policy import RUN_SERVICE_ACCOUNT as RUN_SERVICE_ACCOUNT
from floe_dagster_secrets.vault.policy import kubernetes_auth_role as kubernetes_auth_role
from floe_dagster_secrets.vault.policy import (
    kubernetes_auth_role_path as kubernetes_auth_role_path,
)
from floe_dagster_secrets.vault.policy import kv_paths as kv_paths
from floe_dagster_secrets.vault.policy import policy_payload as policy_payload
from floe_dagster_secrets.vault.policy import terraform as terraform
from floe_dagster_secrets.vault.policy import vault_policy as vault_policy

__all__ = [
    "RUN_SERVICE_ACCOUNT",
    "kubernetes_auth_role",
    "kubernetes_auth_role_path",
    "kv_paths",
    "policy_payload",
    "terraform",
    "vault_policy",
]
