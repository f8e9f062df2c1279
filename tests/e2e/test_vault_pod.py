"""Vault through the launcher, on the real node: the pod logs in with its own projected token.

The manifest says ``type: vault``. The launcher asks that backend what a run's pod gets: the
Vault address, auth role and mount as plain variables, and the service account the role is bound
to — no ``envFrom`` and no Kubernetes Secret for a Vault-backed credential, so none exists in the
namespace. In the pod, ``VaultSecretsResource`` logs in through Kubernetes auth with the token the
kubelet projected, leases a PostgreSQL user for the run, and dbt runs as that user. The lease is
revoked when the run ends: on success, on failure, and when the run is terminated from Dagster
(the Job is deleted, the kubelet sends SIGTERM). ``pg_roles`` shows the user gone each time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client as k8s

from tests.e2e.node_harness import (
    CodeServer,
    container_logs,
    instance_yaml,
    launch,
    node_run_launcher_config,
    node_workspace,
    wait_finished,
    wait_service_account,
)
from tests.e2e.vault_location.definitions import MODE_TAG, MOUNT_VAR, PG_VARS
from tests.integration.vault_helpers import (
    database_engine,
    kubernetes_auth_mount,
    put_policy,
    role_exists,
    unique,
)
from tests.servers.image import ensure_user_code_image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
LOCATION = "vault_pod"
ACCOUNT = "floe-job-runner"
REVOKE_BOUND = 45  # s from the end of a run (or its termination) until the user is gone


@dataclass
class VaultEnv:
    namespace: str
    instance: DagsterInstance
    context: Any
    core: k8s.CoreV1Api
    batch: k8s.BatchV1Api
    pg: Any


def _manifest(path: Path, bao: Any, role: str, auth_mount: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "environment": "dev",
                "plugins": {
                    "secrets": {
                        "type": "vault",
                        "config": {
                            "address": bao.address,
                            "auth_method": "kubernetes",
                            "role": role,
                            "mount_path": auth_mount,
                        },
                    },
                    "compute": {
                        "type": "postgres",
                        "connection_secret_ref": "postgres-dev-credentials",
                        "config": {"dbname": "postgres", "schema": "public"},
                    },
                },
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def vault_env(
    kube_apiserver: Any,
    kube_node: Any,
    openbao_server: Any,
    postgres_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[VaultEnv]:
    image = ensure_user_code_image(kube_node.socket)
    tmp = tmp_path_factory.mktemp("vault_pod")
    api = kube_apiserver.api_client()
    core, batch = k8s.CoreV1Api(api), k8s.BatchV1Api(api)
    namespace = kube_apiserver.create_namespace("floe-vault-pod")
    wait_service_account(core, namespace, "default")
    core.create_namespaced_service_account(namespace, {"metadata": {"name": ACCOUNT}})

    # Vault: Kubernetes auth reviewing tokens on the suite's apiserver, a role bound to the
    # run's service account, allowed to lease users from a database engine and nothing else
    auth_mount = kubernetes_auth_mount(openbao_server, kube_apiserver, namespace)
    db_mount = database_engine(openbao_server, postgres_server)
    policy = unique("floe-run-")
    put_policy(
        openbao_server,
        policy,
        # renew/revoke by lease id in the URL, for this role's leases only (as floe's
        # vault_policy grants them): a bare "sys/leases/revoke" would not cover them
        f'path "{db_mount}/creds/dbt" {{ capabilities = ["read"] }}\n'
        f'path "sys/leases/renew/{db_mount}/creds/dbt/*" {{ capabilities = ["update"] }}\n'
        f'path "sys/leases/revoke/{db_mount}/creds/dbt/*" {{ capabilities = ["update"] }}\n',
    )
    role = "floe-e2e"
    openbao_server.request(
        "POST",
        f"auth/{auth_mount}/role/{role}",
        {
            "bound_service_account_names": [ACCOUNT],
            "bound_service_account_namespaces": [namespace],
            "token_policies": [policy],
            "token_ttl": "1h",
        },
    )
    manifest = _manifest(tmp / "manifest.yaml", openbao_server, role, auth_mount)

    home = tmp / "home"
    home.mkdir()
    shared = [tmp_path_factory.getbasetemp(), REPO]
    where = {
        MOUNT_VAR: db_mount,
        PG_VARS[0]: postgres_server.host,
        PG_VARS[1]: str(postgres_server.port),
        PG_VARS[2]: postgres_server.dbname,
    }
    launcher = node_run_launcher_config(
        image,
        kube_apiserver,
        namespace,
        home,
        shared,
        env_vars=[f"{k}={v}" for k, v in where.items()],
        manifest_path=str(manifest),
        # the asset writes its own profiles.yml: no dbt-profiles ConfigMap exists here
        dbt_profiles_config_map=None,
    )
    (home / "dagster.yaml").write_text(instance_yaml(launcher))
    server = CodeServer(
        core,
        namespace,
        image,
        LOCATION,
        "tests.e2e.vault_location.definitions",
        str(REPO),
        [REPO],
        env={"VAULT_ADDR": openbao_server.address, **where},
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("DAGSTER_HOME", str(home))
    with node_workspace(home, [server]) as (instance, context):
        yield VaultEnv(namespace, instance, context, core, batch, postgres_server)
    mp.undo()


def _launch(env: VaultEnv, mode: str) -> str:
    return launch(env.context, LOCATION, job="vault_job", tags={MODE_TAG: mode})


def _messages(env: VaultEnv, run_id: str) -> list[str]:
    return [str(e.message) for e in env.instance.all_logs(run_id)]


def _leased_user(env: VaultEnv, run_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in _messages(env, run_id):
            if message.startswith("leased database user "):
                return message.removeprefix("leased database user ").strip()
        run = env.instance.get_run_by_id(run_id)
        assert run is not None
        if run.is_finished:
            break
        time.sleep(0.5)
    raise AssertionError(f"no lease logged: {_messages(env, run_id)}\n{_pods(env)}")


def _pods(env: VaultEnv) -> str:
    return container_logs(env.core, env.namespace)[-5000:]


def _finished(env: VaultEnv, run_id: str, timeout: float = 400) -> Any:
    return wait_finished(env.instance, run_id, timeout, why=lambda: _pods(env))


def _user_gone(env: VaultEnv, user: str, timeout: float = REVOKE_BOUND) -> float:
    started = time.monotonic()
    while role_exists(env.pg, user):
        assert time.monotonic() - started < timeout, f"database user {user} still exists"
        time.sleep(0.5)
    return time.monotonic() - started


def test_run_pod_logs_in_with_its_token_and_its_lease_ends_with_the_run(
    vault_env: VaultEnv,
) -> None:
    run_id = _launch(vault_env, "succeed")
    run = _finished(vault_env, run_id)
    assert run.status == DagsterRunStatus.SUCCESS, [*_messages(vault_env, run_id), _pods(vault_env)]
    user = _leased_user(vault_env, run_id)
    _user_gone(vault_env, user, timeout=5)  # revoked before the run reported success

    job = vault_env.batch.read_namespaced_job(get_job_name_from_run_id(run_id), vault_env.namespace)
    pod = job.spec.template.spec
    container = pod.containers[0]
    assert pod.service_account_name == ACCOUNT  # the account the Vault role is bound to
    assert not container.env_from  # no Kubernetes Secret for a Vault-backed credential
    plain = {e.name: e.value for e in container.env if e.value is not None}
    assert plain["FLOE_VAULT_AUTH_ROLE"] == "floe-e2e"
    assert plain["VAULT_ADDR"].startswith("http://127.0.0.1:")
    secrets_in_namespace = vault_env.core.list_namespaced_secret(vault_env.namespace).items
    assert "postgres-dev-credentials" not in {s.metadata.name for s in secrets_in_namespace}
    materialized = vault_env.instance.all_logs(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    )
    assert len(materialized) == 1


def test_a_failed_run_revokes_its_lease(vault_env: VaultEnv) -> None:
    run_id = _launch(vault_env, "fail")
    run = _finished(vault_env, run_id)
    assert run.status == DagsterRunStatus.FAILURE
    # it failed where it was told to, after dbt ran: the Failure is the step failure's error
    # (the event's message is only 'Execution of step "vault_greeting" failed.')
    failures = vault_env.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    errors = [str(e.dagster_event.step_failure_data.error.message) for e in failures]
    assert any("failing on purpose after dbt ran" in m for m in errors), errors
    user = _leased_user(vault_env, run_id)
    _user_gone(vault_env, user, timeout=5)


def test_a_run_terminated_from_dagster_revokes_its_lease_before_the_grace_period(
    vault_env: VaultEnv,
) -> None:
    run_id = _launch(vault_env, "hang")
    user = _leased_user(vault_env, run_id)
    deadline = time.monotonic() + 300
    while not any("waiting to be terminated" in m for m in _messages(vault_env, run_id)):
        assert time.monotonic() < deadline, _pods(vault_env)
        time.sleep(0.5)
    assert role_exists(vault_env.pg, user)
    asked = time.monotonic()  # counted from the request: terminate() itself takes a while,
    assert vault_env.instance.run_launcher.terminate(run_id)  # deletes the Job: SIGTERM
    _user_gone(vault_env, user)  # and the pod may have revoked before it returns
    took = time.monotonic() - asked
    print(f"terminated run: database user dropped {took:.1f} s after terminate")
    assert took < 30  # within Kubernetes' default termination grace period
    # the run worker got SIGTERM: Dagster interrupted the step and ended the run as canceled
    run = _finished(vault_env, run_id, timeout=120)
    assert run.status == DagsterRunStatus.CANCELED, _messages(vault_env, run_id)
