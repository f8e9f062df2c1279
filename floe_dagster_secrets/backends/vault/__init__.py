"""The Vault / OpenBao backend (``type: vault``), and the Vault set-up floe derives from a manifest.

Public surface: :class:`VaultSecretsPlugin` (the ``floe.secrets`` entry point ``vault``), the
run-scoped database credentials it leases, and the least-privilege policy and Kubernetes auth role
for a manifest's runs (:func:`vault_policy`, :func:`kubernetes_auth_role`, …). Inside this folder:
``plugin.py`` (the backend), ``session.py`` (login and token renewal), ``credentials.py`` (the
auth methods), ``kv.py`` (KV v2 paths), ``dynamic.py`` and ``leases.py`` (database credentials
and their leases), ``errors.py`` (hvac's exceptions translated) and ``policy.py``. Importing this
package does not import ``hvac``; code outside this folder imports only what it exports.
"""

from floe_dagster_secrets.backends.vault.leases import DatabaseCredentials as DatabaseCredentials
from floe_dagster_secrets.backends.vault.leases import RunScopedLease as RunScopedLease
from floe_dagster_secrets.backends.vault.plugin import VaultSecretsPlugin as VaultSecretsPlugin
from floe_dagster_secrets.backends.vault.plugin import pod_login_overrides as pod_login_overrides
from floe_dagster_secrets.backends.vault.policy import RUN_SERVICE_ACCOUNT as RUN_SERVICE_ACCOUNT
from floe_dagster_secrets.backends.vault.policy import kubernetes_auth_role as kubernetes_auth_role
from floe_dagster_secrets.backends.vault.policy import (
    kubernetes_auth_role_path as kubernetes_auth_role_path,
)
from floe_dagster_secrets.backends.vault.policy import kv_paths as kv_paths
from floe_dagster_secrets.backends.vault.policy import policy_payload as policy_payload
from floe_dagster_secrets.backends.vault.policy import terraform as terraform
from floe_dagster_secrets.backends.vault.policy import vault_policy as vault_policy

__all__ = [
    "RUN_SERVICE_ACCOUNT",
    "DatabaseCredentials",
    "RunScopedLease",
    "VaultSecretsPlugin",
    "kubernetes_auth_role",
    "kubernetes_auth_role_path",
    "kv_paths",
    "pod_login_overrides",
    "policy_payload",
    "terraform",
    "vault_policy",
]
