"""Dagster storage that redacts secret values from events and run tags before they are stored.

Enable it in ``dagster.yaml`` by wrapping the existing ``storage:`` block (see
:class:`RedactingStorage`), or, with separate ``event_log_storage:`` / ``run_storage:`` keys,
each of them (:class:`RedactingEventLogStorage`, :class:`RedactingRunStorage`).
``docs/security.md`` lists what it closes and what stays open.
"""

from floe_dagster_secrets.storage.redacting_storage import EventLogRedaction as EventLogRedaction
from floe_dagster_secrets.storage.redacting_storage import (
    RedactingEventLogStorage as RedactingEventLogStorage,
)
from floe_dagster_secrets.storage.redacting_storage import (
    RedactingRunStorage as RedactingRunStorage,
)
from floe_dagster_secrets.storage.redacting_storage import RedactingStorage as RedactingStorage
from floe_dagster_secrets.storage.redacting_storage import RunTagRedaction as RunTagRedaction
from floe_dagster_secrets.storage.redacting_storage import add_redaction as add_redaction

__all__ = [
    "EventLogRedaction",
    "RedactingEventLogStorage",
    "RedactingRunStorage",
    "RedactingStorage",
    "RunTagRedaction",
    "add_redaction",
]
