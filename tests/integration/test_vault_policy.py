"""The generated policy and Kubernetes auth role, applied to a real OpenBao and exercised for real.

A pod identity (a ServiceAccount token minted by the real apiserver) logs in through the
generated role, reads exactly the manifest's secrets, is refused anything else, and can take,
renew and revoke its database lease — so "least privilege" is shown to be enough, not only small.
"""

from pathlib import Path

import pytest

from floe_dagster_secrets.backends.vault import (
    VaultSecretsPlugin,
    kubernetes_auth_role,
    kubernetes_auth_role_path,
    policy_payload,
    vault_policy,
)
from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.types import reveal_all
from tests.integration.vault_helpers import (
    database_engine,
    kubernetes_auth_mount,
    role_exists,
    unique,
)
from tests.servers import KubeApiServer, OpenBaoServer, PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_generated_policy_and_role_are_enough_and_no_more(
    openbao_server: OpenBaoServer,
    kube_apiserver: KubeApiServer,
    postgres_server: PostgresServer,
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    auth_mount = kubernetes_auth_mount(openbao_server, kube_apiserver, k8s_namespace)
    db_mount = database_engine(openbao_server, postgres_server)
    prefix = f"{unique('pol')}/"
    manifest = parse_manifest(
        {
            "environment": "dev",
            "plugins": {
                "secrets": {
                    "type": "vault",
                    "namespace": k8s_namespace,
                    "config": {
                        "address": openbao_server.address,
                        "auth_method": "kubernetes",
                        "role": "floe",
                        "mount_path": auth_mount,
                        "secret_path_prefix": prefix,
                    },
                },
                "compute": {
                    "type": "postgres",
                    "connection_secret_ref": "postgres-dev-credentials",
                    "config": {"dbname": "postgres", "schema": "analytics"},
                },
            },
        }
    )
    for name in ("postgres-dev-credentials", "unrelated-dev-credentials"):
        openbao_server.request(
            "POST", f"secret/data/{prefix}{k8s_namespace}/{name}", {"data": {"K": f"v-{name}"}}
        )
    policy_name = unique("floe-")
    openbao_server.request(
        "PUT",
        f"sys/policies/acl/{policy_name}",
        policy_payload(vault_policy(manifest, database_roles=["dbt"], database_mount=db_mount)),
    )
    openbao_server.request(
        "POST",
        kubernetes_auth_role_path(manifest),
        kubernetes_auth_role(manifest, policies=[policy_name]),
    )
    jwt = tmp_path / "jwt"
    jwt.write_text(kube_apiserver.service_account_token(k8s_namespace, "floe-job-runner"))
    config = manifest.plugins.secrets.config
    assert config is not None
    plugin = VaultSecretsPlugin(**config.backend_kwargs() | {"token_file": str(jwt)})
    try:
        assert reveal_all(plugin.get_secret("postgres-dev-credentials", k8s_namespace)) == {
            "K": "v-postgres-dev-credentials"
        }
        with pytest.raises(SecretAccessDeniedError, match="unrelated-dev-credentials"):
            plugin.get_secret("unrelated-dev-credentials", k8s_namespace)
        with pytest.raises(SecretAccessDeniedError):
            plugin.list_secrets(k8s_namespace)  # no list capability granted
        lease = plugin.run_lease("dbt", mount=db_mount, handle_sigterm=False)
        with lease as creds:
            assert role_exists(postgres_server, creds.username)
            assert plugin.renew_lease(creds.lease_id, 3600) > 0
        assert not role_exists(postgres_server, creds.username)
    finally:
        plugin.close()
