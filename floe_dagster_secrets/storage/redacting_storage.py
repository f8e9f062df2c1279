"""A Dagster storage that redacts secret values from events and run tags before storing them.

Configured in ``dagster.yaml`` around the ``storage:`` block the instance already has:

.. code-block:: yaml

    storage:
      custom:
        module: floe_dagster_secrets.storage
        class: RedactingStorage
        config:
          postgres:                # exactly what was under `storage:` before
            postgres_db:
              username: dagster
              password: {env: DAGSTER_PG_PASSWORD}
              hostname: dagster-postgresql
              db_name: dagster
              port: 5432

The config is Dagster's own ``storage:`` selector (``postgres``, ``mysql``, ``sqlite`` or
``custom``), validated and loaded by Dagster's code. Every process that opens the instance (the
webserver, the daemon, run workers, step processes, Kubernetes Job pods: the storage config
travels in the instance ref) then stores events and tags through the masker of the process that
writes them, which is the process that fetched the values.

Why the storages are *re-classed* rather than wrapped: Dagster type-checks storages against their
concrete classes (``SqlEventLogStorage`` for schema migrations, ``SqlRunStorage`` for
``dagster run migrate`` and telemetry), and the two interfaces have 83 abstract methods between
them that a delegating wrapper would have to forward and keep in step with every Dagster release.
Instead the storage Dagster built gets a subclass of its own class that overrides only the write
methods (:func:`add_redaction`): every other behaviour and ``isinstance`` answer stay Dagster's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

import yaml
from dagster import DagsterRun, EventLogEntry, Field, Permissive

from floe_dagster_secrets._dagster_internals import (
    ConfigurableClass,
    ConfigurableClassData,
    DagsterStorage,
    EventLogStorage,
    RunStorage,
    configurable_storage_data,
    storage_config_schema,
)
from floe_dagster_secrets.masking import get_masker, install_masker
from floe_dagster_secrets.storage.redaction import (
    learn_from_stored_events,
    redact_entry,
    redact_tags,
)

T = TypeVar("T")


class EventLogRedaction(EventLogStorage):
    """Mixed in before a concrete event log storage: redacts each event before it is written."""

    def _redacted(self, event: EventLogEntry) -> EventLogEntry:
        masker = get_masker()
        learn_from_stored_events(event, self, masker)
        return redact_entry(event, masker)

    def store_event(self, event: EventLogEntry) -> None:
        """Store ``event`` with every value the masker knows hidden."""
        super().store_event(self._redacted(event))  # type: ignore[safe-super]

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store ``events`` with every value the masker knows hidden."""
        super().store_event_batch([self._redacted(event) for event in events])


class RunTagRedaction(RunStorage):
    """Mixed in before a concrete run storage: redacts run tags before they are written."""

    def add_run(self, dagster_run: DagsterRun) -> DagsterRun:
        """Store the run with its tags redacted."""
        tags = redact_tags(dagster_run.tags, get_masker())
        if tags != dagster_run.tags:
            dagster_run = dagster_run.with_tags(tags)
        return super().add_run(dagster_run)  # type: ignore[safe-super]

    def add_run_tags(self, run_id: str, new_tags: Mapping[str, str]) -> None:
        """Add tags (``context.instance.add_run_tags``) with their keys and values redacted."""
        super().add_run_tags(run_id, redact_tags(new_tags, get_masker()))  # type: ignore[safe-super]


_REDACTING_CLASSES: dict[tuple[type[Any], type[Any]], type[Any]] = {}


def _redacting_class(mixin: type[Any], base: type[Any]) -> type[Any]:
    key = (mixin, base)
    if key not in _REDACTING_CLASSES:
        name = f"Redacting{base.__name__}"
        _REDACTING_CLASSES[key] = type(name, (mixin, base), {"__module__": __name__})
    return _REDACTING_CLASSES[key]


def add_redaction(storage: T, mixin: type[Any]) -> T:
    """Make ``storage`` (an event log or run storage Dagster built) redact on write, in place.

    Its class becomes ``Redacting<Class>(mixin, Class)``: one subclass per storage class, created
    once, with the same layout, so Python allows the switch. Idempotent.
    """
    if not isinstance(storage, mixin):
        storage.__class__ = _redacting_class(mixin, type(storage))
    return storage


