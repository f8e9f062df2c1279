"""Dynamic database credentials whose lease lives exactly as long as the run that uses them.

A :class:`RunScopedLease` is entered when a run starts: it reads ``<mount>/creds/<role>`` (Vault
creates a database user and hands back a lease), renews the lease from a background thread at
about two thirds of its TTL while the run lives (``sys/leases/renew``; the database plugin then
also extends the user's ``VALID UNTIL``), and revokes it when the run ends — on success, on an
exception, and on SIGTERM (the handler revokes, then passes the signal on to the handler that was
there before, or re-raises it with the default action). Revocation is synchronous, so when
``__exit__`` returns the database user is gone.

The bound when the run worker dies without running any of that (SIGKILL, OOM kill, node loss):
the lease is no longer renewed, so Vault revokes it — and drops the user — when its current TTL
runs out, at most ``lease_duration`` seconds after the last renewal (the role's
``default_ttl``). A short ``default_ttl`` with renewal keeps that window small for long runs.
The lease also belongs to the Vault token that created it, and Vault revokes a token's leases
when the token expires. The same thread therefore renews the token whenever it is due, even while
the run makes no other request; but no renewal goes past the token's max TTL (the auth role's
``token_max_ttl``), which must therefore outlast the longest run.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Protocol

from floe_dagster_secrets.backends._vault_auth import RENEW_AT
from floe_dagster_secrets.errors import (
    FloeSecretsError,
    InvalidSecretReferenceError,
    SecretNotFoundError,
)
from floe_dagster_secrets.types import SecretValue

log = logging.getLogger(__name__)

MIN_RENEW_INTERVAL = 0.5
"""Never renew more often than this (seconds), even for very short TTLs."""


@dataclass(frozen=True)
class DatabaseCredentials:
    """A database user Vault created for this run.

    Attributes:
        username: The generated user name (not secret: it shows in ``pg_roles``).
        password: Its password, as a masked ``SecretValue``.
        lease_id: Vault's handle for renewing or revoking the user.
        lease_duration: Seconds the lease had when issued.
        renewable: Whether Vault allows renewing it.
    """

    username: str
    password: SecretValue
    lease_id: str
    lease_duration: int
    renewable: bool

    def __repr__(self) -> str:
        return (
            f"DatabaseCredentials(username={self.username!r}, password=***, "
            f"lease_duration={self.lease_duration})"
        )


class LeaseBackend(Protocol):
    """What a lease needs from the Vault plugin (the plugin implements it)."""

    def database_credentials(self, role: str, *, mount: str = "database") -> DatabaseCredentials:
        """Read ``<mount>/creds/<role>``."""
        ...

    def renew_lease(self, lease_id: str, increment: int) -> int:
        """Renew; return the new TTL in seconds."""
        ...

    def revoke_lease(self, lease_id: str) -> None:
        """Revoke synchronously."""
        ...

    def token_refresh_in(self) -> float | None:
        """Seconds until the Vault token is due for renewal; None if it never expires."""
        ...

    def keep_token_alive(self) -> None:
        """Renew the Vault token if it is due (the lease dies with it)."""
        ...


class RunScopedLease:
    """Context manager: dynamic credentials acquired, renewed and revoked with one run.

    Example:
        .. code-block:: python

            with RunScopedLease(plugin, "dbt-runner") as creds:
                run_dbt(user=creds.username, password=creds.password.reveal())
            # the database user is gone here, whatever happened in the block

    Args:
        backend: The Vault plugin.
        role: Database secrets engine role.
        mount: Mount path of the database secrets engine.
        handle_sigterm: Install a SIGTERM handler that revokes first (main thread only).
    """

    def __init__(
        self,
        backend: LeaseBackend,
        role: str,
        *,
        mount: str = "database",
        handle_sigterm: bool = True,
    ) -> None:
        self.backend = backend
        self.role = role
        self.mount = mount
        self.handle_sigterm = handle_sigterm
        self._credentials: DatabaseCredentials | None = None
        self.lost: FloeSecretsError | None = None
        """Set when Vault says the lease is gone (revoked by someone else): renewal stopped."""
        self.renewals = 0
        self.ttl = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._revoked = False
        self._revoke_lock = threading.Lock()
        self._previous_handler: Callable[[int, FrameType | None], Any] | int | None = None
        self._installed = False

    def __enter__(self) -> DatabaseCredentials:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> DatabaseCredentials:
        """Read the credentials, start renewing, install the SIGTERM handler."""
        creds = self.backend.database_credentials(self.role, mount=self.mount)
        self._credentials = creds
        self.ttl = creds.lease_duration
        self._install_handler()
        if creds.renewable and creds.lease_duration > 0:
            self._thread = threading.Thread(
                target=self._renew_loop, name=f"floe-vault-lease-{self.role}", daemon=True
            )
            self._thread.start()
        return creds

    def release(self) -> None:
        """Stop renewing, revoke (once), restore the previous SIGTERM handler."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        try:
            self.revoke()
        finally:
            self._restore_handler()

    def revoke(self) -> None:
        """Revoke the lease now (idempotent): Vault drops the database user."""
        with self._revoke_lock:
            creds = self._credentials
            if self._revoked or creds is None:
                return
            if self.lost is not None:  # Vault already dropped it: nothing left to revoke
                self._revoked = True
                return
            try:
                self.backend.revoke_lease(creds.lease_id)
            except FloeSecretsError as e:
                raise type(e)(
                    f"Could not revoke the run's database lease of role '{self.role}' "
                    f"({e.problem}); Vault drops user '{creds.username}' when the "
                    f"lease's TTL ({self.ttl} s since its last renewal) runs out",
                    fix=e.fix,
                    backend=e.backend,
                    path=e.path,
                ) from e
            self._revoked = True

    # --- renewal --------------------------------------------------------------------------------

    def _renew_loop(self) -> None:
        """Renew the lease at 2/3 of its TTL, and keep the token that owns it alive meanwhile.

        Vault revokes every lease of a token when that token expires, so a token TTL shorter
        than the lease's would end the run's database user early; the token is therefore
        renewed whenever it is due, even when the run makes no other Vault request.
        """
        creds = self._credentials
        assert creds is not None  # noqa: S101 - started after acquire
        lease_id = creds.lease_id
        increment = creds.lease_duration
        next_lease = time.monotonic() + max(self.ttl * RENEW_AT, MIN_RENEW_INTERVAL)
        backoff = 0.0
        while True:
            now = time.monotonic()
            wake = next_lease
            token_due = self.backend.token_refresh_in()
            if token_due is not None:
                wake = min(wake, now + token_due)
            if self._stop.wait(max(wake - now, MIN_RENEW_INTERVAL, backoff)):
                return
            now = time.monotonic()
            try:
                if now >= next_lease:
                    self.ttl = self.backend.renew_lease(lease_id, increment)
                    self.renewals += 1
                    next_lease = now + max(self.ttl * RENEW_AT, MIN_RENEW_INTERVAL)
                else:
                    self.backend.keep_token_alive()
                backoff = 0.0
            except (InvalidSecretReferenceError, SecretNotFoundError) as e:
                # Vault no longer knows the lease: it was revoked (by an operator, or with its
                # token); renewing again cannot bring the database user back.
                self.lost = self._lost_error(creds, e)
                log.error("%s", self.lost)
                return
            except FloeSecretsError as e:
                # Retry sooner than the next regular point: a third of the TTL is still left.
                log.warning("Renewing the Vault lease of role '%s' failed: %s", self.role, e)
                backoff = min(max(backoff * 2, MIN_RENEW_INTERVAL), max(self.ttl / 6, 1.0))
                if now >= next_lease:
                    next_lease = now + backoff

    @property
    def credentials(self) -> DatabaseCredentials | None:
        """The run's credentials (``None`` before :meth:`acquire`).

        Raises:
            SecretNotFoundError: The lease was revoked under the run (see :attr:`lost`): the
                database user is gone, so the credentials are useless; the error says so
                instead of the database's "password authentication failed".
        """
        if self.lost is not None:
            raise SecretNotFoundError(
                self.lost.problem, fix=self.lost.fix, backend=self.lost.backend, path=self.lost.path
            ) from self.lost
        return self._credentials

    def _lost_error(
        self, creds: DatabaseCredentials, error: FloeSecretsError
    ) -> SecretNotFoundError:
        return SecretNotFoundError(
            f"The run's database lease of role '{self.role}' was revoked while the run was using "
            f"it (Vault: {error.problem}); user '{creds.username}' no longer exists, so this "
            "run's database credentials are gone",
            fix="find out who revoked it (Vault's audit log: sys/leases/revoke) and re-run; "
            "floe revokes a run's lease only when the run ends",
            backend=error.backend,
            path=f"{self.mount}/creds/{self.role}",
        )

    # --- SIGTERM -------------------------------------------------------------------------------

    def _install_handler(self) -> None:
        if not self.handle_sigterm or threading.current_thread() is not threading.main_thread():
            return
        self._previous_handler = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._installed = True

    def _restore_handler(self) -> None:
        if self._installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_handler or signal.SIG_DFL)
            self._installed = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()
        try:
            self.revoke()
        except FloeSecretsError as e:  # still pass the signal on
            log.error("Revoking the Vault lease of role '%s' on SIGTERM failed: %s", self.role, e)
        previous = self._previous_handler
        self._restore_handler()
        if callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            os.kill(os.getpid(), signum)
