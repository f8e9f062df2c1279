"""Dagster storage that redacts secret values from events and run tags before they are stored.

Enable it in ``dagster.yaml`` by wrapping the existing ``storage:`` block (see
:class:`RedactingStorage`); ``docs/security.md`` lists what it closes and what stays open.
"""

from floe_dagster_secrets.storage.redacting_storage import (
    RedactingEventLogStorage as RedactingEventLogStorage,
)
from floe_dagster_secrets.storage.redacting_storage import (
    RedactingRunStorage as RedactingRunStorage,
)
from floe_dagster_secrets.storage.redacting_storage import RedactingStorage as RedactingStorage
from floe_dagster_secrets.storage.redacting_storage import add_redaction as add_redaction

__all__ = ["RedactingEventLogStorage", "RedactingRunStorage", "RedactingStorage", "add_redaction"]
