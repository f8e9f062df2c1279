"""Redact what user code wrote into Dagster events and run tags, before they are stored.

Everything user code can put into an event — asset metadata, ``AssetMaterialization`` and
``Failure`` descriptions, exception messages and tracebacks, log messages — is a string somewhere
in the event's serialized form. So an event is serialized with Dagster's own serdes, every string
and mapping key in it is redacted with the process-wide masker, and the result is read back.
Dagster's structural strings (the ``__class__`` and ``__enum__`` markers) and the names it tracks
state by (event type, run id, step key, job name, asset and check keys, partition) are left
alone, so the event reads back as the same event of the same step; if it still does not read
back, storing fails with a clear error rather than storing the raw event (fail closed).

A run worker whose steps run in child processes (the multiprocess executor) never fetched the
values its steps did, yet its run-failure event embeds the first failed step's event, and Dagster
prints that event to the run worker's stderr. The step process stored its own copy of that event
already redacted, so :func:`learn_from_stored_events` compares the two and registers the
hidden spans with this process's masker (:meth:`SecretsMasker.learn`) before anything is stored
or printed. The same goes for a resource that failed to initialise in a step process: the run
worker turns the step process's (stored, redacted) error into a step failure of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import DagsterEventType, EventLogEntry, deserialize_value, serialize_value

from floe_dagster_secrets._dagster_internals import EventLogStorage
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.masking import SecretsMasker
from floe_dagster_secrets.types import REDACTED

_STRUCTURAL = frozenset({"__class__", "__enum__", "__set__", "__frozenset__", "__mapping_items__"})

# Names Dagster tracks state by, chosen in code rather than fetched at run time: a weak secret
# that happens to equal a step or asset name ("postgres") must not rename the step in storage.
_IDENTITY_FIELDS = frozenset(
    {"event_type_value", "run_id", "step_key", "pipeline_name", "job_name", "partition"}
)
_IDENTITY_CLASSES = frozenset(
    {"AssetKey", "AssetCheckKey", "SolidHandle", "NodeHandle", "StepOutputHandle"}
)


def _redact_tree(node: Any, masker: SecretsMasker) -> Any:
    """Every string and key redacted, but Dagster's serdes markers and identity names."""
    if isinstance(node, str):
        return masker.redact(node)
    if isinstance(node, list):
        return [_redact_tree(item, masker) for item in node]
    if isinstance(node, dict):
        if node.get("__class__") in _IDENTITY_CLASSES:
            return node
        # A serialized object's keys are its field names; a plain mapping's (metadata) are data.
        is_object = "__class__" in node
        return {
            (key if is_object or key in _STRUCTURAL else masker.redact(key)): (
                value
                if key in _IDENTITY_FIELDS or (key in _STRUCTURAL and isinstance(value, str))
                else _redact_tree(value, masker)
            )
            for key, value in node.items()
        }
    return node


def redact_entry(entry: EventLogEntry, masker: SecretsMasker) -> EventLogEntry:
    """``entry`` with every registered value hidden; the same object when nothing was hidden.

    Raises:
        FloeSecretsError: the redacted event no longer reads back (a registered value matched
            part of Dagster's own structure); nothing is stored then.
    """
    if masker.registered_count == 0:
        return entry
    text = serialize_value(entry)
    # Every registered form is also registered JSON-escaped, so a value in any string of the
    # event shows in its serialized text: when the text has none, there is nothing to walk.
    if masker.redact(text) == text:
        return entry
    document = json.loads(text)
    redacted = _redact_tree(document, masker)
    if redacted == document:
        return entry
    try:
        return deserialize_value(json.dumps(redacted), EventLogEntry)
    except Exception as e:
        event_type = entry.dagster_event_type.value if entry.dagster_event_type else "log message"
        raise FloeSecretsError(
            f"a {event_type} event of run {entry.run_id} could not be redacted before it was "
            f"stored ({type(e).__name__}), so it was not stored",
            fix=(
                "a registered secret value matches part of Dagster's event structure: use a "
                "longer, random value, or report this with the event type"
            ),
        ) from None


def redact_tags(tags: Mapping[str, str], masker: SecretsMasker) -> dict[str, str]:
    """Run tags with every registered value hidden in keys and values."""
    return {masker.redact(key): masker.redact(value) for key, value in tags.items()}


