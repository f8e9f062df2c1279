"""The run log tells the access story: one ``AssetObservation`` per secret fetch in a step.

:mod:`floe_dagster_secrets.audit` records every access as a ``floe.audit`` log line. This module
adds a sink to it that, when the fetch happens inside a Dagster step, also logs an
``AssetObservation`` of the secret's asset ``secrets/<name>`` into the run's event log, with the
secret's name, backend, namespace, version, key *names*, the step and the outcome as metadata —
never a value. The UI's run log filters it by type ("Observation") or by asset key, and the
secret's asset page lists every run that fetched it.

The observation carries no data version, so a fetch never looks like a rotation to declarative
automation or the staleness view; the data version comes from the rotation sensor and the
``Observe`` action only.

Importing :mod:`floe_dagster_secrets.assets` installs the sink, and so does every floe secrets
resource's ``setup_for_execution`` (idempotent), so a code location that uses only a resource
records the events too. Outside a step (the CLI, a sensor, the launcher) the sink does nothing.
"""

from typing import Any

import dagster as dg

from floe_dagster_secrets import audit
from floe_dagster_secrets.assets.observations import secret_asset_key
from floe_dagster_secrets.errors import FloeSecretsError

FETCH_OPERATIONS = frozenset({"get"})
"""Audited operations that hand a secret's values to the step: the ones the run log shows."""


def _current_context() -> dg.OpExecutionContext | None:
    """The step's context when called inside one (public ``OpExecutionContext.get``), else None."""
    try:
        return dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None


def _version(event: audit.AuditEvent, source: Any) -> str | None:
    """The fetched secret's version: from the access itself, else one metadata read.

    A backend that knows the version of what it returned calls :func:`audit.record_version`;
    for the others the plugin that made the access is asked for the secret's metadata
    (``describe_secret``, never its values: one metadata request per fetch in a step, recorded
    as part of the fetch rather than as an access of its own).
    """
    if event.version is not None:
        return event.version
    describe = getattr(source, "describe_secret", None)
    if event.outcome != "ok" or not callable(describe) or not event.name or not event.namespace:
        return None
    try:
        # part of the fetch's record (its version), not an access of its own in the trail
        with audit.part_of_current_access():
            version = getattr(describe(event.name, event.namespace), "version", None)
    except FloeSecretsError:
        return None
    return str(version) if version is not None else None


def access_metadata(event: audit.AuditEvent, *, version: str | None, step: str) -> dict[str, Any]:
    """The observation's metadata: who fetched what, where, which version — names only."""
    return {
        "secret": event.name or "",
        "backend": event.backend,
        "namespace": event.namespace or "",
        "version": version or "unknown",
        "step": step,
        "operation": event.operation,
        "outcome": event.outcome,
        "keys": ", ".join(event.keys),
        "actor": event.actor,
    }


def _to_run_log(event: audit.AuditEvent, source: Any) -> None:
    if event.operation not in FETCH_OPERATIONS or not event.name:
        return
    context = _current_context()
    if context is None:
        return
    step = context.get_step_execution_context().step.key
    version = _version(event, source)
    context.log_event(
        dg.AssetObservation(
            asset_key=secret_asset_key(event.name),
            description=(
                f"Step `{step}` fetched secret `{event.name}` (version {version or 'unknown'}) "
                f"from the {event.backend} backend: {event.outcome}"
            ),
            metadata=access_metadata(event, version=version, step=step),
        )
    )


def install_run_log_events() -> None:
    """Log each secret fetch made inside a step into the run's event log (idempotent)."""
    audit.add_sink(_to_run_log)
