"""The forced-sync wait: done on a new successful sync, bounded, with progress."""

from __future__ import annotations

from typing import Any

import pytest

from floe_dagster_secrets.backends.eso.sync import SyncWait, wait_for_sync
from floe_dagster_secrets.errors import BackendUnavailableError


def es(version: str, ready: str = "True", reason: str = "SecretSynced") -> dict[str, Any]:
    return {
        "spec": {"refreshInterval": "1h"},
        "status": {
            "syncedResourceVersion": version,
            "refreshTime": "2026-11-28T12:00:00Z",
            "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": "m"}],
        },
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waits_until_the_synced_version_changes() -> None:
    answers = iter([es("1-old"), es("1-old"), es("1-new", ready="False"), es("1-new")])
    clock = Clock()
    lines: list[str] = []

    state = wait_for_sync(
        lambda: next(answers),
        name="a",
        namespace="ns",
        before="1-old",
        wait=SyncWait(timeout=10, interval=1, progress_every=1),
        progress=lines.append,
        clock=clock,
        sleep=clock.sleep,
    )

    assert (state.synced_version, state.ready) == ("1-new", True)
    assert clock.now == 3
    assert lines
    assert lines[0].startswith("… waiting for ESO to sync a")


def test_times_out_with_esos_reason() -> None:
    clock = Clock()
    with pytest.raises(BackendUnavailableError) as raised:
        wait_for_sync(
            lambda: es("1-old", ready="False", reason="SecretSyncedError"),
            name="a",
            namespace="ns",
            before="1-old",
            wait=SyncWait(timeout=5, interval=1),
            clock=clock,
            sleep=clock.sleep,
        )
    assert "did not sync within 5 s" in str(raised.value)
    assert "SecretSyncedError: m" in str(raised.value)
    assert clock.now == 5
