"""RunScopedLease's own logic — revoke once, on exit and on SIGTERM, renew in the background,
never hang — against an in-memory stand-in for the plugin methods it calls (no Vault semantics
faked: what Vault does with the calls is covered by the integration tests and the SIGTERM stress
test against real OpenBao and PostgreSQL)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

import pytest

from floe_dagster_secrets.backends.vault import leases as _vault_leases
from floe_dagster_secrets.backends.vault.leases import DatabaseCredentials, RunScopedLease
from floe_dagster_secrets.errors import BackendUnavailableError
from floe_dagster_secrets.types import SecretValue


class Calls:
    def __init__(self, ttl: int = 60, renewable: bool = True, fail_renew: int = 0) -> None:
        self.ttl = ttl
        self.renewable = renewable
        self.fail_renew = fail_renew
        self.log: list[str] = []

    def database_credentials(self, role: str, *, mount: str = "database") -> DatabaseCredentials:
        self.log.append(f"creds {mount}/{role}")
        return DatabaseCredentials(
            "v-user",
            SecretValue("pw-unit", register=False),
            "db/creds/r/1",
            self.ttl,
            self.renewable,
        )

    def renew_lease(self, lease_id: str, increment: int) -> int:
        if self.fail_renew:
            self.fail_renew -= 1
            raise BackendUnavailableError("down", fix="wait", backend="vault")
        self.log.append(f"renew {lease_id} {increment}")
        return self.ttl

    def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
        self.log.append(f"revoke {lease_id}")

    def token_refresh_in(self) -> float | None:
        return None

    def keep_token_alive(self) -> None:
        self.log.append("keep token")


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition``; the sleeps let the main thread run the passed-on signal's handler."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def previous_handler() -> Iterator[list[float]]:
    """A Python SIGTERM handler before the lease's (what Dagster's run worker has): it records
    when it was called instead of ending the test process."""
    calls: list[float] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        calls.append(time.monotonic())

    original = signal.signal(signal.SIGTERM, previous)
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, original)


def test_revoked_once_on_exit_and_on_exception() -> None:
    calls = Calls(renewable=False)

    def run() -> None:
        with RunScopedLease(calls, "r", mount="db") as creds:
            assert creds.username == "v-user"
            raise RuntimeError("run failed")

    with pytest.raises(RuntimeError, match="run failed"):
        run()
    assert calls.log == ["creds db/r", "revoke db/creds/r/1"]


def test_revoke_is_idempotent() -> None:
    calls = Calls(renewable=False)
    lease = RunScopedLease(calls, "r")
    lease.acquire()
    lease.revoke()
    lease.release()
    assert calls.log.count("revoke db/creds/r/1") == 1


def test_renews_in_the_background_and_survives_a_failed_renewal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_vault_leases, "MIN_RENEW_INTERVAL", 0.01)
    calls = Calls(ttl=0, fail_renew=1)
    calls.ttl = 1  # renew every ~0.67 s; after a failure every ~0.17 s
    with RunScopedLease(calls, "r", handle_sigterm=False) as creds:
        assert creds.lease_duration == 1
        time.sleep(1.8)
    renewals = [entry for entry in calls.log if entry.startswith("renew")]
    assert len(renewals) >= 1
    assert calls.log[-1] == "revoke db/creds/r/1"


def test_sigterm_revokes_then_calls_the_previous_handler(previous_handler: list[float]) -> None:
    calls = Calls(renewable=False)
    lease = RunScopedLease(calls, "r")
    lease.acquire()
    assert signal.getsignal(signal.SIGTERM) == lease._on_sigterm
    os.kill(os.getpid(), signal.SIGTERM)
    # the handler itself only woke the watcher: it did not revoke or pass the signal on
    assert wait_for(lambda: bool(previous_handler), 5)
    assert calls.log == ["creds database/r", "revoke db/creds/r/1"]
    assert lease.sigterm_at is not None
    assert previous_handler[0] - lease.sigterm_at < 5
    lease.release()  # already revoked: nothing more, and the previous handler is back
    assert calls.log.count("revoke db/creds/r/1") == 1
    assert signal.getsignal(signal.SIGTERM) is not None
    assert signal.getsignal(signal.SIGTERM) != lease._on_sigterm
    assert previous_handler == previous_handler[:1]


def test_sigterm_twice_is_passed_on_once(previous_handler: list[float]) -> None:
    lease = RunScopedLease(Calls(renewable=False), "r")
    lease.acquire()
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)
    assert wait_for(lambda: bool(previous_handler), 5)
    time.sleep(0.3)  # the watcher's own wake-up signal arrives and is absorbed
    lease.release()
    assert len(previous_handler) == 1


def test_sigterm_inside_release_while_the_revoke_holds_the_lock(
    previous_handler: list[float],
) -> None:
    """The old handler revoked itself and deadlocked on the lock release() was holding."""

    class SignalDuringRevoke(Calls):
        def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
            os.kill(os.getpid(), signal.SIGTERM)  # the main thread is inside release() now
            time.sleep(0.2)
            super().revoke_lease(lease_id, timeout=timeout)

    calls = SignalDuringRevoke(renewable=False)
    lease = RunScopedLease(calls, "r", revoke_deadline=3)
    lease.acquire()
    started = time.monotonic()
    lease.release()  # returns only after the SIGTERM it saw was passed on
    assert time.monotonic() - started < 3
    assert len(previous_handler) == 1
    assert calls.log.count("revoke db/creds/r/1") == 1


def test_sigterm_mid_acquire_revokes_the_lease_that_comes_back(
    previous_handler: list[float],
) -> None:
    class SignalDuringCreds(Calls):
        def database_credentials(
            self, role: str, *, mount: str = "database"
        ) -> DatabaseCredentials:
            os.kill(os.getpid(), signal.SIGTERM)  # Vault is creating the user
            time.sleep(0.3)
            return super().database_credentials(role, mount=mount)

    calls = SignalDuringCreds(renewable=False)
    lease = RunScopedLease(calls, "r")
    lease.acquire()
    assert wait_for(lambda: bool(previous_handler), 5)
    assert calls.log == ["creds database/r", "revoke db/creds/r/1"]
    lease.release()
    assert len(previous_handler) == 1


def test_sigterm_mid_acquire_without_an_answer_is_logged_and_passed_on_in_time(
    previous_handler: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    answer = threading.Event()

    class NoAnswer(Calls):
        def database_credentials(
            self, role: str, *, mount: str = "database"
        ) -> DatabaseCredentials:
            os.kill(os.getpid(), signal.SIGTERM)
            while not answer.is_set():  # Vault hangs; the signal's handler still runs here
                time.sleep(0.01)
            raise BackendUnavailableError("no answer", fix="wait", backend="vault")

    lease = RunScopedLease(NoAnswer(), "dbt", mount="db", revoke_deadline=0.5)
    with caplog.at_level(logging.ERROR):
        thread = threading.Timer(1.5, answer.set)
        thread.start()
        try:
            with pytest.raises(BackendUnavailableError):
                lease.acquire()
        finally:
            answer.set()
            thread.join()
    assert len(previous_handler) == 1
    assert lease.sigterm_at is not None
    assert previous_handler[0] - lease.sigterm_at < 2.5
    assert "reading database credentials from db/creds/dbt" in caplog.text


def test_a_revoke_that_never_answers_ends_at_the_deadline_naming_the_user() -> None:
    hang = threading.Event()

    class Hangs(Calls):
        def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
            hang.wait(30)

    lease = RunScopedLease(Hangs(ttl=90, renewable=False), "r", revoke_deadline=0.5)
    lease.acquire()
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailableError, match=r"drops user 'v-user' .* TTL \(90 s"):
            lease.release()
        assert time.monotonic() - started < 2
    finally:
        hang.set()


def test_sigterm_while_revoke_hangs_is_passed_on_within_the_deadline(
    previous_handler: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    hang = threading.Event()

    class Hangs(Calls):
        def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
            hang.wait(30)

    lease = RunScopedLease(Hangs(ttl=90, renewable=False), "dbt", revoke_deadline=0.5)
    lease.acquire()
    try:
        with caplog.at_level(logging.ERROR):
            os.kill(os.getpid(), signal.SIGTERM)
            assert wait_for(lambda: bool(previous_handler), 5)
        assert lease.sigterm_at is not None
        assert previous_handler[0] - lease.sigterm_at < 2.5
        assert "Revoking the Vault lease of role 'dbt' on SIGTERM failed" in caplog.text
        assert "user 'v-user'" in caplog.text
    finally:
        hang.set()
        # the run unwinding on the passed-on signal does not start another full deadline
        with pytest.raises(BackendUnavailableError, match=r"0\.5 s after SIGTERM ran out"):
            lease.release()


def test_an_interrupt_unwinding_the_block_is_not_replaced_by_a_failed_revoke(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Down(Calls):
        def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
            raise BackendUnavailableError("Cannot reach Vault", fix="start it", backend="vault")

    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(KeyboardInterrupt),
        RunScopedLease(Down(renewable=False), "r", handle_sigterm=False),
    ):
        raise KeyboardInterrupt  # what Dagster's SIGTERM handler raises
    assert "drops user 'v-user'" in caplog.text


def test_the_revocation_waits_for_a_renewal_under_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both at once fail in PostgreSQL ("tuple concurrently updated"); found by the stress test."""
    monkeypatch.setattr(_vault_leases, "MIN_RENEW_INTERVAL", 0.01)
    out = threading.Event()

    class SlowRenewal(Calls):
        def renew_lease(self, lease_id: str, increment: int) -> int:
            self.log.append("renew start")
            out.set()
            time.sleep(0.3)
            self.log.append("renew end")
            return self.ttl

    calls = SlowRenewal(ttl=1)
    lease = RunScopedLease(calls, "r", handle_sigterm=False)
    lease.acquire()
    assert out.wait(5)
    lease.release()
    assert calls.log[-3:] == ["renew start", "renew end", "revoke db/creds/r/1"]


