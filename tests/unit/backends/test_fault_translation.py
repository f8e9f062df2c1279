"""Pure logic behind the fault matrix: naming network failures, real HTTP statuses from Vault,
timeouts capped on dagster-k8s's requests, the errors of a secret gone before pod start, a lease
revoked under a run, and which keys ``envFrom`` may skip. The same behaviour against real
servers is in ``tests/integration/test_fault_matrix*.py``."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import urllib3.exceptions

from floe_dagster_secrets.backends._retry import describe_network_failure, root_cause
from floe_dagster_secrets.backends.vault.errors import is_transient, vault_error, vault_status
from floe_dagster_secrets.backends.vault.leases import DatabaseCredentials, RunScopedLease
from floe_dagster_secrets.env_names import non_portable_keys
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    InvalidSecretReferenceError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from floe_dagster_secrets.launcher.job_faults import (
    bound_requests,
    capped_timeout,
    gone_secrets_errors,
    job_creation_error,
)
from floe_dagster_secrets.types import SecretMetadata, SecretValue


def _pool_error(reason: BaseException) -> urllib3.exceptions.MaxRetryError:
    return urllib3.exceptions.MaxRetryError(None, "/api", reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            _pool_error(
                urllib3.exceptions.NewConnectionError(None, "[Errno 111] Connection refused")
            ),
            "connection refused",
        ),
        (
            _pool_error(urllib3.exceptions.ReadTimeoutError(None, "/api", "Read timed out.")),
            "read timeout",
        ),
        (_pool_error(urllib3.exceptions.ConnectTimeoutError("timed out")), "connect timeout"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection reset"),
        (requests.exceptions.ConnectionError(_pool_error(ConnectionRefusedError())), "refused"),
        (requests.exceptions.ReadTimeout("read timed out"), "read timeout"),
        (TimeoutError(), "read timeout"),
    ],
)
def test_network_failures_are_named(error: BaseException, words: str) -> None:
    assert words in describe_network_failure(error)


def test_root_cause_unwraps_and_stops_on_cycles() -> None:
    inner = ConnectionResetError()
    assert root_cause(requests.exceptions.ConnectionError(_pool_error(inner))) is inner
    looping = ValueError()
    looping.args = (looping,)
    assert root_cause(looping) is looping


class _Response:
    def __init__(self, status: int, body: str, content_type: str = "application/json") -> None:
        self.status_code = status
        self.text = body
        self.headers = {"Content-Type": content_type}

    def json(self) -> Any:
        import json

        return json.loads(self.text)


@pytest.mark.parametrize(
    ("status", "transient"),
    [(429, True), (500, True), (502, True), (503, False), (504, True), (400, False), (418, False)],
)
def test_vault_errors_keep_their_real_status(status: int, transient: bool) -> None:
    error = vault_error("GET", "secret/data/x", _Response(status, '{"errors": ["busy"]}'))
    assert vault_status(error) == status
    assert is_transient(error) is transient


def test_vault_error_from_a_plain_text_gateway_answer() -> None:
    error = vault_error("GET", "x", _Response(504, "upstream timed out", "text/plain"))
    assert vault_status(error) == 504
    assert "upstream timed out" in str(error)


def test_timeouts_are_capped_whatever_the_caller_asked() -> None:
    cap = (1.0, 2.0)
    assert capped_timeout(None, cap) == cap
    assert capped_timeout(10, cap) == cap
    assert capped_timeout(0.5, cap) == (0.5, 0.5)
    assert capped_timeout((0.2, 30.0), cap) == (0.2, 2.0)


def test_bound_requests_wraps_once() -> None:
    seen: list[Any] = []

    class Client:
        def request(self, *args: Any, **kwargs: Any) -> None:
            seen.append(kwargs.get("_request_timeout"))

    client = Client()
    bound_requests(client, (1.0, 2.0))
    bound_requests(client, (9.0, 9.0))  # idempotent: the first cap stays
    client.request("GET", "/x")
    client.request("GET", "/x", _request_timeout=10.0)
    assert seen == [(1.0, 2.0), (1.0, 2.0)]


def test_job_creation_errors_name_the_job_and_the_check() -> None:
    from kubernetes.client.exceptions import ApiException

    refused = job_creation_error(
        _pool_error(ConnectionRefusedError()), job_name="dagster-run-1", namespace="jobs"
    )
    assert isinstance(refused, BackendUnavailableError)
    assert "Could not create the run's Job dagster-run-1 in namespace 'jobs'" in str(refused)
    assert "kubectl get job dagster-run-1 -n jobs" in refused.fix
    forbidden = job_creation_error(ApiException(status=403), job_name="j", namespace="jobs")
    assert isinstance(forbidden, SecretAccessDeniedError)
    assert "'create' on jobs.batch" in forbidden.fix


def _meta(name: str, keys: tuple[str, ...]) -> SecretMetadata:
    return SecretMetadata(name=name, namespace="ns", backend="k8s", keys=keys, version="1")


def test_gone_secrets_are_named_missing_or_lacking_a_key() -> None:
    errors = gone_secrets_errors(
        ["gone", "short", "fine"],
        {"short": ("A", "B")},
        {"short": _meta("short", ("A",)), "fine": _meta("fine", ("X",))},
        namespace="ns",
        job_name="dagster-run-1",
    )
    assert [e.secret for e in errors] == ["gone", "short"]
    assert "no longer exists" in str(errors[0])
    assert "no longer holds key(s) B" in str(errors[1])
    assert "Job dagster-run-1 was deleted" in str(errors[0])
    assert "floe secrets create gone --namespace ns" in errors[0].fix


def test_non_portable_keys_account_for_the_prefix() -> None:
    keys = ["GOOD", "_ok", "1KEY", "db.password", "api-key"]
    assert non_portable_keys(keys) == ["1KEY", "api-key", "db.password"]
    assert non_portable_keys(keys, prefix="DBT_ENV_SECRET_") == ["api-key", "db.password"]


class _RevokedUnderUs:
    """The plugin calls a lease makes; Vault forgot the lease after the first renewal."""

    def __init__(self) -> None:
        self.renewals = 0
        self.revokes = 0

    def database_credentials(self, role: str, *, mount: str = "database") -> DatabaseCredentials:
        return DatabaseCredentials(
            "v-user", SecretValue("pw-lease-unit", register=False), "l/1", 1, True
        )

    def renew_lease(self, lease_id: str, increment: int) -> int:
        self.renewals += 1
        if self.renewals > 1:
            raise InvalidSecretReferenceError("lease not found", fix="-", backend="vault")
        return 1

    def revoke_lease(self, lease_id: str) -> None:
        self.revokes += 1

    def token_refresh_in(self) -> float | None:
        return None

    def keep_token_alive(self) -> None:
        pass


def test_a_lease_revoked_under_the_run_stops_renewing_and_says_so() -> None:
    backend = _RevokedUnderUs()
    lease = RunScopedLease(backend, "dbt", mount="db", handle_sigterm=False)
    lease.acquire()
    deadline = time.monotonic() + 10
    while lease.lost is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.2)
    assert backend.renewals == 2  # the failed renewal was the last
    with pytest.raises(SecretNotFoundError, match="was revoked while the run was using it"):
        _ = lease.credentials
    lease.release()
    assert backend.revokes == 0  # nothing left to revoke
