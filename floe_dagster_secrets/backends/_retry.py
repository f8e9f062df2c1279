"""Bounded retries for transient backend failures, and nothing else.

Only an allow-list is retried: throttling (429), server-side failures (500, 502, 503, 504) and
the network failing under us (connection refused or reset, timeouts). Everything else is an
answer and is returned at once — a 404 means the secret is absent, a 403 that RBAC says no, a 409
that someone else wrote first, a 422 that the input is invalid; retrying those only delays the
error the user needs to see.

Waits grow exponentially with jitter (so many clients recovering together do not retry in step),
and both the number of attempts and the total time are bounded, so a dead cluster fails fast.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity
import urllib3.exceptions

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth another attempt."""

_TRANSIENT_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,
    socket.timeout,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ProtocolError,  # connection dropped mid-response
    urllib3.exceptions.TimeoutError,  # connect and read timeouts
)


def http_status(error: BaseException) -> int | None:
    """The HTTP status a client exception carries (``ApiException.status``), if any."""
    status = getattr(error, "status", None)
    return status if isinstance(status, int) and status > 0 else None


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is on the allow-list of failures that a later attempt may not repeat."""
    status = http_status(error)
    if status is not None:
        return status in TRANSIENT_STATUSES
    if isinstance(error, urllib3.exceptions.MaxRetryError):
        # urllib3 gave up after its own quick retries; the reason says what kind of failure it was.
        return error.reason is not None and is_transient(error.reason)
    if isinstance(error, urllib3.exceptions.SSLError):
        return False  # a certificate problem does not fix itself
    return isinstance(error, _TRANSIENT_NETWORK_ERRORS)


def never_reached_server(error: BaseException) -> bool:
    """Whether ``error`` happened before the request could reach the server.

    No connection was made (refused, name not resolved, connect timeout), so nothing was sent
    and another attempt cannot make the server act twice. A request that creates something on
    each call (Vault's ``GET <mount>/creds/<role>`` creates a database user) is retried on these
    only: after a read timeout, a reset or a 5xx the server may have acted already.
    """
    cause = root_cause(error)
    if isinstance(cause, ConnectionRefusedError | urllib3.exceptions.ConnectTimeoutError):
        return True  # urllib3's NewConnectionError (refused, DNS) subclasses ConnectTimeoutError
    return type(cause).__name__ == "ConnectTimeout"  # requests' ConnectTimeout without a cause


def may_have_acted(error: BaseException) -> bool:
    """Whether a transient ``error`` may have come after the server carried the request out.

    A read timeout, a reset or dropped connection, or a 5xx can follow a write the server
    applied (the answer was lost, or a proxy gave up waiting); throttling (429) and a connection
    that was never made (:func:`never_reached_server`) cannot. A write that failed this way is
    not known to have failed: check the server before calling it failed or repeating it.
    """
    return is_transient(error) and not (http_status(error) == 429 or never_reached_server(error))


def root_cause(error: BaseException) -> BaseException:
    """The network failure under the client's wrappers (``MaxRetryError``, requests' errors)."""
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
            error = error.reason
            continue
        inner = error.args[0] if error.args else None
        if isinstance(inner, BaseException):  # requests.ConnectionError(MaxRetryError(...))
            error = inner
            continue
        break
    return error


def describe_network_failure(error: BaseException) -> str:
    """A few words for how the network failed, for an error message (no URL, no value).

    "no answer within the read timeout" is the one users most need to tell apart from "the
    connection was refused": the first is a server that hangs, the second one that is down.
    """
    cause = root_cause(error)
    text = str(cause)
    # before the timeouts: urllib3's NewConnectionError subclasses ConnectTimeoutError
    if isinstance(cause, ConnectionRefusedError) or "Connection refused" in text:
        return "connection refused (nothing listens there)"
    if isinstance(
        cause, urllib3.exceptions.ReadTimeoutError | TimeoutError | socket.timeout
    ) or type(cause).__name__ in ("ReadTimeout", "ReadTimeoutError"):
        return "no answer within the read timeout"
    if isinstance(cause, urllib3.exceptions.ConnectTimeoutError) or type(cause).__name__ in (
        "ConnectTimeout",
        "ConnectTimeoutError",
    ):
        return "no connection within the connect timeout"
    if isinstance(cause, ConnectionResetError) or "reset by peer" in text:
        return "connection reset by the server or a proxy"
    if "RemoteDisconnected" in text or "without response" in text:
        return "the server closed the connection without answering"
    return type(cause).__name__


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before a transient failure becomes a ``BackendUnavailableError``.

    Attributes:
        attempts: Calls in total, the first included.
        max_seconds: No new attempt starts after this much time since the first.
        initial_wait: First wait in seconds; it doubles each time up to ``max_wait``.
        max_wait: Longest single wait.
        jitter: Up to this many seconds of random wait added to each.
    """

    attempts: int = 4
    max_seconds: float = 30.0
    initial_wait: float = 0.25
    max_wait: float = 4.0
    jitter: float = 0.5


DEFAULT_POLICY = RetryPolicy()


class RetryStats:
    """How many attempts the last :func:`call_with_retry` made, for error messages."""

    def __init__(self) -> None:
        self.attempts = 0


def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    retryable: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
    stats: RetryStats | None = None,
) -> T:
    """Run ``call``; retry it while it fails with a ``retryable`` error, within ``policy``.

    The last error is re-raised unchanged, so the caller translates it exactly as it would a
    first failure. ``sleep`` is injectable so tests need not wait.
    """
    retrying = tenacity.Retrying(
        stop=(
            tenacity.stop_after_attempt(policy.attempts)
            | tenacity.stop_after_delay(policy.max_seconds)
        ),
        # wait_exponential + wait_random rather than wait_exponential_jitter: its parameters
        # changed in tenacity 9.2, and this spelling works from 8.2 on.
        wait=(
            tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
            + tenacity.wait_random(0, policy.jitter)
        ),
        retry=tenacity.retry_if_exception(retryable),
        sleep=sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if stats is not None:
                stats.attempts = attempt.retry_state.attempt_number
            return call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
