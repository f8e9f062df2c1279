"""Dynamic database credentials whose lease lives exactly as long as the run that uses them.

A :class:`RunScopedLease` is entered when a run starts: it reads ``<mount>/creds/<role>`` (Vault
creates a database user and hands back a lease), renews the lease from a background thread at
about two thirds of its TTL while the run lives (``sys/leases/renew``; the database plugin then
also extends the user's ``VALID UNTIL``), and revokes it when the run ends — on success, on an
exception, and on SIGTERM. Revocation is synchronous, so when ``__exit__`` returns the database
user is gone — or the error says which user is left and until when.

**Every revocation is bounded** by ``revoke_deadline`` (:data:`REVOKE_DEADLINE`, 10 s): the
request runs in a worker thread that the caller stops waiting for at the deadline; it uses the
token the session already holds and its own HTTP connection, so it never waits behind another
thread's lock or retry backoff; each wait for an answer is bounded by the time left.

**SIGTERM** (Kubernetes sends it, then SIGKILL after the grace period, 30 s by default). A
Python signal handler runs in the main thread between two bytecodes, wherever that thread is —
inside ``release()`` holding a lock, inside a request. So the handler takes no lock, makes no
request and raises nothing: it notes the signal and writes a byte to a pipe. A watcher thread,
started with the lease and blocked on that pipe, (1) stops the renewal, waits for an
``acquire()`` in flight (so a user created mid-acquire is revoked too) and revokes, all within
``revoke_deadline`` of the signal, logging a failure at ERROR with the role, the user and its
TTL; (2) passes the signal on: ``pthread_kill(SIGTERM)`` to the main thread, every 50 ms until
the handler has run (one landing just before the main thread blocks interrupts nothing), and the
handler then calls the handler installed before the lease, or restores the default action and
re-raises, so the process dies *by SIGTERM*; (3) with no previous handler, if the process still
lives :data:`PASS_ON_GRACE` seconds later (the main thread stuck in C), ``os._exit(143)``.

The pipe is also the interpreter's wakeup fd (``signal.set_wakeup_fd``, unless asyncio or
another owner has it), so the watcher starts at the signal even while the main thread is in a
long C call (a ``psycopg2`` query), and even when another handler replaced ours — as Dagster's
executor does around each step (``dagster._utils.interrupts``): then Dagster's handler gets the
signal and unwinds the run, and the resource's teardown (``release()``) waits for the watcher's
revocation within the same deadline counted from the signal; the watcher does not send the
signal again, and a lease never restores its previous handler over a later one.

Why a watcher rather than turning SIGTERM into an exception that unwinds the ``with`` block:
such an exception can land between a lock's acquire and its ``try`` in library code, so the
unwinding exit could block on what the interrupted code held; a thread woken through a pipe
shares nothing with it. The bounds (docs/vault-leases.md has the table and the stress test):

- **with no other SIGTERM handler, the process exits within ``revoke_deadline +
  PASS_ON_GRACE`` = 12 s of SIGTERM**, whatever the main thread was doing and however slowly
  Vault answers — well inside Kubernetes' default 30 s;
- otherwise the revocation ends, or its failure is logged, within ``revoke_deadline`` of the
  signal; a handler installed before the lease's is called by then, one installed after it
  (Dagster) at once, and ``release()`` waits no longer. When the process exits is then up to
  that handler's owner.

A process that ignores SIGTERM keeps ignoring it (no handler is installed). A child made with
``os.fork()`` gets SIGTERM's old handling back and loses the pipe, so its signals never reach the
parent's watcher.

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

import contextlib
import contextvars
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Protocol

from floe_dagster_secrets.backends.vault.session import RENEW_AT
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    InvalidSecretReferenceError,
    SecretNotFoundError,
)
from floe_dagster_secrets.types import SecretValue

log = logging.getLogger(__name__)

MIN_RENEW_INTERVAL = 0.5
"""Never renew more often than this (seconds), even for very short TTLs."""

REVOKE_DEADLINE = 10.0
"""Seconds a revocation may take in all (from SIGTERM, or from the start of ``release()``)."""

PASS_ON_GRACE = 2.0
"""Seconds the main thread gets to act on the passed-on SIGTERM before ``os._exit``."""

_WAKE_INTERVAL = 0.05
"""Seconds between the watcher's wake-up signals to the main thread."""

