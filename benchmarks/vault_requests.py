"""Vault requests of one floe run against a minimal hvac client, counted by OpenBao's audit log.

Starts the suite's real servers — kube-apiserver + etcd, OpenBao (file audit device), PostgreSQL
— and sets up what a pod's login needs: Kubernetes auth in OpenBao whose TokenReviews go to the
apiserver, a role bound to the run's ServiceAccount, and a ServiceAccount token minted through
TokenRequest (the kind of token a pod's projected volume holds, 3,607 s as the kubelet asks),
written to a file as the kubelet mounts it. Then the same work is done twice, each counted in
the audit log (one ``request`` record per HTTP request OpenBao served):

- floor: a minimal client a competent engineer would write with hvac — log in with the JWT,
  read the K KV v2 secrets, lease one dynamic PostgreSQL credential, revoke it;
- ours: one real Dagster run (``materialize``) whose asset reads the K secrets through
  ``VaultSecretsResource`` (``auth_method="kubernetes"``, the token file) and leases the database
  credential, which the resource revokes when the run ends.

    .venv/bin/python benchmarks/vault_requests.py [--secrets 5]

Prints ``vault_requests_floor=<n>``, ``vault_requests_per_run=<n>`` and, last,
``vault_requests_ratio_to_floor=<ours/floor>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hvac
from dagster import DagsterInstance, asset, materialize

from benchmarks._common import print_machine, require
from floe_dagster_secrets.resources.vault import VaultSecretsResource
from tests.integration.vault_helpers import (
    audit_mark,
    audit_requests,
    database_engine,
    kubernetes_auth_mount,
    put_policy,
)
from tests.servers import KubeApiServer, OpenBaoServer, PostgresServer

PREFIX = "bench/"
ACCOUNT = "floe-job-runner"
PROJECTED_TOKEN_SECONDS = 3607  # what the kubelet requests for a projected service-account token


def kind(request: dict[str, Any]) -> str:
    path: str = request["path"]
    if path.endswith("/login"):
        return "login"
    if path.startswith("sys/leases/revoke"):
        return "revoke"
    if path.startswith(("sys/leases/renew", "auth/token/renew")):
        return "renew"
    if "/creds/" in path:
        return "lease"
    if path.startswith("secret/data/"):
        return "kv_read"
    return f"other:{path}"


def counted(bao: OpenBaoServer, work: Callable[[], None]) -> list[dict[str, Any]]:
    mark = audit_mark(bao)
    work()
    return audit_requests(bao, after=mark)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secrets", type=int, default=5, help="K: KV secrets the run reads")
    args = parser.parse_args()
    print_machine("start")
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as tmp:
        root = Path(tmp)
        api = KubeApiServer(root / "apiserver")
        bao = OpenBaoServer(root / "openbao")
        pg = PostgresServer(root / "postgres")
        try:
            api.start()
            bao.start()
            pg.start()
            ns = api.create_namespace("bench-vault")
            names = [f"source{i}-dev-credentials" for i in range(args.secrets)]
            db_mount = database_engine(bao, pg)
            for name in names:
                bao.request("POST", f"secret/data/{PREFIX}{ns}/{name}", {"data": {"K": name}})
            put_policy(
                bao,
                "bench",
                "\n".join(
                    [
                        f'path "secret/data/{PREFIX}{ns}/{n}" {{ capabilities = ["read"] }}'
                        for n in names
                    ]
                    + [
                        f'path "{db_mount}/creds/dbt" {{ capabilities = ["read"] }}',
                        f'path "sys/leases/revoke/{db_mount}/creds/dbt/*" '
                        '{ capabilities = ["update"] }',
                    ]
                ),
            )
            auth_mount = kubernetes_auth_mount(bao, api, ns)
            bao.request(
                "POST",
                f"auth/{auth_mount}/role/bench",
                {
                    "bound_service_account_names": [ACCOUNT],
                    "bound_service_account_namespaces": [ns],
                    "token_policies": ["bench"],
                    "token_ttl": "1h",
                },
            )
            jwt = api.service_account_token(ns, ACCOUNT, expiration_seconds=PROJECTED_TOKEN_SECONDS)
            token_file = root / "token"
            token_file.write_text(jwt)

            def minimal() -> None:
                client = hvac.Client(url=bao.address)
                client.auth.kubernetes.login("bench", jwt, mount_point=auth_mount)
                for name in names:
                    client.secrets.kv.v2.read_secret_version(
                        path=f"{PREFIX}{ns}/{name}",
                        mount_point="secret",
                        raise_on_deleted_version=True,
                    )
                lease = client.secrets.database.generate_credentials("dbt", mount_point=db_mount)
                # path-style revoke: the least-privilege policy grants update on the lease's path
                client.adapter.put(f"/v1/sys/leases/revoke/{lease['lease_id']}")
                client.adapter.close()

            @asset
            def reads_secrets(vault: VaultSecretsResource) -> int:
                vault.database_credentials()
                return sum(len(vault.get_secret(name)) for name in names)

            resource = VaultSecretsResource(
                address=bao.address,
                auth_method="kubernetes",
                role="bench",
                mount_path=auth_mount,
                token_file=str(token_file),
                secret_path_prefix=PREFIX,
                namespace=ns,
                database_role="dbt",
                database_mount=db_mount,
            )

            def run() -> None:
                with DagsterInstance.ephemeral() as instance:
                    result = materialize(
                        [reads_secrets], resources={"vault": resource}, instance=instance
                    )
                require(result.success, "the Dagster run failed")

            floor = counted(bao, minimal)
            ours = counted(bao, run)
        finally:
            pg.stop()
            bao.stop()
            api.stop()
    for label, requests in (("floor", floor), ("ours", ours)):
        kinds = Counter(kind(r) for r in requests)
        print(f"{label}_by_kind=" + ",".join(f"{k}:{v}" for k, v in sorted(kinds.items())))
    require(Counter(kind(r) for r in floor)["login"] == 1, "the floor client did not log in once")
    print(f"secrets_read={args.secrets} login=kubernetes (TokenRequest service-account JWT)")
    print_machine("end")
    print(f"vault_requests_floor={len(floor)}")
    print(f"vault_requests_per_run={len(ours)}")
    print(f"vault_requests_ratio_to_floor={len(ours) / len(floor):.2f}")


if __name__ == "__main__":
    main()
