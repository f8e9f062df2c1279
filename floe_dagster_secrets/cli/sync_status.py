"""``floe secrets status`` for a backend whose secrets an operator syncs: the sync table.

For a backend with :class:`~floe_dagster_secrets.backends.base.ReportsSyncState` (the External
Secrets Operator): the ADR's table, ``NAME STORE SYNC STATUS LAST SYNC`` (``Synced   2m ago``),
rendered from each secret's typed :class:`~floe_dagster_secrets.types.SyncState`. A secret that
is not Ready shows the operator's reason, and its message is repeated under the table; one whose
last sync is older than its refresh interval is marked stale. Only metadata is read, never a
value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from floe_dagster_secrets.cli.output import Emit, age, table, to_json
from floe_dagster_secrets.types import SecretMetadata, SyncState

if TYPE_CHECKING:
    from floe_dagster_secrets.backends.base import ReportsSyncState, SecretsPlugin
    from floe_dagster_secrets.cli.commands import RequiredSecret

_NEVER = SyncState(
    ready=False,
    reason="Pending",
    message="not reported",
    refresh_time=None,
    synced_version="",
    refresh_interval=timedelta(0),
)


def _last_sync(state: SyncState, now: datetime) -> str:
    if state.refresh_time is None:
        return "never"
    return f"{age(state.refresh_time, now=now)} ago"


def _state(meta: SecretMetadata) -> SyncState:
    return meta.sync or _NEVER


def sync_status(
    plugin: SecretsPlugin,
    reporter: ReportsSyncState,
    namespace: str,
    required: Sequence[RequiredSecret] = (),
    *,
    emit: Emit,
    output: str = "table",
    now: datetime | None = None,
    fix_flags: str = "",
) -> int:
    """Print every secret's sync state; missing referenced secrets marked. Always 0.

    ``reporter`` is ``plugin`` seen through its ``ReportsSyncState`` capability.
    """
    now = now or datetime.now(UTC)
    secrets = reporter.sync_states(namespace)
    present = {meta.name for meta in secrets}
    missing = [item.name for item in required if item.name not in present]
    states: dict[str, SyncState] = {meta.name: _state(meta) for meta in secrets}
    stale = [name for name, state in states.items() if state.is_stale(now)]
    if output == "json":
        documents = []
        for meta in secrets:
            document = meta.to_json()
            state = states[meta.name]
            document.update(
                store=state.source or None,
                ready=state.ready,
                reason=state.reason,
                message=state.message,
                last_sync=state.refresh_time.isoformat() if state.refresh_time else None,
                refresh_interval=meta.extra.get("refresh_interval"),
                stale=meta.name in stale,
            )
            documents.append(document)
        emit(
            to_json(
                {
                    "namespace": namespace,
                    "backend": plugin.name,
                    "secrets": documents,
                    "missing": missing,
                    "stale": stale,
                }
            )
        )
        return 0
    rows = [
        (
            meta.name,
            states[meta.name].source or "-",
            states[meta.name].label() + (" (stale)" if meta.name in stale else ""),
            _last_sync(states[meta.name], now),
        )
        for meta in secrets
    ]
    rows += [(name, "-", "<missing>", "-") for name in missing]
    if not rows:
        emit(f"No ExternalSecrets found in namespace {namespace}.")
        return 0
    for line in table(("NAME", "STORE", "SYNC STATUS", "LAST SYNC"), rows):
        emit(line)
    flags = f" {fix_flags.strip()}" if fix_flags.strip() else ""
    failing = [meta for meta in secrets if not states[meta.name].ready]
    if missing or failing or stale:
        emit("")
    for meta in failing:
        state = states[meta.name]
        emit(f"✗ {meta.name}: {state.reason}: {state.message}")
    for name in stale:
        if states[name].ready:
            emit(
                f"! {name}: last synced {_last_sync(states[name], now)}, over its refresh interval"
            )
    for name in missing:
        emit(f"✗ {name}: referenced by the manifest but NOT FOUND")
        emit(f"  create it with: floe secrets create {name}{flags}")
    return 0
