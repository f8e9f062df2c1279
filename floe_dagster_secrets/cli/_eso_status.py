"""``floe secrets status`` for the External Secrets Operator: the sync state of each secret.

The ADR's table, ``NAME STORE SYNC STATUS LAST SYNC`` (``Synced   2m ago``). A secret that is
not Ready shows ESO's reason, and its message is repeated under the table; one whose last sync
is older than its refresh interval is marked stale. Only ExternalSecret objects and Secret
metadata are read, never a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from floe_dagster_secrets.backends.eso.objects import SyncState
from floe_dagster_secrets.cli.output import Emit, age, table, to_json

if TYPE_CHECKING:
    from floe_dagster_secrets.backends.base import SecretsPlugin
    from floe_dagster_secrets.cli.commands import RequiredSecret


def _last_sync(state: SyncState, now: datetime) -> str:
    if state.refresh_time is None:
        return "never"
    return f"{age(state.refresh_time, now=now)} ago"


def eso_status(
    plugin: SecretsPlugin,
    namespace: str,
    required: Sequence[RequiredSecret] = (),
    *,
    emit: Emit,
    output: str = "table",
    now: datetime | None = None,
    fix_flags: str = "",
) -> int:
    """Print every ExternalSecret's sync state; missing referenced secrets marked. Always 0."""
    now = now or datetime.now(UTC)
    secrets = plugin.list_secrets(namespace)
    present = {meta.name for meta in secrets}
    missing = [item.name for item in required if item.name not in present]
    states: dict[str, SyncState] = {meta.name: meta.extra["sync"] for meta in secrets}
    stale = [name for name, state in states.items() if state.is_stale(now)]
    if output == "json":
        documents = []
        for meta in secrets:
            document = meta.to_json()
            state = states[meta.name]
            document.update(
                store=meta.extra.get("store"),
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
            str(meta.extra.get("store") or "-"),
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
