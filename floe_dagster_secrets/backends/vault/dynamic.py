"""Dynamic database credentials: read, renew and revoke leases through the plugin's session.

A mixin of :class:`~floe_dagster_secrets.backends.vault.VaultSecretsPlugin`, kept apart so the
KV side and the lease side each stay one screenful. Revocation and renewal use the URL forms
``sys/leases/revoke/<lease_id>`` and ``sys/leases/renew/<lease_id>``, so a policy can grant them
for one role's leases only (``sys/leases/revoke/database/creds/<role>/*``).

A revocation with a ``timeout`` (what a run's lease uses when the run ends or gets SIGTERM) is
bounded as a whole: it takes the token the session holds without waiting for the session's lock
(another thread may hold it across a login's retries), sends on its own HTTP connection (not the
session's pool), bounds each wait for an answer by the time left, and retries transient failures
only while time is left — including a revocation the database failed (see
``_revocation_retryable``).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from floe_dagster_secrets.backends._retry import (
    RetryPolicy,
    RetryStats,
    call_with_retry,
    never_reached_server,
)
from floe_dagster_secrets.backends.vault.errors import (
    RequestContext,
    is_client_error,
    is_transient,
    translate,
    vault_error,
    vault_messages,
    vault_status,
)
from floe_dagster_secrets.backends.vault.leases import (
    REVOKE_DEADLINE,
    DatabaseCredentials,
    RunScopedLease,
)
from floe_dagster_secrets.backends.vault.session import VaultSession, import_hvac
from floe_dagster_secrets.errors import BackendUnavailableError
from floe_dagster_secrets.types import SecretValue

_BOUNDED = RetryPolicy(attempts=6, max_seconds=3600.0, initial_wait=0.25, max_wait=2.0, jitter=0.25)
"""Retries of a bounded request; the deadline, not ``max_seconds``, ends them."""

_LAST_ATTEMPT = 0.2
"""No retry starts with less than this many seconds left before the deadline."""


def _revocation_retryable(error: BaseException) -> bool:
    """Whether to try a revocation again: a transient failure, or the database failing it.

    Vault keeps a lease whose revocation the database failed, so another attempt is safe.
    PostgreSQL answers concurrent changes to one catalog row — runs starting and ending
    together GRANT and REVOKE on the same database — with "tuple concurrently updated", which
    Vault passes on as a 400 "failed to revoke entry" (seen in the SIGTERM stress test).
    """
    if is_transient(error):
        return True
    return vault_status(error) == 400 and "failed to revoke entry" in vault_messages(error)


def creds_retryable(error: BaseException) -> bool:
    """Whether to read ``<mount>/creds/<role>`` again after ``error``.

    Each read creates a database user, so it is repeated only when the first cannot have
    reached Vault (no connection: refused, connect timeout) or Vault turned it away unprocessed
    (429, rate limited). After a read timeout, a reset or a 5xx Vault may have created the user
    and lost the answer: a second read would create another, and nothing would revoke the first.
    """
    return vault_status(error) == 429 or never_reached_server(error)


def creds_outcome_unknown(error: BaseException) -> bool:
    """Whether a failed creds read may have created a user: transient, but not retryable."""
    return is_transient(error) and not creds_retryable(error)


class _OutOfTime(Exception):
    """No time is left for another attempt (the last attempt's error is what is reported)."""


class DynamicCredentials:
    """Database secrets engine access for a class that has a :class:`VaultSession`."""

    session: VaultSession

    def database_credentials(self, role: str, *, mount: str = "database") -> DatabaseCredentials:
        """New database credentials from ``<mount>/creds/<role>``; the caller owns the lease.

        Prefer :meth:`run_lease`, which renews and revokes the lease with the run.

        The read is retried only when it cannot have reached Vault (:func:`creds_retryable`):
        each read creates a database user.

        Raises:
            BackendUnavailableError: Vault could not be reached; or the read failed in a way
                that may have come after Vault created the user (read timeout, reset, 5xx),
                and the message says how to find and revoke it.
        """
        mount = mount.strip("/")
        path = f"{mount}/creds/{quote(role, safe='')}"
        ctx = RequestContext("read credentials from", path)
        try:
            answer = self.session.request("GET", path, ctx, retryable=creds_retryable)
        except BackendUnavailableError as e:
            cause = e.__cause__
            if cause is None or not creds_outcome_unknown(cause):
                raise
            raise BackendUnavailableError(
                f"{e.problem}; not retried, because Vault may have created a database user "
                f"for role '{role}' before its answer was lost, and another read would create "
                "a second one. Such a user is dropped when its lease's TTL (the role's "
                "default_ttl) runs out",
                fix=f"retry the run; to drop a leftover user now, list the role's leases "
                f"(bao list sys/leases/lookup/{path}) and revoke the ones no run holds "
                f"(bao lease revoke {path}/<lease id>)",
                backend=e.backend,
                path=path,
            ) from e
        data = answer.get("data") or {}
        return DatabaseCredentials(
            username=str(data.get("username", "")),
            password=SecretValue(str(data.get("password", ""))),
            lease_id=str(answer.get("lease_id", "")),
            lease_duration=int(answer.get("lease_duration") or 0),
            renewable=bool(answer.get("renewable")),
        )

    def renew_lease(self, lease_id: str, increment: int) -> int:
        """Renew a lease by ``increment`` seconds; returns the TTL Vault granted."""
        path = f"sys/leases/renew/{lease_id}"
        ctx = RequestContext("renew lease", path, capability="update")
        answer = self.session.request("PUT", path, ctx, body={"increment": int(increment)})
        return int(answer.get("lease_duration") or 0)

    def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
        """Revoke a lease and wait for it (the database user is dropped when this returns).

        Args:
            lease_id: The lease.
            timeout: Seconds for the whole revocation, retries included (see the module
                docstring); ``None``: the session's ordinary request with its retry policy.
        """
        path = f"sys/leases/revoke/{lease_id}"
        ctx = RequestContext("revoke lease", path, capability="update")
        if timeout is None:
            self.session.request("PUT", path, ctx, body={"sync": True})
            return
        self._put_within(path, ctx, {"sync": True}, deadline=time.monotonic() + timeout)

    def _put_within(
        self, path: str, ctx: RequestContext, body: dict[str, Any], *, deadline: float
    ) -> None:
        """One PUT, retried while transient and while time is left; nothing outlives ``deadline``.

        hvac's adapter is used on a fresh ``requests`` session so that no lock or pooled
        connection is shared with the session's other threads.
        """
        token = self.session.cached_token() or self.session.token()
        adapter = import_hvac().adapters.JSONAdapter(
            base_uri=self.session.address, token=None, verify=self.session.ca_cert or True
        )
        last: list[BaseException] = []

        def attempt() -> None:
            left = deadline - time.monotonic()
            try:
                answer = adapter.request(
                    "PUT",
                    f"/v1/{path}",
                    raise_exception=False,
                    headers={"X-Vault-Token": token.reveal()},
                    json=body,
                    timeout=max(min(left, self.session.timeout), 0.05),
                )
                if not isinstance(answer, dict) and not answer.ok:
                    raise vault_error("PUT", path, answer)
            except Exception as e:
                last[:] = [e]
                raise

        def sleep(seconds: float) -> None:
            if time.monotonic() + seconds + _LAST_ATTEMPT >= deadline:
                raise _OutOfTime
            time.sleep(seconds)

        stats = RetryStats()
        try:
            call_with_retry(
                attempt, policy=_BOUNDED, retryable=_revocation_retryable, sleep=sleep, stats=stats
            )
        except Exception as e:
            error = last[0] if isinstance(e, _OutOfTime) and last else e
            if not is_client_error(error):
                raise
            raise translate(
                error, ctx, address=self.session.address, attempts=stats.attempts
            ) from error
        finally:
            adapter.close()

    def token_refresh_in(self) -> float | None:
        """Seconds until the session's token is due for renewal (None: it never expires)."""
        return self.session.refresh_due_in()

    def keep_token_alive(self) -> None:
        """Renew the session's token if it is due (a lease dies with the token that made it)."""
        self.session.token()

    def run_lease(
        self,
        role: str,
        *,
        mount: str = "database",
        handle_sigterm: bool = True,
        revoke_deadline: float = REVOKE_DEADLINE,
    ) -> RunScopedLease:
        """A :class:`RunScopedLease` for ``role``: enter it when the run starts."""
        return RunScopedLease(
            self,
            role,
            mount=mount,
            handle_sigterm=handle_sigterm,
            revoke_deadline=revoke_deadline,
        )
