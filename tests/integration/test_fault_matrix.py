"""The fault matrix, backends: real servers behind a fault-injecting proxy, and real outages.

Each case asserts the four things the matrix promises: a named, actionable error (what, where,
which backend, ``Fix:``), a bounded time (derived from the retry policy and the read timeout, not
a benchmark), nothing left behind, and no value in any message. Transient faults must be absorbed
by the bounded retries; persistent ones must end with our error after exactly the policy's number
of attempts (the proxy counts them, so a second retry layer underneath would show).

Cases covered elsewhere, referenced in ``docs/fault-matrix.md`` rather than repeated: Vault
sealed and stopped (``test_vault_faults.py``), the apiserver answering real 429s from its own
max-in-flight limiter (``test_k8s_backend.py``), AppRole tokens expiring and renewed across a run
(``test_vault_auth.py``), an unreachable backend during a sensor tick with the cursor intact
(``test_rotation_sensor.py``). The launcher's cases are in ``test_fault_matrix_launcher.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from floe_dagster_secrets.types import reveal_all
from tests.integration.fault_helpers import (
    FAST,
    READ_TIMEOUT,
    apiserver_proxy,
    canary,
    k8s_plugin,
    kubeconfig_via,
    openbao_proxy,
    time_bound,
    timed,
    vault_plugin,
)
from tests.integration.vault_helpers import database_engine, role_exists
from tests.servers import KubeApiServer, OpenBaoServer, PostgresServer
from tests.servers.fault_proxy import RESET, STALL, Fault, FaultProxy, answer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NS = "floe-jobs"


def assert_named(error: BaseException, *, backend: str, secret: str, value: str) -> None:
    """Our error, naming the secret and backend, ending with a fix, and holding no value."""
    assert isinstance(error, FloeSecretsError), repr(error)
    text = str(error)
    assert error.backend == backend
    assert error.secret == secret
    assert f"secret '{secret}'" in text
    assert "Fix: " in text
    assert value not in text
    assert value not in repr(error)


# --- Kubernetes apiserver behind the proxy ------------------------------------------------------


@pytest.fixture
def k8s_proxy(kube_apiserver: KubeApiServer) -> Iterator[FaultProxy]:
    proxy = apiserver_proxy(kube_apiserver)
    yield proxy
    proxy.stop()


@pytest.fixture
def via_proxy(kube_apiserver: KubeApiServer, k8s_proxy: FaultProxy, tmp_path: Path) -> Path:
    """The admin kubeconfig, pointed at the proxy."""
    return kubeconfig_via(kube_apiserver, k8s_proxy.url, tmp_path)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_k8s_transient_status_is_retried_to_success(
    status: int, k8s_proxy: FaultProxy, k8s_namespace: str, via_proxy: Path
) -> None:
    value = canary()
    with k8s_plugin(via_proxy) as plugin:
        plugin.create_secret("flaky-secret", k8s_namespace, {"TOKEN": value})
        k8s_proxy.fail_next(2, answer(status), path="/secrets/flaky-secret")
        assert reveal_all(plugin.get_secret("flaky-secret", k8s_namespace)) == {"TOKEN": value}
    reads = k8s_proxy.requests("/secrets/flaky-secret$")
    assert [str(seen.fault) for seen in reads] == [f"answer {status}"] * 2 + ["pass"]


def test_k8s_reset_connections_are_retried_once_each(
    k8s_proxy: FaultProxy, k8s_namespace: str, via_proxy: Path
) -> None:
    value = canary()
    with k8s_plugin(via_proxy) as plugin:
        plugin.create_secret("reset-secret", k8s_namespace, {"TOKEN": value})
        k8s_proxy.fail_next(2, RESET, path="/secrets/reset-secret")
        assert reveal_all(plugin.get_secret("reset-secret", k8s_namespace)) == {"TOKEN": value}
    # three requests, not 3 x 4: the client's own urllib3 retries are off, ours decide alone
    assert [str(s.fault) for s in k8s_proxy.requests("/secrets/reset-secret$")] == [
        "reset",
        "reset",
        "pass",
    ]


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (answer(503), "answered 503"),
        (answer(429), "answered 429"),
        (RESET, "Cannot reach the Kubernetes API"),
        (STALL, "no answer within the read timeout"),
    ],
    ids=["503", "429", "reset", "stall"],
)
def test_k8s_persistent_fault_is_a_named_error_in_bounded_time(
    fault: Fault, words: str, k8s_proxy: FaultProxy, k8s_namespace: str, via_proxy: Path
) -> None:
    value = canary()
    with k8s_plugin(via_proxy) as plugin:
        plugin.create_secret("down-secret", k8s_namespace, {"TOKEN": value})
        k8s_proxy.set_default(fault)
        error, seconds = timed(lambda: plugin.get_secret("down-secret", k8s_namespace))
        k8s_proxy.clear()
    assert isinstance(error, BackendUnavailableError)
    assert_named(error, backend="k8s", secret="down-secret", value=value)
    assert words in str(error)
    assert f"namespace '{k8s_namespace}'" in str(error)
    assert f"{FAST.attempts}" in str(error)
    assert len(k8s_proxy.requests("/secrets/down-secret$")) == FAST.attempts
    assert seconds < time_bound(FAST, per_attempt=READ_TIMEOUT + 0.5)


def test_k8s_write_failing_persistently_writes_nothing(
    k8s_proxy: FaultProxy, k8s_namespace: str, via_proxy: Path
) -> None:
    value = canary()
    with k8s_plugin(via_proxy) as plugin:
        k8s_proxy.set_default(answer(500))
        error, _ = timed(lambda: plugin.create_secret("half-secret", k8s_namespace, {"K": value}))
        k8s_proxy.clear()
        assert isinstance(error, BackendUnavailableError)
        assert_named(error, backend="k8s", secret="half-secret", value=value)
        with pytest.raises(SecretNotFoundError):
            plugin.describe_secret("half-secret", k8s_namespace)

        # a rotation whose write meets one transient failure is written exactly once
        plugin.create_secret("rotated-secret", k8s_namespace, {"K": value})
        before = plugin.describe_secret("rotated-secret", k8s_namespace).version
        k8s_proxy.fail_next(1, answer(502), path="/secrets/rotated-secret$", method="PUT")
        new_value = canary()
        plugin.update_secret("rotated-secret", k8s_namespace, {"K": new_value}, merge=True)
        after = plugin.describe_secret("rotated-secret", k8s_namespace)
        assert reveal_all(plugin.get_secret("rotated-secret", k8s_namespace)) == {"K": new_value}
    assert int(after.version) > int(before)
    puts = [s for s in k8s_proxy.requests("/secrets/rotated-secret$") if s.method == "PUT"]
    assert [str(s.fault) for s in puts] == ["answer 502", "pass"]


# --- OpenBao behind the proxy -------------------------------------------------------------------


@pytest.fixture
def bao_proxy(openbao_server: OpenBaoServer) -> Iterator[FaultProxy]:
    proxy = openbao_proxy(openbao_server)
    yield proxy
    proxy.stop()


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_vault_transient_status_is_retried_to_success(
    status: int, bao_proxy: FaultProxy, openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    value = canary()
    with vault_plugin(bao_proxy.url, openbao_server.root_token, tmp_path) as plugin:
        plugin.create_secret("flaky-secret", NS, {"TOKEN": value})
        data_path = f"/v1/{plugin.data_path('flaky-secret', NS)}$"
        bao_proxy.fail_next(2, answer(status), path=data_path)
        assert reveal_all(plugin.get_secret("flaky-secret", NS)) == {"TOKEN": value}
    reads = [s for s in bao_proxy.requests(data_path) if s.method == "GET"]
    assert [str(s.fault) for s in reads] == [f"answer {status}"] * 2 + ["pass"]


def test_vault_reset_connections_are_retried(
    bao_proxy: FaultProxy, openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    value = canary()
    with vault_plugin(bao_proxy.url, openbao_server.root_token, tmp_path) as plugin:
        plugin.create_secret("reset-secret", NS, {"TOKEN": value})
        data_path = f"/v1/{plugin.data_path('reset-secret', NS)}$"
        bao_proxy.fail_next(2, RESET, path=data_path)
        assert reveal_all(plugin.get_secret("reset-secret", NS)) == {"TOKEN": value}
    reads = [s for s in bao_proxy.requests(data_path) if s.method == "GET"]
    assert [str(s.fault) for s in reads] == ["reset", "reset", "pass"]


@pytest.mark.parametrize(
    ("fault", "words", "attempts"),
    [
        (answer(502), "answered 502", FAST.attempts),
        (answer(504), "answered 504", FAST.attempts),
        (answer(503), "answered 503", 1),  # sealed or standby: not retried
        (RESET, "Cannot reach Vault", FAST.attempts),
        (STALL, "no answer within the read timeout", FAST.attempts),
    ],
    ids=["502", "504", "503", "reset", "stall"],
)
def test_vault_persistent_fault_is_a_named_error_in_bounded_time(
    fault: Fault,
    words: str,
    attempts: int,
    bao_proxy: FaultProxy,
    openbao_server: OpenBaoServer,
    tmp_path: Path,
) -> None:
    value = canary()
    with vault_plugin(bao_proxy.url, openbao_server.root_token, tmp_path) as plugin:
        plugin.create_secret("down-secret", NS, {"TOKEN": value})
        data_path = f"/v1/{plugin.data_path('down-secret', NS)}$"
        bao_proxy.fail_next(100, fault, path=data_path)
        error, seconds = timed(lambda: plugin.get_secret("down-secret", NS))
        bao_proxy.clear()
    assert isinstance(error, BackendUnavailableError)
    assert_named(error, backend="vault", secret="down-secret", value=value)
    assert words in str(error)
    assert error.path == plugin.data_path("down-secret", NS)
    assert len([s for s in bao_proxy.requests(data_path) if s.method == "GET"]) == attempts
    assert seconds < time_bound(FAST, per_attempt=READ_TIMEOUT + 0.5)


def test_vault_token_expiring_mid_run_is_a_named_error(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    """A token-auth run whose token expires: floe cannot log in again by itself, so it says so.

    (AppRole and Kubernetes auth log in again transparently: ``test_vault_auth.py``.)
    """
    token = openbao_server.request(
        "POST", "auth/token/create", {"ttl": "6s", "explicit_max_ttl": "6s", "renewable": False}
    )["auth"]["client_token"]
    expires = time.monotonic() + 6
    value = canary()
    with vault_plugin(openbao_server.address, token, tmp_path) as plugin:
        plugin.create_secret("expiring-secret", NS, {"TOKEN": value})
        assert reveal_all(plugin.get_secret("expiring-secret", NS)) == {"TOKEN": value}
        time.sleep(max(expires + 0.5 - time.monotonic(), 0))  # its whole lifetime has passed
        error, seconds = timed(lambda: plugin.get_secret("expiring-secret", NS))
    assert isinstance(error, SecretAccessDeniedError)
    text = str(error)
    assert "Vault refused to look up the Vault token" in text
    assert "backend 'vault'" in text
    assert "put a valid, unexpired token in the file" in error.fix
    assert token not in text
    assert value not in text
    assert seconds < time_bound(FAST, per_attempt=READ_TIMEOUT)


def _lease_ids(bao: OpenBaoServer, mount: str) -> list[str]:
    from tests.servers.openbao import OpenBaoError

    try:
        answer_ = bao.request("LIST", f"sys/leases/lookup/{mount}/creds/dbt")
    except OpenBaoError as e:
        if e.status == 404:  # Vault lists an empty prefix as 404
            return []
        raise
    return list((answer_.get("data") or {}).get("keys") or [])


def test_dynamic_lease_revoked_mid_run_is_a_named_error_and_leaves_nothing(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    mount = database_engine(openbao_server, postgres_server, default_ttl="3s", max_ttl="1h")
    with vault_plugin(openbao_server.address, openbao_server.root_token, tmp_path) as plugin:
        lease = plugin.run_lease("dbt", mount=mount, handle_sigterm=False)
        creds = lease.acquire()
        try:
            assert role_exists(postgres_server, creds.username)
            openbao_server.request("PUT", "sys/leases/revoke", {"lease_id": creds.lease_id})
            deadline = time.monotonic() + 10  # the renewal (at 2/3 of 3 s) notices
            while lease.lost is None and time.monotonic() < deadline:
                time.sleep(0.1)
            renewals = lease.renewals
            with pytest.raises(SecretNotFoundError) as caught:
                _ = lease.credentials
            time.sleep(2.5)
            assert lease.renewals == renewals  # it stopped renewing a lease that is gone
        finally:
            lease.release()  # does not raise: there is nothing left to revoke
    text = str(caught.value)
    assert "database lease of role 'dbt' was revoked while the run was using it" in text
    assert creds.username in text
    assert "backend 'vault'" in text
    assert "Fix: " in text
    assert creds.password.reveal() not in text
    assert not role_exists(postgres_server, creds.username)
    assert _lease_ids(openbao_server, mount) == []


# --- the proxy itself ---------------------------------------------------------------------------


def test_proxy_passes_watches_and_counts_each_request(
    k8s_proxy: FaultProxy, k8s_namespace: str, via_proxy: Path
) -> None:
    """Pass-through is faithful (a streamed WATCH works) and one connection = one request."""
    from floe_dagster_secrets.kube.watch import MetadataCache

    with k8s_plugin(via_proxy) as plugin:
        cache = MetadataCache(plugin._client)
        try:
            assert cache.lookup(k8s_namespace, ["watched-secret"]) is None  # starts the watch
            plugin.create_secret("watched-secret", k8s_namespace, {"K": canary()})
            deadline = time.monotonic() + 10
            found = None
            while found is None and time.monotonic() < deadline:
                seen = cache.lookup(k8s_namespace, ["watched-secret"])
                found = (seen or {}).get("watched-secret")
                time.sleep(0.1)
        finally:
            cache.close()
    assert found is not None
    assert found.keys == ("K",)
    assert any("watch=true" in s.path for s in k8s_proxy.requests())


def test_other_calls_on_the_plugin_client_time_out_too(
    k8s_proxy: FaultProxy, k8s_namespace: str, via_proxy: Path
) -> None:
    """``rotate --restart-deployments`` lists workloads through the plugin's client: bounded."""
    from floe_dagster_secrets.kube import rollout

    with k8s_plugin(via_proxy) as plugin:
        k8s_proxy.set_default(STALL)
        error, seconds = timed(lambda: rollout.find_workloads(plugin._client(), k8s_namespace))
        k8s_proxy.clear()
    assert isinstance(error, FloeSecretsError), repr(error)
    assert f"namespace {k8s_namespace}" in str(error)
    assert "Fix: " in str(error)
    assert seconds < READ_TIMEOUT * 2 + 2


def test_cli_against_a_failing_apiserver_exits_1_with_our_error(
    k8s_proxy: FaultProxy, k8s_namespace: str, via_proxy: Path, tmp_path: Path
) -> None:
    """``floe secrets list`` with the default policy: a named error on stderr, exit 1, ~2 s."""
    from click.testing import CliRunner

    from floe_dagster_secrets.cli.app import cli

    k8s_proxy.set_default(answer(503))
    args = ["secrets", "list", "--backend", "k8s", "--kubeconfig", str(via_proxy)]
    result, seconds = timed(
        lambda: CliRunner().invoke(cli, [*args, "-n", k8s_namespace], catch_exceptions=False)
    )
    k8s_proxy.clear()
    assert not isinstance(result, BaseException), result
    assert result.exit_code == 1
    stderr = " ".join(result.stderr.split())
    assert "The Kubernetes API answered 503 (ServiceUnavailable) to list secrets, 4 time(s)" in (
        stderr
    )
    assert f"namespace '{k8s_namespace}'" in stderr
    assert "Fix: " in stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(k8s_proxy.requests("/secrets")) == 4
    assert seconds < 10