class RedactingStorage(DagsterStorage, ConfigurableClass):
    """Dagster's storage, configured as usual, with events and run tags redacted on write.

    What is redacted: every string of every event (asset metadata from ``add_output_metadata``
    or ``Output(metadata=…)``, ``AssetMaterialization`` and ``Failure`` descriptions and
    metadata, exception messages and tracebacks, log messages) and every run tag key and value,
    for each value the writing process's masker knows (its plain, base64, URL, JSON and hex
    forms). A run worker also learns, from the redacted step-failure event its step process
    stored, the values to hide in the run-failure event it stores and prints.

    Schedule storage (sensor cursors, ticks) is Dagster's, unchanged: the daemon that writes it
    never fetches values.
    """

    def __init__(self, inner: DagsterStorage, inst_data: ConfigurableClassData | None = None):
        self._inner = inner
        self._inst_data = inst_data
        install_masker()  # a run worker's own log records go through the masker too
        add_redaction(inner.event_log_storage, EventLogRedaction)
        add_redaction(inner.run_storage, RunTagRedaction)

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        """The config this storage was loaded from (what the instance ref carries)."""
        return self._inst_data

    @classmethod
    def config_type(cls) -> Any:
        """Dagster's ``storage:`` selector: ``postgres``, ``mysql``, ``sqlite`` or ``custom``."""
        return storage_config_schema().config_type

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        """Load the inner storage from the *raw* config, so ``{env: …}`` stays unresolved in it."""
        raw = yaml.safe_load(inst_data.config_yaml) if inst_data else dict(config_value)
        inner_data = configurable_storage_data(raw, {})[0]
        if inner_data is None:  # pragma: no cover - the selector always names one storage
            raise ValueError("RedactingStorage config names no storage")
        inner = inner_data.rehydrate(as_type=DagsterStorage)  # type: ignore[type-abstract]
        return cls(inner, inst_data)

    @property
    def event_log_storage(self) -> EventLogStorage:
        """The inner event log storage, redacting on write."""
        return self._inner.event_log_storage

    @property
    def run_storage(self) -> RunStorage:
        """The inner run storage, redacting tags on write."""
        return self._inner.run_storage

    @property
    def schedule_storage(self) -> Any:
        """The inner schedule storage, unchanged."""
        return self._inner.schedule_storage

    def dispose(self) -> None:
        """Dispose of the inner storage."""
        dispose = getattr(self._inner, "dispose", None)
        if dispose is not None:
            dispose()


class _SeparateStorageLoader:
    """Loads the storage a separate ``event_log_storage:`` / ``run_storage:`` key names.

    Never instantiated: ``from_config_value`` returns that storage, with redaction added. The
    subclasses also derive from the storage interface because Dagster checks the configured
    class is one before it calls ``from_config_value``.
    """

    mixin: ClassVar[type[Any]]
    storage_type: ClassVar[type[Any]]

    @classmethod
    def config_type(cls) -> Any:
        """The wrapped storage's own ``module``, ``class`` and ``config``."""
        config = Field(Permissive(), is_required=False)  # type: ignore[no-untyped-call]
        return {"module": str, "class": str, "config": config}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Any:
        """Load the wrapped storage from the raw config (``{env: …}`` unresolved); re-class it."""
        raw = yaml.safe_load(inst_data.config_yaml) if inst_data else dict(config_value)
        inner = ConfigurableClassData(
            raw["module"], raw["class"], yaml.safe_dump(raw.get("config") or {})
        )
        install_masker()
        return add_redaction(inner.rehydrate(as_type=cls.storage_type), cls.mixin)


class RedactingEventLogStorage(_SeparateStorageLoader, EventLogStorage):
    """A separate ``event_log_storage:`` key's storage, redacting events on write.

    .. code-block:: yaml

        event_log_storage:
          module: floe_dagster_secrets.storage
          class: RedactingEventLogStorage
          config:                       # what the key held before
            module: dagster_postgres.event_log
            class: PostgresEventLogStorage
            config: {postgres_db: {…}}
    """

    mixin = EventLogRedaction
    storage_type = EventLogStorage


class RedactingRunStorage(_SeparateStorageLoader, RunStorage):
    """A separate ``run_storage:`` key's storage, redacting run tags on write.

    Configured like :class:`RedactingEventLogStorage`.
    """

    mixin = RunTagRedaction
    storage_type = RunStorage
