"""Force an ExternalSecret to sync now, and wait (bounded, with progress) until it has.

ESO reconciles an ExternalSecret at its refresh interval, or at once when its metadata changes:
writing a new value of the ``force-sync`` annotation is the documented way to ask for a sync.

When is the sync done? ESO records, after each successful sync, which version of the
ExternalSecret it served (``status.syncedResourceVersion``: generation plus a hash of labels and
annotations). The new annotation changes that hash, so the sync that floe asked for is the one
after which ``syncedResourceVersion`` differs from its value before the annotation and ``Ready`` is
``True``. ``refreshTime`` alone cannot tell: it has one-second resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from floe_dagster_secrets.backends.eso.objects import BACKEND, sync_state
from floe_dagster_secrets.errors import BackendUnavailableError
from floe_dagster_secrets.types import SyncState

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SyncWait:
    """How long to wait for a forced sync, and how often to look.

    Attributes:
        timeout: Seconds after which the wait fails with ESO's last reason.
        interval: Seconds between two reads of the ExternalSecret.
        progress_every: Seconds between two progress messages.
    """

    timeout: float = 60.0
    interval: float = 0.25
    progress_every: float = 5.0


def force_sync_value(now: float) -> str:
    """A fresh annotation value (nanosecond clock): each forced sync changes it."""
    return str(int(now * 1e9))


def wait_for_sync(
    read: Callable[[], Mapping[str, Any]],
    *,
    name: str,
    namespace: str,
    before: str,
    wait: SyncWait = SyncWait(),
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncState:
    """Poll ``read`` until the ExternalSecret reports a new successful sync.

    Args:
        read: Returns the ExternalSecret as the apiserver has it now.
        name: ExternalSecret name (for messages).
        namespace: Its namespace.
        before: ``status.syncedResourceVersion`` read before the sync was forced.
        wait: Timeout and polling interval.
        progress: Called with a short line every ``wait.progress_every`` seconds.
        clock: Monotonic clock (injectable for tests).
        sleep: Sleeper (injectable for tests).

    Raises:
        BackendUnavailableError: No new successful sync within ``wait.timeout``; the message
            carries ESO's last reason and message.
    """
    started = clock()
    last_report = started
    while True:
        state = sync_state(read())
        if state.ready and state.synced_version and state.synced_version != before:
            return state
        elapsed = clock() - started
        if elapsed >= wait.timeout:
            raise BackendUnavailableError(
                f"ExternalSecret '{name}' did not sync within {wait.timeout:.0f} s after a forced "
                f"sync (last state: {state.label()}: {state.message})",
                fix="check the ClusterSecretStore (kubectl get clustersecretstore) and the ESO "
                "controller's log; the reason above is ESO's own",
                backend=BACKEND,
                secret=name,
                namespace=namespace,
            )
        if progress is not None and clock() - last_report >= wait.progress_every:
            last_report = clock()
            progress(f"… waiting for ESO to sync {name} ({elapsed:.0f} s, {state.label()})")
        sleep(wait.interval)