def test_a_failed_revoke_names_the_user_and_the_ttl_bound() -> None:
    class Down(Calls):
        def revoke_lease(self, lease_id: str, *, timeout: float | None = None) -> None:
            raise BackendUnavailableError("Cannot reach Vault", fix="start it", backend="vault")

    lease = RunScopedLease(Down(ttl=90, renewable=False), "r", handle_sigterm=False)
    lease.acquire()
    with pytest.raises(BackendUnavailableError, match=r"drops user 'v-user' .* TTL \(90 s"):
        lease.release()


def test_an_ignored_sigterm_stays_ignored() -> None:
    original = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with RunScopedLease(Calls(renewable=False), "r"):
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, original)


def test_the_wakeup_fd_is_borrowed_only_when_free_and_given_back() -> None:
    # Start from a free wakeup fd whatever ran before in this process (an event loop, a test
    # runner run in the background may have set one), and give that one back at the end.
    found = signal.set_wakeup_fd(-1)
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        with RunScopedLease(Calls(renewable=False), "r"):
            ours = signal.set_wakeup_fd(-1)
            assert ours != -1
            signal.set_wakeup_fd(ours)
        assert signal.set_wakeup_fd(-1) == -1

        signal.set_wakeup_fd(write)
        with RunScopedLease(Calls(renewable=False), "r"):
            assert signal.set_wakeup_fd(write) == write
        assert signal.set_wakeup_fd(-1) == write
    finally:
        signal.set_wakeup_fd(found)
        os.close(read)
        os.close(write)