def _string_pairs(raw: Any, stored: Any) -> Iterator[tuple[str, str]]:
    """(raw, stored) strings at the same place in two serialized copies of one event."""
    if isinstance(raw, str) and isinstance(stored, str):
        yield raw, stored
    elif isinstance(raw, list) and isinstance(stored, list) and len(raw) == len(stored):
        for raw_item, stored_item in zip(raw, stored, strict=True):
            yield from _string_pairs(raw_item, stored_item)
    elif isinstance(raw, dict) and isinstance(stored, dict) and len(raw) == len(stored):
        # Keys may be redacted themselves: pair the entries by position (serdes sorts keys, and
        # a redacted key can move), falling back to the whole document on any mismatch.
        if raw.keys() == stored.keys():
            for key in raw:
                yield from _string_pairs(raw[key], stored[key])
        else:
            yield json.dumps(raw, sort_keys=True), json.dumps(stored, sort_keys=True)
    elif raw != stored:
        yield json.dumps(raw, sort_keys=True), json.dumps(stored, sort_keys=True)


# What a failure of each kind can have been copied from, in another process's stored events:
# a step failure the run worker writes comes from a step process's resource-initialisation
# failure; a run failure embeds the first failed step's failure.
_SOURCES = {
    DagsterEventType.STEP_FAILURE: {DagsterEventType.RESOURCE_INIT_FAILURE},
    DagsterEventType.RUN_FAILURE: {DagsterEventType.STEP_FAILURE},
}


def _error_documents(node: Any) -> Iterator[dict[str, Any]]:
    """Every serialized ``SerializableErrorInfo`` in ``node`` (each with its causes inside)."""
    if isinstance(node, dict):
        if node.get("__class__") == "SerializableErrorInfo":
            yield node
            return
        for value in node.values():
            yield from _error_documents(value)
    elif isinstance(node, list):
        for item in node:
            yield from _error_documents(item)


def _is_redacted_copy(raw: Any, stored: Any) -> bool:
    """Whether ``stored`` is ``raw`` with some strings redacted, and nothing else changed."""
    if isinstance(raw, str) and isinstance(stored, str):
        return raw == stored or REDACTED in stored
    if isinstance(raw, list) and isinstance(stored, list):
        return len(raw) == len(stored) and all(map(_is_redacted_copy, raw, stored))
    if isinstance(raw, dict) and isinstance(stored, dict):
        return raw.keys() == stored.keys() and all(
            _is_redacted_copy(raw[key], stored[key]) for key in raw
        )
    return bool(raw == stored)


def learn_from_stored_events(
    entry: EventLogEntry, storage: EventLogStorage, masker: SecretsMasker
) -> None:
    """Before a step or run failure is stored, learn what other processes hid in their copies.

    A run worker stores and prints errors that its step processes raised: the run failure embeds
    the first failed step's event, and a resource that failed to initialise in a step process
    becomes a step failure that the run worker writes. The step process stored its own copies
    redacted. Each of them that is a redacted copy of part of ``entry`` (the whole step event,
    or one error with its causes) teaches this process's masker the spans it hid. When there is
    no such copy (the step process stored nothing, or stored it without redaction), nothing is
    learned.
    """
    event = entry.dagster_event
    if event is None or not entry.run_id or event.event_type not in _SOURCES:
        return
    step_event = getattr(event.event_specific_data, "first_step_failure_event", None)
    step_key = step_event.step_key if step_event is not None else event.step_key
    if step_key is None:
        return  # a run failure without a failed step: nothing was copied from a step process
    raw_errors = list(_error_documents(json.loads(serialize_value(event))))
    raw_step = json.loads(serialize_value(step_event)) if step_event is not None else None
    # Only the same step's events, of the kinds this one can come from: a cheap query, and
    # no cost that grows with the number of failed steps in the run.
    records = storage.get_records_for_run(entry.run_id, of_type=_SOURCES[event.event_type]).records
    for record in records:
        stored = record.event_log_entry.dagster_event
        if stored is None or stored.step_key != step_key:
            continue
        stored_document = json.loads(serialize_value(stored))
        pairs: list[tuple[Any, Any]] = []
        if raw_step is not None and _is_redacted_copy(raw_step, stored_document):
            pairs.append((raw_step, stored_document))
        for stored_error in _error_documents(stored_document):
            pairs += [
                (raw, stored_error) for raw in raw_errors if _is_redacted_copy(raw, stored_error)
            ]
        for raw, redacted in pairs:
            for raw_text, stored_text in _string_pairs(raw, redacted):
                masker.learn(raw_text, stored_text)
