"""Dynamic PostgreSQL credentials from a real OpenBao database engine, scoped to a Dagster run.

The engine creates a real PostgreSQL user per run; dbt (a real ``dbt run`` subprocess) connects
with it through ``env_var()``; the user is gone from ``pg_roles`` when the run ends, whether it
succeeded, failed or got SIGTERM; renewal keeps it alive past its initial TTL; and no value shows
up in Dagster's storage or logs.
"""

import os
import secrets
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    asset,
    build_resources,
    build_sensor_context,
    materialize,
)

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.backends.vault.leases import PASS_ON_GRACE, REVOKE_DEADLINE
from floe_dagster_secrets.dbt import profile_env, render_profiles_yml
from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.masking import encoded_forms
from floe_dagster_secrets.resources.vault import VaultSecretsResource
from floe_dagster_secrets.sensors import make_secret_rotation_sensor
from floe_dagster_secrets.types import SecretValue
from tests.integration.vault_helpers import (
    approle,
    approle_plugin,
    audit_mark,
    audit_requests,
    database_engine,
    lease_policy,
    put_policy,
    role_exists,
    token_plugin,
    unique,
)
from tests.servers import OpenBaoServer, PostgresServer
from tests.servers.openbao import OpenBaoError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DBT = str(Path(sys.executable).parent / "dbt")
NS = "floe-jobs"


def can_connect(pg: PostgresServer, user: str, password: str) -> bool:
    try:
        conn = psycopg2.connect(
            host=pg.host, port=pg.port, dbname=pg.dbname, user=user, password=password
        )
    except psycopg2.OperationalError:
        return False
    conn.close()
    return True


def dbt_project(root: Path, schema: str, pg: PostgresServer) -> tuple[Path, Path]:
    project = root / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: floe_vault\nversion: '1.0'\nprofile: floe\n"
        "models:\n  floe_vault:\n    +materialized: table\n"
    )
    (project / "models" / "greeting.sql").write_text("select 1 as id, 'hello' as greeting\n")
    profiles = root / "profiles"
    profiles.mkdir()
    settings = {"dbname": pg.dbname, "schema": schema, "port": pg.port, "threads": 1}
    (profiles / "profiles.yml").write_text(render_profiles_yml("postgres", settings))
    return project, profiles


def run_dbt(project: Path, profiles: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DBT, "run", "--project-dir", str(project), "--profiles-dir", str(profiles)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(profiles.parent),
            "LANG": "C.UTF-8",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            **env,
        },
    )


def _resource(bao: OpenBaoServer, tmp_path: Path, mount: str, prefix: str) -> VaultSecretsResource:
    token_file = tmp_path / "vault-token"
    token_file.write_text(bao.root_token)
    return VaultSecretsResource(
        address=bao.address,
        auth_method="token",
        token_file=str(token_file),
        secret_path_prefix=prefix,
        namespace=NS,
        database_role="dbt",
        database_mount=mount,
    )


def _files_holding(root: Path, value: str) -> list[str]:
    forms = [form.encode() for form in encoded_forms(value)]
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file() and any(form in p.read_bytes() for form in forms)
    ]


