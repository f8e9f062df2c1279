"""How many Vault requests one floe run makes, counted by OpenBao's own audit log.

Starts a private OpenBao dev server and PostgreSQL (the test-server helpers), configures AppRole
auth, K KV secrets and a database engine role, then runs one real Dagster run whose asset reads
the K secrets through ``VaultSecretsResource`` while the resource leases one dynamic database
credential for the run. The floor is 1 login + K reads + 1 lease + 1 revoke; the run should hit
it exactly (no per-read login, no metadata lookups, no renewal in a short run).

    .venv/bin/python benchmarks/vault_requests.py [--secrets 5]

Prints ``vault_requests_floor=<n>``, the ratio of the two, and, on the last line,
``vault_requests_per_run=<n>``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dagster import DagsterInstance, asset, materialize

from floe_dagster_secrets.resources.vault import VaultSecretsResource
from tests.integration.vault_helpers import (
    approle,
    audit_mark,
    audit_requests,
    database_engine,
    put_policy,
)
from tests.servers import OpenBaoServer, PostgresServer

NS = "floe-jobs"
PREFIX = "bench/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secrets", type=int, default=5, help="K: KV secrets the run reads")
    args = parser.parse_args()
    names = [f"source{i}-dev-credentials" for i in range(args.secrets)]
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as tmp:
        root = Path(tmp)
        bao = OpenBaoServer(root / "openbao")
        pg = PostgresServer(root / "postgres")
        bao.start()
        pg.start()
        try:
            mount = database_engine(bao, pg)
            for name in names:
                bao.request("POST", f"secret/data/{PREFIX}{NS}/{name}", {"data": {"K": name}})
            put_policy(
                bao,
                "bench",
                "\n".join(
                    [
                        f'path "secret/data/{PREFIX}{NS}/{n}" {{ capabilities = ["read"] }}'
                        for n in names
                    ]
                    + [
                        f'path "{mount}/creds/dbt" {{ capabilities = ["read"] }}',
                        f'path "sys/leases/revoke/{mount}/creds/dbt/*" '
                        '{ capabilities = ["update"] }',
                    ]
                ),
            )
            auth_mount, role_id, secret_id = approle(bao, policies=["bench"])
            os.environ["FLOE_BENCH_ROLE_ID"] = role_id
            os.environ["FLOE_BENCH_SECRET_ID"] = secret_id

            @asset
            def reads_secrets(vault: VaultSecretsResource) -> int:
                vault.database_credentials()
                return sum(len(vault.get_secret(name)) for name in names)

            resource = VaultSecretsResource(
                address=bao.address,
                auth_method="approle",
                mount_path=auth_mount,
                role_id_env="FLOE_BENCH_ROLE_ID",
                secret_id_env="FLOE_BENCH_SECRET_ID",  # noqa: S106 - an env var name
                secret_path_prefix=PREFIX,
                namespace=NS,
                database_role="dbt",
                database_mount=mount,
            )
            mark = audit_mark(bao)
            with DagsterInstance.ephemeral() as instance:
                result = materialize(
                    [reads_secrets], resources={"vault": resource}, instance=instance
                )
            assert result.success
            requests = audit_requests(bao, after=mark)
        finally:
            pg.stop()
            bao.stop()
    kinds = Counter(
        "login"
        if r["path"].endswith("/login")
        else "lease"
        if "/creds/" in r["path"] and not r["path"].startswith("sys/")
        else "revoke"
        if r["path"].startswith("sys/leases/revoke")
        else "renew"
        if r["path"].startswith(("sys/leases/renew", "auth/token/renew"))
        else "kv_read"
        if r["path"].startswith("secret/data/")
        else "other"
        for r in requests
    )
    print(f"secrets_read={args.secrets}")
    print("requests_by_kind=" + ",".join(f"{k}:{v}" for k, v in sorted(kinds.items())))
    floor = 1 + args.secrets + 1 + 1
    print(f"vault_requests_floor={floor}")
    print(f"vault_requests_ratio_to_floor={len(requests) / floor:.2f}")
    print(f"vault_requests_per_run={len(requests)}")


if __name__ == "__main__":
    main()
