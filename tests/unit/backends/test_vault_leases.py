"""RunScopedLease's own logic — revoke once, on exit and on SIGTERM, renew in the background —
against an in-memory stand-in for the three plugin methods it calls (no Vault semantics faked:
what Vault does with the calls is covered by the integration tests)."""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

import pytest

from floe_dagster_secrets.backends import _vault_leases
from floe_dagster_secrets.backends._vault_leases import DatabaseCredentials, RunScopedLease
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

    def revoke_lease(self, lease_id: str) -> None:
        self.log.append(f"revoke {lease_id}")

    def token_refresh_in(self) -> float | None:
        return None

    def keep_token_alive(self) -> None:
        self.log.append("keep token")


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


def test_sigterm_revokes_then_calls_the_previous_handler() -> None:
    seen: list[int] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    original = signal.signal(signal.SIGTERM, previous)
    try:
        calls = Calls(renewable=False)
        lease = RunScopedLease(calls, "r")
        lease.acquire()
        assert signal.getsignal(signal.SIGTERM) == lease._on_sigterm
        os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGTERM]
        assert calls.log == ["creds database/r", "revoke db/creds/r/1"]
        assert signal.getsignal(signal.SIGTERM) is previous
        lease.release()  # already revoked: nothing more
        assert calls.log.count("revoke db/creds/r/1") == 1
    finally:
        signal.signal(signal.SIGTERM, original)


def test_a_failed_revoke_names_the_user_and_the_ttl_bound() -> None:
    class Down(Calls):
        def revoke_lease(self, lease_id: str) -> None:
            raise BackendUnavailableError("Cannot reach Vault", fix="start it", backend="vault")

    lease = RunScopedLease(Down(ttl=90, renewable=False), "r", handle_sigterm=False)
    lease.acquire()
    with pytest.raises(BackendUnavailableError, match=r"drops user 'v-user' .* TTL \(90 s"):
        lease.release()


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