def test_dagster_run_gets_a_user_dbt_uses_it_and_it_is_gone_after(
    openbao_server: OpenBaoServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mount = database_engine(openbao_server, postgres_server)
    prefix = f"{unique('dyn')}/"
    policy = unique("dyn-")
    put_policy(
        openbao_server,
        policy,
        f'path "secret/data/{prefix}{NS}/api-dev-key" {{ capabilities = ["read"] }}\n'
        f'path "{mount}/creds/dbt" {{ capabilities = ["read"] }}\n'
        f'path "sys/leases/renew/{mount}/creds/dbt/*" {{ capabilities = ["update"] }}\n'
        f'path "sys/leases/revoke/{mount}/creds/dbt/*" {{ capabilities = ["update"] }}\n',
    )
    auth_mount, role_id, secret_id = approle(openbao_server, policies=[policy])
    monkeypatch.setenv("FLOE_TEST_ROLE_ID", role_id)
    monkeypatch.setenv("FLOE_TEST_SECRET_ID", secret_id)
    kv_canary = f"kvcanary{secrets.token_hex(12)}"
    openbao_server.request(
        "POST", f"secret/data/{prefix}{NS}/api-dev-key", {"data": {"API_KEY": kv_canary}}
    )
    schema = unique("floe_")
    project, profiles = dbt_project(tmp_path, schema, postgres_server)
    seen: dict[str, Any] = {}

    @asset
    def dbt_models(context: AssetExecutionContext, vault: VaultSecretsResource) -> None:
        creds = vault.database_credentials()
        seen["user"], seen["password"] = creds.username, creds.password.reveal()
        seen["exists_during_run"] = role_exists(postgres_server, creds.username)
        seen["vault_token"] = vault.vault().session.token().reveal()
        context.log.info(f"vault token {seen['vault_token']}")
        api_key = vault.get_secret("api-dev-key")["API_KEY"]
        context.log.info(f"user {creds.username} password {creds.password.reveal()}")
        context.log.info(f"api key {api_key.reveal()}")
        secret = {**vault.database_secret(), "POSTGRES_HOST": SecretValue(postgres_server.host)}
        result = run_dbt(project, profiles, profile_env("postgres", secret))
        seen["dbt_output"] = result.stdout + result.stderr
        assert result.returncode == 0, result.stdout[-2000:]

    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        result = materialize(
            [dbt_models],
            resources={
                "vault": VaultSecretsResource(
                    address=openbao_server.address,
                    auth_method="approle",
                    mount_path=auth_mount,
                    role_id_env="FLOE_TEST_ROLE_ID",
                    secret_id_env="FLOE_TEST_SECRET_ID",
                    secret_path_prefix=prefix,
                    namespace=NS,
                    database_role="dbt",
                    database_mount=mount,
                )
            },
            instance=instance,
        )
        assert result.success
        messages = [r.user_message for r in instance.all_logs(result.run_id)]
    assert seen["exists_during_run"] is True
    assert not role_exists(postgres_server, seen["user"])
    assert not can_connect(postgres_server, seen["user"], seen["password"])
    assert any(m == f"user {seen['user']} password ***" for m in messages)
    assert "api key ***" in messages
    assert "vault token ***" in messages
    with psycopg2.connect(postgres_server.dsn()) as conn, conn.cursor() as cur:
        cur.execute(f"select greeting from {schema}.greeting")  # noqa: S608 - our name
        assert cur.fetchall() == [("hello",)]
    conn.close()
    canaries = (seen["password"], kv_canary, seen["vault_token"], secret_id, role_id)
    assert all(value not in m for value in canaries for m in messages)
    for value in canaries:
        assert value not in seen["dbt_output"]
        assert _files_holding(home, value) == []
        assert _files_holding(project, value) == []
        assert _files_holding(profiles, value) == []


def test_failed_run_revokes_too(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(openbao_server, postgres_server)
    seen: dict[str, str] = {}

    @asset
    def fails(vault: VaultSecretsResource) -> None:
        seen["user"] = vault.database_credentials().username
        raise RuntimeError("the model broke")

    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [fails],
            resources={"vault": _resource(openbao_server, tmp_path, mount, "unused/")},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    assert seen["user"]
    assert not role_exists(postgres_server, seen["user"])


def test_renewal_keeps_the_user_alive_past_its_initial_ttl(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # 5 s leaves 1.7 s between a renewal (at 2/3) and expiry: room for a stalled CI machine.
    mount = database_engine(openbao_server, postgres_server, default_ttl="5s", max_ttl="1h")
    plugin = token_plugin(openbao_server, tmp_path)
    try:
        lease = plugin.run_lease("dbt", mount=mount)
        with lease as creds:
            assert creds.lease_duration == 5
            time.sleep(11)  # more than twice the initial TTL
            assert lease.renewals >= 2
            assert role_exists(postgres_server, creds.username)
            assert can_connect(postgres_server, creds.username, creds.password.reveal())
        assert not role_exists(postgres_server, creds.username)
    finally:
        plugin.close()


def _first_line(child: subprocess.Popen[str], prefix: str, seconds: float) -> str:
    """The first stdout line of ``child`` starting with ``prefix``, waiting at most ``seconds``
    (a child that hangs or dies before printing fails the test instead of blocking it)."""
    assert child.stdout is not None
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(deadline - time.monotonic(), 0.0)):
                break
            line = child.stdout.readline()
            if not line:
                break  # the child exited
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return ""


def _stop(child: subprocess.Popen[str]) -> None:
    """Kill and reap ``child`` whatever happened, so no test leaves a process running (a Popen
    collected while its process runs is a ResourceWarning, an error in the next test)."""
    if child.poll() is None:
        child.kill()
    child.wait()
    if child.stdout is not None:
        child.stdout.close()


EXIT_BOUND = REVOKE_DEADLINE + PASS_ON_GRACE
"""What ``_vault_leases`` guarantees from SIGTERM to the exit when no other handler is set."""


def test_sigterm_revokes_then_terminates(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(openbao_server, postgres_server)
    token_file = tmp_path / "token"
    token_file.write_text(openbao_server.root_token)
    script = textwrap.dedent(
        f"""
        import logging, time
        from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
        logging.basicConfig(level=logging.INFO)
        plugin = VaultSecretsPlugin(address={openbao_server.address!r}, auth_method="token",
                                    token_file={str(token_file)!r})
        with plugin.run_lease("dbt", mount={mount!r}) as creds:
            print("USER", creds.username, flush=True)
            time.sleep(120)
        """
    )
    stderr = tmp_path / "child.err"
    with stderr.open("w") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=Path.cwd(),
        )
    try:
        user = _first_line(child, "USER ", 60)
        assert user, stderr.read_text()
        assert role_exists(postgres_server, user)
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=EXIT_BOUND + 30)
        took = time.monotonic() - sent
    finally:
        _stop(child)
    log = stderr.read_text()
    assert code == -signal.SIGTERM, log
    assert took < EXIT_BOUND + 5, log  # the bound, plus a margin for a loaded machine
    assert f"is revoked (user '{user}' dropped)" in log
    assert not role_exists(postgres_server, user)


def test_sigterm_to_a_dagster_run_revokes_its_lease(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(openbao_server, postgres_server)
    token_file = tmp_path / "token"
    token_file.write_text(openbao_server.root_token)
    script = textwrap.dedent(
        f"""
        import time
        from dagster import DagsterInstance, asset, materialize
        from floe_dagster_secrets.resources.vault import VaultSecretsResource

        @asset
        def long_model(vault: VaultSecretsResource) -> None:
            print("USER", vault.database_credentials().username, flush=True)
            time.sleep(120)

        resource = VaultSecretsResource(
            address={openbao_server.address!r}, auth_method="token",
            token_file={str(token_file)!r}, database_role="dbt", database_mount={mount!r},
        )
        with DagsterInstance.ephemeral() as instance:
            materialize([long_model], resources={{"vault": resource}}, instance=instance)
        """
    )
    stderr = tmp_path / "child.err"
    with stderr.open("w") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=tmp_path,
        )
    try:
        user = _first_line(child, "USER ", 120)
        assert user, stderr.read_text()[-3000:]
        assert role_exists(postgres_server, user)
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=EXIT_BOUND + 30)
        took = time.monotonic() - sent
    finally:
        _stop(child)
    log = stderr.read_text()
    # Dagster maps SIGTERM to its own interrupt around the step: the run fails, and its
    # resources' teardown revokes (the lease's watcher started at the signal already)
    assert code != 0, log[-3000:]
    assert took < EXIT_BOUND + 5, log[-3000:]
    assert "teardown_after_execution" not in log, log[-3000:]  # interrupted only once
    assert not role_exists(postgres_server, user)


