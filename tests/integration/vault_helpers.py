"""Shared set-up for the Vault integration tests: isolated mounts, policies, AppRoles, audit counts.

Every test works under its own KV prefix and its own auth mount, so the tests share one OpenBao
server without seeing each other's secrets, roles or logins.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from tests.servers import OpenBaoServer, PostgresServer


def unique(prefix: str) -> str:
    """A short unique name (Vault paths, roles, mounts)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def token_plugin(
    server: OpenBaoServer, tmp_path: Path, *, token: str | None = None, **kwargs: Any
) -> VaultSecretsPlugin:
    """A plugin with token auth, the token in a file (so no env var leaks between tests)."""
    token_file = tmp_path / f"token-{uuid.uuid4().hex[:6]}"
    token_file.write_text(token or server.root_token)
    kwargs.setdefault("secret_path_prefix", f"{unique('t')}/")
    return VaultSecretsPlugin(
        address=server.address, auth_method="token", token_file=str(token_file), **kwargs
    )


def put_policy(server: OpenBaoServer, name: str, hcl: str) -> None:
    server.request("PUT", f"sys/policies/acl/{name}", {"policy": hcl})


def lease_policy(server: OpenBaoServer, mount: str, *, role: str = "dbt") -> str:
    """A fresh policy that may lease ``<mount>/creds/<role>`` and revoke those leases only."""
    name = unique("lease-")
    put_policy(
        server,
        name,
        f'path "{mount}/creds/{role}" {{ capabilities = ["read"] }}\n'
        f'path "sys/leases/revoke/{mount}/creds/{role}/*" {{ capabilities = ["update"] }}\n',
    )
    return name


def approle_plugin(
    server: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    policies: list[str],
    token_ttl: str = "1h",  # noqa: S107 - a duration
    token_max_ttl: str = "2h",  # noqa: S107 - a duration
    **plugin_kwargs: Any,
) -> tuple[VaultSecretsPlugin, str]:
    """A plugin logging in with a fresh AppRole that has ``policies``; and its auth mount.

    The role and secret IDs are in ``FLOE_TEST_ROLE_ID``/``FLOE_TEST_SECRET_ID``, as a
    manifest's ``role_id_env``/``secret_id_env`` would name them.
    """
    mount, role_id, secret_id = approle(
        server, policies=policies, token_ttl=token_ttl, token_max_ttl=token_max_ttl
    )
    monkeypatch.setenv("FLOE_TEST_ROLE_ID", role_id)
    monkeypatch.setenv("FLOE_TEST_SECRET_ID", secret_id)
    plugin = VaultSecretsPlugin(
        address=server.address,
        auth_method="approle",
        mount_path=mount,
        role_id_env="FLOE_TEST_ROLE_ID",
        secret_id_env="FLOE_TEST_SECRET_ID",
        **plugin_kwargs,
    )
    return plugin, mount


def enable_auth(server: OpenBaoServer, mount: str, kind: str) -> None:
    server.request("POST", f"sys/auth/{mount}", {"type": kind})


def approle(
    server: OpenBaoServer,
    *,
    policies: list[str],
    token_ttl: str = "1h",  # noqa: S107 - a duration
    token_max_ttl: str = "2h",  # noqa: S107 - a duration
) -> tuple[str, str, str]:
    """A fresh AppRole on its own mount: (mount, role_id, secret_id)."""
    mount = unique("approle-")
    enable_auth(server, mount, "approle")
    server.request(
        "POST",
        f"auth/{mount}/role/runner",
        {
            "token_policies": policies,
            "token_ttl": token_ttl,
            "token_max_ttl": token_max_ttl,
        },
    )
    role_id = server.request("GET", f"auth/{mount}/role/runner/role-id")["data"]["role_id"]
    secret_id = server.request("POST", f"auth/{mount}/role/runner/secret-id")["data"]["secret_id"]
    return mount, role_id, secret_id


def audit_requests(server: OpenBaoServer, *, after: int = 0) -> list[dict[str, Any]]:
    """The ``request`` records of the audit log from index ``after`` on."""
    entries = server.audit_entries()[after:]
    return [e["request"] for e in entries if e.get("type") == "request"]


def audit_mark(server: OpenBaoServer) -> int:
    """The current length of the audit log, to count only what follows."""
    return len(server.audit_entries())


def kubernetes_auth_mount(server: OpenBaoServer, kube_apiserver: Any, namespace: str) -> str:
    """Kubernetes auth on a fresh mount whose TokenReviews go to the real test apiserver.

    The reviewer is a ServiceAccount bound to ``system:auth-delegator`` by a ClusterRoleBinding.
    """
    from kubernetes import client as k8s
    from kubernetes.client.rest import ApiException

    reviewer_token = kube_apiserver.service_account_token(namespace, "vault-reviewer")
    try:
        k8s.RbacAuthorizationV1Api(kube_apiserver.api_client()).create_cluster_role_binding(
            {
                "metadata": {"name": f"{namespace}-vault-reviewer"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:auth-delegator",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "vault-reviewer", "namespace": namespace}
                ],
            }
        )
    except ApiException as e:
        if e.status != 409:
            raise
    mount = unique("k8s-")
    enable_auth(server, mount, "kubernetes")
    server.request(
        "POST",
        f"auth/{mount}/config",
        {
            "kubernetes_host": kube_apiserver.url,
            "kubernetes_ca_cert": kube_apiserver.ca_file.read_text(),
            "token_reviewer_jwt": reviewer_token,
            "disable_local_ca_jwt": True,
        },
    )
    return mount


def database_engine(
    bao: OpenBaoServer, pg: PostgresServer, *, default_ttl: str = "1h", max_ttl: str = "2h"
) -> str:
    """A database engine on a fresh mount with role ``dbt``; returns the mount."""
    mount = unique("db-")
    bao.request("POST", f"sys/mounts/{mount}", {"type": "database"})
    bao.request(
        "POST",
        f"{mount}/config/pg",
        {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{pg.host}:{pg.port}/"
            f"{pg.dbname}?sslmode=disable",
            "username": pg.user,
            "password": pg.password,
            "allowed_roles": ["dbt"],
        },
    )
    bao.request(
        "POST",
        f"{mount}/roles/dbt",
        {
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
                "VALID UNTIL '{{expiration}}';",
                f'GRANT CREATE ON DATABASE "{pg.dbname}" TO "{{{{name}}}}";',
            ],
            # dbt leaves tables owned by the user: hand them over, then drop the user.
            "revocation_statements": [
                f'REASSIGN OWNED BY "{{{{name}}}}" TO "{pg.user}";',
                'DROP OWNED BY "{{name}}";',
                'DROP ROLE IF EXISTS "{{name}}";',
            ],
            "default_ttl": default_ttl,
            "max_ttl": max_ttl,
        },
    )
    return mount


def role_exists(pg: PostgresServer, name: str) -> bool:
    import psycopg2

    with psycopg2.connect(pg.dsn()) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
        found = cur.fetchone() is not None
    conn.close()
    return found
