"""Vault failing under floe: sealed, stopped, policy says no — each a named, actionable error, and
a run that fails that way still revokes its database lease.

Sealing is done on a second OpenBao started for this module, never on the shared one.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, asset, materialize

from floe_dagster_secrets.backends.vault import VaultSecretsPlugin, policy_payload
from floe_dagster_secrets.errors import BackendUnavailableError, SecretAccessDeniedError
from floe_dagster_secrets.resources.vault import VaultSecretsResource
from floe_dagster_secrets.types import reveal_all
from tests.integration.fault_helpers import READ_TIMEOUT, openbao_proxy, timed, vault_plugin
from tests.integration.vault_helpers import (
    database_engine,
    lease_policy,
    role_exists,
    token_plugin,
    unique,
)
from tests.servers import OpenBaoServer, PostgresServer
from tests.servers.fault_proxy import Fault, answer, delay
from tests.servers.openbao import OpenBaoError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NS = "floe-jobs"
NAME = "warehouse-dev-credentials"


@pytest.fixture
def private_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("private_openbao"))
    server.start()
    yield server
    server.stop()


def test_sealed_then_stopped_vault_are_named_errors(
    private_openbao: OpenBaoServer, tmp_path: Path
) -> None:
    plugin = token_plugin(private_openbao, tmp_path)
    try:
        plugin.create_secret(NAME, NS, {"PASSWORD": "before-the-seal"})
        assert reveal_all(plugin.get_secret(NAME, NS)) == {"PASSWORD": "before-the-seal"}

        private_openbao.request("PUT", "sys/seal")
        with pytest.raises(BackendUnavailableError, match="is sealed") as sealed:
            plugin.get_secret(NAME, NS)
        assert "unseal" in sealed.value.fix
        assert sealed.value.path == plugin.data_path(NAME, NS)

        private_openbao.stop()
        with pytest.raises(BackendUnavailableError, match="Cannot reach Vault") as down:
            plugin.get_secret(NAME, NS)
        assert private_openbao.address in str(down.value)
        assert "VAULT_ADDR" in down.value.fix
    finally:
        plugin.close()


def test_fresh_plugin_against_a_stopped_vault(tmp_path: Path) -> None:
    from tests.servers._process import free_port

    token = tmp_path / "token"
    token.write_text("s.unused")
    plugin = VaultSecretsPlugin(
        address=f"http://127.0.0.1:{free_port()}", auth_method="token", token_file=str(token)
    )
    with pytest.raises(BackendUnavailableError, match="Cannot reach Vault"):
        plugin.get_secret(NAME, NS)
    plugin.close()


def test_run_denied_a_secret_fails_clearly_and_revokes_its_lease(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(openbao_server, postgres_server)
    prefix = f"{unique('deny')}/"
    policy = lease_policy(openbao_server, mount)
    token = openbao_server.request(
        "POST", "auth/token/create", {"policies": [policy], "ttl": "1h"}
    )["auth"]["client_token"]
    token_file = tmp_path / "token"
    token_file.write_text(token)
    seen: dict[str, str] = {}

    @asset
    def needs_a_secret(vault: VaultSecretsResource) -> None:
        seen["user"] = vault.database_credentials().username
        vault.get_secret(NAME)

    resource = VaultSecretsResource(
        address=openbao_server.address,
        auth_method="token",
        token_file=str(token_file),
        secret_path_prefix=prefix,
        namespace=NS,
        database_role="dbt",
        database_mount=mount,
    )
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [needs_a_secret], resources={"vault": resource}, instance=instance, raise_on_error=False
        )
        failure = next(e for e in result.all_events if e.is_step_failure)
    assert not result.success
    error = failure.step_failure_data.error
    assert error is not None
    text = str(error.message) + "".join(c.message for c in [error.cause] if c)
    assert "SecretAccessDeniedError" in (error.cls_name or "") + text
    assert f"secret/data/{prefix}{NS}/{NAME}" in text
    assert not role_exists(postgres_server, seen["user"])
    assert token not in text


def test_denied_database_role_is_named_and_leaves_no_user(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(openbao_server, postgres_server)
    policy = unique("nothing-")
    openbao_server.request(
        "PUT", f"sys/policies/acl/{policy}", policy_payload('path "x/y" { capabilities = [] }')
    )
    token = openbao_server.request("POST", "auth/token/create", {"policies": [policy]})["auth"][
        "client_token"
    ]
    plugin = token_plugin(openbao_server, tmp_path, token=token)
    with pytest.raises(SecretAccessDeniedError, match=f"{mount}/creds/dbt") as denied:
        plugin.run_lease("dbt", mount=mount, handle_sigterm=False).acquire()
    plugin.close()
    assert 'capabilities = ["read"]' in str(denied.value)
    with pytest.raises(OpenBaoError) as no_leases:  # Vault lists an empty prefix as 404
        openbao_server.request("GET", f"sys/leases/lookup/{mount}/creds/dbt?list=true")
    assert no_leases.value.status == 404


def _floe_users(pg: PostgresServer) -> set[str]:
    import psycopg2

    with psycopg2.connect(pg.dsn()) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'")
        users = {row[0] for row in cur.fetchall()}
    conn.close()
    return users


def test_vault_stopped_before_run_end_names_the_lease_ttl(
    private_openbao: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(private_openbao, postgres_server, default_ttl="30s")
    plugin = token_plugin(private_openbao, tmp_path)
    before = _floe_users(postgres_server)
    lease = plugin.run_lease("dbt", mount=mount, handle_sigterm=False)
    creds = lease.acquire()
    try:
        private_openbao.stop()
        with pytest.raises(BackendUnavailableError) as stopped:
            lease.release()
        message = str(stopped.value)
        assert "Could not revoke the run's database lease" in message
        assert "TTL (30 s" in message
        assert creds.username in message
        assert creds.password.reveal() not in message
    finally:
        plugin.close()
        import psycopg2

        with psycopg2.connect(postgres_server.dsn()) as conn, conn.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{creds.username}"')
            cur.execute(f'DROP ROLE "{creds.username}"')
        conn.close()
    assert _floe_users(postgres_server) == before


def test_sealed_vault_at_run_start_creates_no_user(
    private_openbao: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(private_openbao, postgres_server)
    plugin = token_plugin(private_openbao, tmp_path)
    plugin.session.token()  # logged in before the seal
    before = _floe_users(postgres_server)
    private_openbao.request("PUT", "sys/seal")
    with pytest.raises(BackendUnavailableError, match="sealed"):
        plugin.run_lease("dbt", mount=mount, handle_sigterm=False).acquire()
    plugin.close()
    assert _floe_users(postgres_server) == before


def _creds_leases(bao: OpenBaoServer, mount: str) -> list[str]:
    """Lease ids under ``<mount>/creds/dbt`` (Vault lists an empty prefix as 404)."""
    try:
        listed = bao.request("LIST", f"sys/leases/lookup/{mount}/creds/dbt")
    except OpenBaoError as e:
        if e.status == 404:
            return []
        raise
    return list((listed.get("data") or {}).get("keys") or [])


@pytest.mark.parametrize(
    ("fault", "words", "users_created"),
    [
        # the request reaches Vault, which creates the user, but answers after the read timeout
        (delay(READ_TIMEOUT + 1.5), "no answer within the read timeout", 1),
        (answer(502), "answered 502", 0),  # a gateway's 502: Vault may or may not have acted
    ],
    ids=["read-timeout", "502"],
)
def test_a_creds_read_that_may_have_reached_vault_is_not_repeated(
    fault: Fault,
    words: str,
    users_created: int,
    openbao_server: OpenBaoServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    """Each creds read creates a database user: a retry after an answer was lost would create a
    second user and leave the first to its TTL. One attempt, and an error that says how to find
    the user Vault may have created."""
    mount = database_engine(openbao_server, postgres_server)
    creds_path = f"/v1/{mount}/creds/dbt$"
    before = _floe_users(postgres_server)
    proxy = openbao_proxy(openbao_server)
    try:
        with vault_plugin(proxy.url, openbao_server.root_token, tmp_path) as plugin:
            plugin.session.token()  # logged in through the proxy, before the fault
            proxy.fail_next(1, fault, path=creds_path)
            lease = plugin.run_lease("dbt", mount=mount, handle_sigterm=False)
            error, _ = timed(lease.acquire)
            if not isinstance(error, BaseException):
                lease.release()  # (without the fix: the retry's user) then fail below
            # the delayed request reaches Vault after the client gave up on it
            deadline = time.monotonic() + 15
            while len(_creds_leases(openbao_server, mount)) < users_created:
                assert time.monotonic() < deadline, "the delayed creds read never reached Vault"
                time.sleep(0.2)
            leases = _creds_leases(openbao_server, mount)
            created = _floe_users(postgres_server) - before
        reads = [s for s in proxy.requests(creds_path) if s.method == "GET"]
    finally:
        proxy.stop()
        openbao_server.request("PUT", f"sys/leases/revoke-prefix/{mount}/creds/dbt?sync=true")
    assert len(reads) == 1, [str(s.fault) for s in reads]
    assert isinstance(error, BackendUnavailableError), repr(error)
    text = str(error)
    assert words in text
    assert "not retried, because Vault may have created a database user for role 'dbt'" in text
    assert "backend 'vault'" in text
    assert error.path == f"{mount}/creds/dbt"
    assert f"bao list sys/leases/lookup/{mount}/creds/dbt" in error.fix
    assert f"bao lease revoke {mount}/creds/dbt/<lease id>" in error.fix
    assert len(leases) == users_created
    assert len(created) == users_created
    assert _floe_users(postgres_server) == before