def test_a_short_lived_token_is_kept_alive_while_its_long_lease_is_held(
    openbao_server: OpenBaoServer,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Vault revokes a lease when the token that created it expires: the run keeps it renewed."""
    mount = database_engine(openbao_server, postgres_server, default_ttl="1h")
    plugin, _ = approle_plugin(
        openbao_server,
        monkeypatch,
        policies=[lease_policy(openbao_server, mount)],
        token_ttl="5s",
        token_max_ttl="1h",
    )
    try:
        with plugin.run_lease("dbt", mount=mount, handle_sigterm=False) as creds:
            time.sleep(11)  # the token's TTL passes twice; no request is made meanwhile
            assert role_exists(postgres_server, creds.username)
            assert can_connect(postgres_server, creds.username, creds.password.reveal())
        assert not role_exists(postgres_server, creds.username)
        assert plugin.session.stats.logins == 1
        assert plugin.session.stats.renewals >= 2
    finally:
        plugin.close()


def test_a_denied_request_keeps_the_token_that_owns_the_runs_lease(
    openbao_server: OpenBaoServer,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """User code reading a path its policy does not grant gets SecretAccessDeniedError, and the
    session keeps the token that created the run's database lease: a fresh login would leave
    that token unrenewed, and Vault would revoke the lease (and drop the user) with it."""
    mount = database_engine(openbao_server, postgres_server)
    prefix = f"{unique('owner')}/"
    plugin, _ = approle_plugin(
        openbao_server,
        monkeypatch,
        policies=[lease_policy(openbao_server, mount)],
        secret_path_prefix=prefix,
    )
    try:
        with plugin.run_lease("dbt", mount=mount, handle_sigterm=False) as creds:
            owner = plugin.session.cached_token()
            assert owner is not None
            with pytest.raises(SecretAccessDeniedError) as denied:
                plugin.get_secret("not-granted", NS)
            assert plugin.session.cached_token() == owner
            assert plugin.session.stats.logins == 1
            assert plugin.session.stats.reauths == 0
            # the lease is alive and still belongs to the token the session holds
            lease = openbao_server.request("PUT", "sys/leases/lookup", {"lease_id": creds.lease_id})
            assert lease["data"]["id"] == creds.lease_id
            assert lease["data"]["ttl"] > 0
            assert role_exists(postgres_server, creds.username)
            assert can_connect(postgres_server, creds.username, creds.password.reveal())
        assert not role_exists(postgres_server, creds.username)
    finally:
        plugin.close()
    error = denied.value
    assert error.backend == "vault"
    assert error.secret == "not-granted"
    assert error.path == f"secret/data/{prefix}{NS}/not-granted"
    assert "Fix: grant it in a policy" in str(error)
    assert owner.reveal() not in str(error)


def _creds_reads(bao: OpenBaoServer, mount: str, after: int) -> int:
    """Reads of ``<mount>/creds/dbt`` in the audit log since ``after``: one per user created."""
    return [r["path"] for r in audit_requests(bao, after=after)].count(f"{mount}/creds/dbt")


def test_a_sensor_tick_leases_nothing_a_run_still_does(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Dagster sets the resource up for each sensor tick too (the rotation sensor's ``secrets``
    resource): that must not create and drop a database user every tick; a run still gets one."""
    mount = database_engine(openbao_server, postgres_server)
    prefix = f"{unique('tick')}/"
    openbao_server.request(
        "POST", f"secret/data/{prefix}{NS}/warehouse", {"data": {"PASSWORD": "pw"}}
    )
    resource = _resource(openbao_server, tmp_path, mount, prefix)
    seen: dict[str, Any] = {}

    @asset(metadata=secrets_metadata(["warehouse"]))
    def orders(secrets: VaultSecretsResource) -> None:
        creds = secrets.database_credentials()
        seen["user"] = creds.username
        seen["exists_during_run"] = role_exists(postgres_server, creds.username)
        seen["leases_during_run"] = _lease_ids(openbao_server, mount)

    sensor = make_secret_rotation_sensor(target=[orders])
    users_before = _floe_users(postgres_server)
    mark = audit_mark(openbao_server)
    cursor = None
    for _ in range(2):
        with build_sensor_context(resources={"secrets": resource}, cursor=cursor) as context:
            tick = sensor.evaluate_tick(context)
        assert tick.skip_message is not None  # baseline, then "no rotation since …"
        cursor = tick.cursor
    assert _creds_reads(openbao_server, mount, mark) == 0
    assert _lease_ids(openbao_server, mount) == []
    assert _floe_users(postgres_server) == users_before

    with DagsterInstance.ephemeral() as instance:
        result = materialize([orders], resources={"secrets": resource}, instance=instance)
    assert result.success
    assert seen["exists_during_run"] is True
    assert len(seen["leases_during_run"]) == 1
    assert _creds_reads(openbao_server, mount, mark) == 1
    assert not role_exists(postgres_server, seen["user"])
    assert _lease_ids(openbao_server, mount) == []


def test_outside_a_run_the_lease_is_taken_at_the_first_call(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """``build_resources`` (no run): no lease at set-up; the first database_credentials() takes
    one, and the teardown revokes it."""
    mount = database_engine(openbao_server, postgres_server)
    mark = audit_mark(openbao_server)
    with build_resources({"vault": _resource(openbao_server, tmp_path, mount, "unused/")}) as res:
        assert _creds_reads(openbao_server, mount, mark) == 0
        creds = res.vault.database_credentials()
        assert res.vault.database_credentials() == creds  # one lease, not one per call
        assert role_exists(postgres_server, creds.username)
    assert _creds_reads(openbao_server, mount, mark) == 1
    assert not role_exists(postgres_server, creds.username)
    assert _lease_ids(openbao_server, mount) == []


def _lease_ids(bao: OpenBaoServer, mount: str) -> list[str]:
    try:
        listed = bao.request("LIST", f"sys/leases/lookup/{mount}/creds/dbt")
    except OpenBaoError as e:
        if e.status == 404:  # Vault lists an empty prefix as 404
            return []
        raise
    return list((listed.get("data") or {}).get("keys") or [])


def _floe_users(pg: PostgresServer) -> set[str]:
    with psycopg2.connect(pg.dsn()) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'")
        users = {row[0] for row in cur.fetchall()}
    conn.close()
    return users
