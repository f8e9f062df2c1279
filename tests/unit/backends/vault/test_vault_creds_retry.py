"""Which failures of a creds read are retried (pure classification, real exception objects).

A ``GET <mount>/creds/<role>`` creates a database user, so it may be repeated only when the first
attempt cannot have reached Vault; every other transient failure is reported, not retried.
"""

from __future__ import annotations

import hvac.exceptions as hx
import pytest
import requests
import urllib3.exceptions as ux

from floe_dagster_secrets.backends._retry import never_reached_server
from floe_dagster_secrets.backends.vault.dynamic import creds_outcome_unknown, creds_retryable
from floe_dagster_secrets.backends.vault.errors import is_transient

URL = "/v1/db/creds/dbt"


def _refused() -> BaseException:
    reason = ux.NewConnectionError(None, "Failed to establish a new connection: Connection refused")
    return requests.exceptions.ConnectionError(ux.MaxRetryError(None, URL, reason=reason))


def _connect_timeout() -> BaseException:
    reason = ux.ConnectTimeoutError(None, "Connection to 10.0.0.1 timed out")
    return requests.exceptions.ConnectTimeout(ux.MaxRetryError(None, URL, reason=reason))


def _read_timeout() -> BaseException:
    return requests.exceptions.ReadTimeout(ux.ReadTimeoutError(None, URL, "Read timed out."))


def _reset() -> BaseException:
    cause = ux.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
    return requests.exceptions.ConnectionError(cause)


def _status(kind: type[hx.VaultError], status: int) -> BaseException:
    error = kind("injected", errors=["injected"])
    error.__dict__["floe_status"] = status  # what session._send records from the answer
    return error


NOT_SENT = {
    "refused": _refused(),
    "connect-timeout": _connect_timeout(),
    "bare-connect-timeout": requests.exceptions.ConnectTimeout("timed out"),
    "refused-socket": ConnectionRefusedError(111, "Connection refused"),
}
MAY_HAVE_REACHED = {
    "read-timeout": _read_timeout(),
    "bare-read-timeout": requests.exceptions.ReadTimeout("read timed out"),
    "reset": _reset(),
    "500": _status(hx.InternalServerError, 500),
    "502": _status(hx.BadGateway, 502),
    "504": _status(hx.UnexpectedError, 504),
}


@pytest.mark.parametrize("error", NOT_SENT.values(), ids=NOT_SENT.keys())
def test_failures_before_a_connection_are_retried(error: BaseException) -> None:
    assert never_reached_server(error)
    assert creds_retryable(error)
    assert not creds_outcome_unknown(error)


@pytest.mark.parametrize("error", MAY_HAVE_REACHED.values(), ids=MAY_HAVE_REACHED.keys())
def test_failures_after_the_request_may_have_arrived_are_not(error: BaseException) -> None:
    assert is_transient(error)  # any other request retries these
    assert not never_reached_server(error)
    assert not creds_retryable(error)
    assert creds_outcome_unknown(error)  # the error says a user may exist


def test_throttled_is_retried_answers_are_neither() -> None:
    assert creds_retryable(_status(hx.RateLimitExceeded, 429))  # turned away unprocessed
    for error in (_status(hx.Forbidden, 403), _status(hx.InvalidPath, 404)):
        assert not creds_retryable(error)
        assert not creds_outcome_unknown(error)  # an answer: nothing was created
    sealed = _status(hx.VaultDown, 503)
    assert not creds_retryable(sealed)
    assert not creds_outcome_unknown(sealed)