def test_a_forked_child_does_not_share_the_watch(previous_handler: list[float]) -> None:
    """A child's SIGTERM must not wake the parent's watcher (it would end the parent's lease)."""
    calls = Calls(renewable=False)
    before = signal.getsignal(signal.SIGTERM)
    with RunScopedLease(calls, "r") as _:
        pid = os.fork()
        if pid == 0:  # the child: only checks its own signal state, then leaves at once
            ok = signal.set_wakeup_fd(-1) == -1 and signal.getsignal(signal.SIGTERM) == before
            os.kill(os.getpid(), signal.SIGTERM)  # the previous handler: records, returns
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        time.sleep(0.3)  # a wrongly woken watcher would have revoked by now
        assert os.waitstatus_to_exitcode(status) == 0
        assert calls.log == ["creds database/r"]
        assert previous_handler == []
    assert calls.log == ["creds database/r", "revoke db/creds/r/1"]


def test_no_thread_is_left_after_release() -> None:
    before = set(threading.enumerate())
    for _ in range(5):
        with RunScopedLease(Calls(ttl=3600), "r"):
            pass
    time.sleep(0.1)
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not [name for name in left if name.startswith("floe-vault")]


def test_the_token_is_kept_alive_between_lease_renewals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_vault_leases, "MIN_RENEW_INTERVAL", 0.01)

    class ShortToken(Calls):
        def token_refresh_in(self) -> float | None:
            return 0.2

    calls = ShortToken(ttl=3600)
    with RunScopedLease(calls, "r", handle_sigterm=False):
        time.sleep(0.9)
    assert calls.log.count("keep token") >= 3
    assert not [entry for entry in calls.log if entry.startswith("renew")]


def test_a_revocation_the_database_failed_is_tried_again_within_the_deadline() -> None:
    import hvac.exceptions as hx

    from floe_dagster_secrets.backends.vault.dynamic import _revocation_retryable

    concurrent = hx.InvalidRequest(
        errors=[
            "failed to revoke entry: resp: (*logical.Response)(nil) err: ERROR: tuple "
            "concurrently updated (SQLSTATE XX000)"
        ]
    )
    assert _revocation_retryable(concurrent)
    assert not _revocation_retryable(hx.InvalidRequest(errors=["invalid lease ID"]))
    assert not _revocation_retryable(hx.Forbidden(errors=["permission denied"]))
    assert _revocation_retryable(hx.InternalServerError(errors=["internal error"]))
