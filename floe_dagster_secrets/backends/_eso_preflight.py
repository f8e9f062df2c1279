"""The pre-flight rule for ExternalSecrets: a run starts only on a Ready, fresh sync.

A Secret that ESO synced once and then failed to refresh still exists with its keys, so the
generic existence-and-keys check would pass it; a job would then run on a value the store no
longer holds (rotated, revoked). So an ExternalSecret must be ``Ready`` and have synced within
its refresh interval (plus a grace period).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from floe_dagster_secrets.backends._eso_objects import BACKEND, SyncState
from floe_dagster_secrets.errors import BackendUnavailableError
from floe_dagster_secrets.types import SecretMetadata

STALE_GRACE = timedelta(minutes=1)


def sync_errors(
    found: Iterable[SecretMetadata], *, now: datetime | None = None
) -> list[BackendUnavailableError]:
    """One error per ExternalSecret that is not Ready or whose last sync is stale."""
    now = now or datetime.now(UTC)
    errors: list[BackendUnavailableError] = []
    for meta in found:
        state = meta.extra.get("sync")
        if meta.backend != BACKEND or not isinstance(state, SyncState):
            continue
        where = {"backend": BACKEND, "secret": meta.name, "namespace": meta.namespace}
        fix = (
            f"fix what ESO reports (kubectl describe externalsecret {meta.name} -n "
            f"{meta.namespace}), force a sync with `floe secrets rotate` or the force-sync "
            "annotation, and launch the run again"
        )
        if not state.ready:
            errors.append(
                BackendUnavailableError(
                    f"ExternalSecret '{meta.name}' is not Ready ({state.reason}: {state.message}); "
                    "no Job was created",
                    fix=fix,
                    **where,
                )
            )
        elif state.is_stale(now, grace=STALE_GRACE):
            synced = state.refresh_time.isoformat() if state.refresh_time else "never"
            errors.append(
                BackendUnavailableError(
                    f"ExternalSecret '{meta.name}' last synced at {synced}, longer ago than its "
                    f"refresh interval ({state.refresh_interval}); no Job was created",
                    fix=fix,
                    **where,
                )
            )
    return errors