_Handler = Callable[[int, FrameType | None], Any] | int | None

_WATCHING: weakref.WeakSet[RunScopedLease] = weakref.WeakSet()
"""Leases whose SIGTERM watch is on: a forked child must not share their pipe (see below)."""


def _forget_watches_in_child() -> None:
    """After ``os.fork()``, in the child: SIGTERM's handling from before the lease comes back.

    The child has no watcher thread, but it inherited the handler, the wakeup fd and the pipe,
    so its SIGTERM would wake the *parent's* watcher, which would revoke the parent's lease and
    terminate the parent.
    """
    for lease in list(_WATCHING):
        lease._forget_in_child()
    _WATCHING.clear()


os.register_at_fork(after_in_child=_forget_watches_in_child)


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

    def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
        """Revoke synchronously, within ``timeout`` seconds in all."""
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
        handle_sigterm: Revoke on SIGTERM before passing it on (main thread only; see the
            module docstring for how, and the time bound).
        revoke_deadline: Seconds any revocation may take in all, retries included.
    """

    def __init__(
        self,
        backend: LeaseBackend,
        role: str,
        *,
        mount: str = "database",
        handle_sigterm: bool = True,
        revoke_deadline: float = REVOKE_DEADLINE,
    ) -> None:
        self.backend = backend
        self.role = role
        self.mount = mount
        self.handle_sigterm = handle_sigterm
        self.revoke_deadline = revoke_deadline
        self._credentials: DatabaseCredentials | None = None
        self.lost: FloeSecretsError | None = None
        """Set when Vault says the lease is gone (revoked by someone else): renewal stopped."""
        self.renewals = 0
        self.ttl = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._revoked = False
        self._revoke_lock = threading.Lock()  # one revocation at a time; never in the handler
        self._context = contextvars.copy_context()
        self._acquired = threading.Event()  # acquire() returned or raised
        self._renewal_idle = threading.Event()  # cleared while a renewal request is out
        self._renewal_idle.set()
        # SIGTERM: state the handler reads and writes is plain attributes (no lock, no Event).
        self._installed = False
        self._previous_handler: _Handler = None
        self._owns_wakeup_fd = False
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._watcher: threading.Thread | None = None
        self._watching = False
        self._main_ident = 0
        self.sigterm_at: float | None = None
        """``time.monotonic()`` when SIGTERM was first seen, if it was."""
        self._forward = False  # the watcher is done: the next handler call passes the signal on
        self._forwarded = False

    def __enter__(self) -> DatabaseCredentials:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, Exception):
            self.release()  # a failed revocation raises (chained to the run's own error)
            return
        try:  # KeyboardInterrupt (SIGTERM passed on to Dagster), SystemExit: let it through
            self.release()
        except FloeSecretsError as e:
            log.error("%s", e)

    def acquire(self) -> DatabaseCredentials:
        """Install the SIGTERM handler, read the credentials, start renewing.

        The handler goes in first, so a SIGTERM while Vault is creating the user is not the
        default "die now" that would leave the new user behind until its TTL: the watcher waits
        for the answer and revokes the lease it carries.
        """
        self._context = contextvars.copy_context()  # the audit trail's actor, for other threads
        self._install_handler()
        try:
            creds = self.backend.database_credentials(self.role, mount=self.mount)
        except BaseException:
            self._acquired.set()
            self._end_sigterm_watch()
            raise
        self._credentials = creds
        self.ttl = creds.lease_duration
        self._acquired.set()
        if creds.renewable and creds.lease_duration > 0:
            self._thread = threading.Thread(
                target=self._renew_loop, name=f"floe-vault-lease-{self.role}", daemon=True
            )
            self._thread.start()
        return creds

    def release(self) -> None:
        """Stop renewing, revoke (once, within ``revoke_deadline``), restore SIGTERM's handler.

        Raises:
            FloeSecretsError: The revocation failed or ran out of time; the message names the
                user left behind and the TTL after which Vault drops it.
        """
        self._stop.set()
        # After SIGTERM, the revocation's time counts from the signal, not from here: a run
        # that unwinds on the passed-on signal must not start another full deadline.
        after_signal = None if self.sigterm_at is None else self.sigterm_at + self.revoke_deadline
        try:
            self.revoke(deadline=after_signal)
        finally:
            self._end_sigterm_watch()
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(timeout=1.0)  # a renewal in flight ends on its own (daemon)

    def revoke(self, *, deadline: float | None = None) -> None:
        """Revoke the lease now (idempotent): Vault drops the database user.

        Args:
            deadline: ``time.monotonic()`` by which to give up; default ``revoke_deadline``
                seconds from now.

        Raises:
            FloeSecretsError: Vault refused, could not be reached, or did not answer in time.
        """
        if deadline is None:
            deadline = time.monotonic() + self.revoke_deadline
        if not self._revoke_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            creds = self._credentials
            assert creds is not None  # noqa: S101 - only a started revocation holds the lock
            raise self._not_revoked(creds, "another revocation of it did not finish in time")
        try:
            creds = self._credentials
            if self._revoked or creds is None:
                return
            if self.lost is not None:  # Vault already dropped it: nothing left to revoke
                self._revoked = True
                return
            if deadline <= time.monotonic():
                raise self._not_revoked(
                    creds, f"its {self.revoke_deadline} s after SIGTERM ran out"
                )
            # A renewal still out would race the revocation in the database (PostgreSQL:
            # "tuple concurrently updated" between its ALTER ROLE and the DROP): none starts
            # after this, and one under way gets up to half the time left to finish.
            self._stop.set()
            self._renewal_idle.wait(max((deadline - time.monotonic()) / 2, 0.0))
            self._revoke_within(creds, deadline)
            self._revoked = True
        finally:
            self._revoke_lock.release()

    def _revoke_within(self, creds: DatabaseCredentials, deadline: float) -> None:
        """``revoke_lease`` in a worker thread that is waited for until ``deadline`` only."""
        outcome: list[BaseException | None] = []
        done = threading.Event()
        context = self._context.copy()

        def work() -> None:
            try:
                left = max(deadline - time.monotonic(), 0.0)
                context.run(self.backend.revoke_lease, creds.lease_id, timeout=left)
                outcome.append(None)
            except BaseException as e:
                outcome.append(e)
            finally:
                done.set()

        threading.Thread(target=work, name=f"floe-vault-revoke-{self.role}", daemon=True).start()
        if not done.wait(max(deadline - time.monotonic(), 0.0)):
            raise self._not_revoked(creds, f"Vault did not answer within {self.revoke_deadline} s")
        error = outcome[0]
        if isinstance(error, FloeSecretsError):
            raise self._not_revoked(creds, error.problem, cause=error) from error
        if error is not None:
            raise error

    def _not_revoked(
        self, creds: DatabaseCredentials, problem: str, *, cause: FloeSecretsError | None = None
    ) -> FloeSecretsError:
        kind = type(cause) if cause is not None else BackendUnavailableError
        return kind(
            f"Could not revoke the run's database lease of role '{self.role}' "
            f"({problem}); Vault drops user '{creds.username}' when the "
            f"lease's TTL ({self.ttl} s since its last renewal) runs out",
            fix=cause.fix
            if cause is not None
            else "check that Vault answers (its address, its load, the network path to it); "
            f"if the user must go before its TTL: bao lease revoke {creds.lease_id}",
            backend=cause.backend if cause is not None else "vault",
            path=cause.path if cause is not None else f"sys/leases/revoke/{creds.lease_id}",
        )

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
                    self._renewal_idle.clear()  # before the check: see revoke()
                    try:
                        if self._stop.is_set():
                            return
                        self.ttl = self.backend.renew_lease(lease_id, increment)
                    finally:
                        self._renewal_idle.set()
                    self.renewals += 1
                    next_lease = now + max(self.ttl * RENEW_AT, MIN_RENEW_INTERVAL)
                else:
                    self.backend.keep_token_alive()
                backoff = 0.0
            except (InvalidSecretReferenceError, SecretNotFoundError) as e:
                # Vault no longer knows the lease: it was revoked (by an operator, or with its
                # token); renewing again cannot bring the database user back.
                if self._stop.is_set():  # we revoked it ourselves while this renewal was out
                    return
                self.lost = self._lost_error(creds, e)
                log.error("%s", self.lost)
                return
            except FloeSecretsError as e:
                if self._stop.is_set():
                    return
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

    # --- SIGTERM (see the module docstring) -----------------------------------------------------

    def _install_handler(self) -> None:
        if self._installed or not self.handle_sigterm:
            return
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        previous = signal.getsignal(signal.SIGTERM)
        if previous == signal.SIG_IGN:
            return  # the process ignores SIGTERM: a lease must not change that
        self._previous_handler = previous
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._main_ident = threading.get_ident()
        self._watching = True
        self._watcher = threading.Thread(
            target=self._watch,
            args=(self._wake_r,),
            name=f"floe-vault-lease-sigterm-{self.role}",
            daemon=True,
        )
        self._watcher.start()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._installed = True
        _WATCHING.add(self)
        other = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        if other == -1:
            self._owns_wakeup_fd = True
        else:  # asyncio (or another lease) owns it: leave it theirs; the handler wakes us
            signal.set_wakeup_fd(other)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """The Python-level handler: runs in the main thread wherever that thread was.

        It takes no lock, makes no request and raises nothing of its own; a revocation under
        way is the watcher's. It only notes the signal and wakes the watcher — or, once the
        watcher is done (or no longer watching), passes the signal on exactly once.
        """
        if self._forwarded:
            return  # passed on already; a later wake-up from the watcher is absorbed here
        if self._forward or not self._watching:
            self._forwarded = True
            self._pass_on(signum, frame)
            return
        if self.sigterm_at is None:
            self.sigterm_at = time.monotonic()
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):  # full or closed: the wakeup fd woke it already
                os.write(wake, bytes([signum]))

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        """What SIGTERM would have done without the lease (main thread only)."""
        previous = self._previous_handler
        if callable(previous):
            previous(signum, frame)
            return
        # No Python handler before ours: the default action, so the process ends *by* SIGTERM.
        self._uninstall()
        signal.raise_signal(signum)

    def _watch(self, fd: int) -> None:
        """The watcher thread: blocked on the pipe until SIGTERM, or until the lease ends."""
        while True:
            try:
                data = os.read(fd, 512)
            except OSError:
                return
            if int(signal.SIGTERM) in data:
                break
            if not data or not self._watching:
                return  # the lease ended without SIGTERM (other bytes: other signals)
        self._terminate()

    def _terminate(self) -> None:
        """Revoke within ``revoke_deadline`` of the signal, then pass the signal on."""
        if self.sigterm_at is None:
            self.sigterm_at = time.monotonic()
        deadline = self.sigterm_at + self.revoke_deadline
        self._stop.set()
        if not self._acquired.wait(max(deadline - time.monotonic(), 0.0)):
            log.error(
                "SIGTERM arrived while the run was reading database credentials from %s/creds/%s "
                "and Vault had not answered %.0f s later: if Vault created the user, it drops "
                "it when the role's default_ttl runs out",
                self.mount,
                self.role,
                self.revoke_deadline,
            )
        else:
            creds = self._credentials
            try:
                self.revoke(deadline=deadline)
            except FloeSecretsError as e:
                log.error(
                    "Revoking the Vault lease of role '%s' on SIGTERM failed: %s", self.role, e
                )
            except Exception:
                log.exception("Revoking the Vault lease of role '%s' on SIGTERM failed", self.role)
            else:
                if creds is not None:
                    log.info(
                        "SIGTERM: the Vault lease of role '%s' is revoked (user '%s' dropped), "
                        "%.2f s after the signal",
                        self.role,
                        creds.username,
                        time.monotonic() - self.sigterm_at,
                    )
        self._forward = True
        if not self._handler_is_ours():
            # Someone installed another handler after ours (Dagster does, around each step):
            # that handler got this SIGTERM itself; another one would interrupt twice.
            return
        # Again and again until the handler has run: a signal that lands just before the main
        # thread enters a blocking call (joining this thread, say) interrupts nothing, and
        # CPython runs its handler only when that call returns. The extra ones are absorbed.
        give_up = time.monotonic() + PASS_ON_GRACE
        while not self._forwarded and time.monotonic() < give_up:
            with contextlib.suppress(OSError):  # ESRCH: the main thread is gone already
                signal.pthread_kill(self._main_ident, signal.SIGTERM)
            time.sleep(_WAKE_INTERVAL)
        if callable(self._previous_handler):
            return  # that handler decides what SIGTERM does; it has been called (or is stuck)
        time.sleep(max(give_up - time.monotonic(), 0.0))
        log.error(
            "The main thread did not act on SIGTERM within %.0f s (stuck outside Python?); "
            "ending the process with exit code %d",
            PASS_ON_GRACE,
            128 + signal.SIGTERM,
        )
        os._exit(128 + signal.SIGTERM)

    def _end_sigterm_watch(self) -> None:
        """Stop watching; a SIGTERM the watcher saw is passed on before this returns."""
        if not self._installed:
            return
        on_main = threading.current_thread() is threading.main_thread()
        self._watching = False
        if on_main:
            self._reset_wakeup_fd()
            wake, self._wake_w = self._wake_w, None
            if wake is not None:
                os.close(wake)  # EOF for the watcher, after any byte already written
        elif self._wake_w is not None:  # the fds stay open: the handler stays installed
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")
        watcher = self._watcher
        try:
            if watcher is not None and watcher is not threading.current_thread():
                watcher.join(timeout=self.revoke_deadline + PASS_ON_GRACE + 1.0)
        finally:
            if on_main:
                if watcher is not None and not watcher.is_alive() and self._wake_r is not None:
                    os.close(self._wake_r)
                    self._wake_r = None
                self._uninstall()

    def _reset_wakeup_fd(self) -> None:
        if not self._owns_wakeup_fd:
            return
        self._owns_wakeup_fd = False
        current = signal.set_wakeup_fd(-1)
        if current not in (-1, self._wake_w):  # someone replaced ours since: theirs stays
            signal.set_wakeup_fd(current)

    def _handler_is_ours(self) -> bool:
        return bool(signal.getsignal(signal.SIGTERM) == self._on_sigterm)

    def _uninstall(self) -> None:
        """Give SIGTERM back to the handler that was there before (main thread only).

        Only if ours is still the one installed: a handler installed after ours stays.
        """
        if not self._installed:
            return
        self._installed = False
        _WATCHING.discard(self)
        self._reset_wakeup_fd()
        if not self._handler_is_ours():
            return
        previous = self._previous_handler
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    def _forget_in_child(self) -> None:
        """In a forked child: SIGTERM's handling as before the lease, and none of its fds."""
        self._watching = False
        with contextlib.suppress(ValueError, OSError):
            self._uninstall()
        self._installed = False
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = None
