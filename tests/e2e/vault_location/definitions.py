"""Test-only code location: dbt on PostgreSQL with run-scoped dynamic credentials from Vault.

Runs in a Job pod on the test node. The pod logs in to Vault (OpenBao) with its own projected
service-account token through Kubernetes auth — the run launcher told it only where Vault is
(``VAULT_ADDR``, ``FLOE_VAULT_AUTH_ROLE``, ``FLOE_VAULT_AUTH_MOUNT``), no credential. The
``VaultSecretsResource`` leases a database user for the run; the asset runs ``dbt run`` with it,
and records only the user's name. The run's ``e2e/mode`` tag makes it fail after dbt (``fail``)
or wait to be terminated (``hang``).
"""

import os
import subprocess
import tempfile
import time
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    Definitions,
    Failure,
    MaterializeResult,
    asset,
    define_asset_job,
    in_process_executor,
)

from floe_dagster_secrets.dbt import profile_env, write_profiles_yml
from floe_dagster_secrets.resources import VaultSecretsResource
from floe_dagster_secrets.types import SecretValue

PROJECT = Path(__file__).resolve().parent / "dbt_project"
MODE_TAG = "e2e/mode"
MOUNT_VAR = "FLOE_E2E_DB_MOUNT"
PG_VARS = ("FLOE_E2E_PG_HOST", "FLOE_E2E_PG_PORT", "FLOE_E2E_PG_DB")


@asset
def vault_greeting(
    context: AssetExecutionContext, vault: VaultSecretsResource
) -> MaterializeResult:
    """``dbt run`` on PostgreSQL as this run's own database user, leased from Vault."""
    creds = vault.database_credentials()
    context.log.info(f"leased database user {creds.username}")
    host, port, dbname = (os.environ[name] for name in PG_VARS)
    schema = f"e2e_{context.run.run_id[:8]}"
    secret = {**vault.database_secret(), "POSTGRES_HOST": SecretValue(host)}
    with tempfile.TemporaryDirectory() as scratch:  # dbt writes nothing into the project
        settings = {"dbname": dbname, "schema": schema, "port": int(port), "threads": 1}
        write_profiles_yml(scratch, "postgres", settings)
        result = subprocess.run(
            [
                "dbt",
                "run",
                "--project-dir",
                str(PROJECT),
                "--profiles-dir",
                scratch,
                "--target-path",
                f"{scratch}/target",
                "--log-path",
                f"{scratch}/logs",
            ],
            env={**os.environ, **profile_env("postgres", secret)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        raise Failure(description=f"dbt run failed:\n{result.stdout[-2000:]}")
    mode = context.run.tags.get(MODE_TAG)
    if mode == "fail":
        raise Failure(description="failing on purpose after dbt ran")
    if mode == "hang":
        context.log.info("waiting to be terminated")
        time.sleep(600)
    return MaterializeResult(metadata={"db_user": creds.username, "schema": schema})


# One process per run: the lease lives in the run worker, PID 1 of the pod, which is the process
# the kubelet sends SIGTERM to when the run is terminated.
vault_job = define_asset_job(
    "vault_job", selection=[vault_greeting], executor_def=in_process_executor
)

defs = Definitions(
    assets=[vault_greeting],
    jobs=[vault_job],
    resources={
        # where Vault is and which role: overridden in the run pod by what the launcher set
        "vault": VaultSecretsResource(
            address=os.environ.get("VAULT_ADDR", "http://127.0.0.1:8200"),
            auth_method="kubernetes",
            database_role="dbt",
            database_mount=os.environ.get(MOUNT_VAR, "database"),
        )
    },
)
