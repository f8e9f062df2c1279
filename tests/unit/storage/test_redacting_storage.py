"""RedactingStorage on a real SQLite-backed Dagster instance: events and tags redacted on write."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
)
from dagster._core.events import EngineEventData, JobFailureData, StepFailureData
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.runs.sql_run_storage import SqlRunStorage
from dagster._utils.error import SerializableErrorInfo

from floe_dagster_secrets.masking import SecretsMasker, get_masker
from floe_dagster_secrets.storage import RedactingStorage
from floe_dagster_secrets.storage.redaction import redact_entry, redact_tags

CANARY = "canary-unit-Zq9value"


def _config(home: Path, *, redacting: bool = True) -> None:
    sqlite = {"sqlite": {"base_dir": str(home / "storage")}}
    storage = (
        {
            "custom": {
                "module": "floe_dagster_secrets.storage",
                "class": "RedactingStorage",
                "config": sqlite,
            }
        }
        if redacting
        else sqlite
    )
    config = {"telemetry": {"enabled": False}, "storage": storage}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture
def instance(tmp_path: Path, fresh_masker: None) -> Iterator[DagsterInstance]:
    _config(tmp_path)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _materialization(run_id: str, description: str, metadata: dict[str, str]) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="job",
        event_specific_data=_step_materialization(description, metadata),
    )
    return _entry(run_id, event)


def _step_materialization(description: str, metadata: dict[str, str]) -> object:
    from dagster._core.events import StepMaterializationData

    return StepMaterializationData(
        AssetMaterialization(asset_key=AssetKey("a"), description=description, metadata=metadata)
    )


def _entry(run_id: str, event: DagsterEvent) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=20,
        user_message="",
        run_id=run_id,
        timestamp=1.0,
        step_key=event.step_key,
        job_name="job",
        dagster_event=event,
    )


def _step_failure(message: str, pid: int) -> DagsterEvent:
    error = SerializableErrorInfo(
        message=message, stack=[f"  raise X({message!r})\n"], cls_name="X"
    )
    return DagsterEvent(
        event_type_value=DagsterEventType.STEP_FAILURE.value,
        job_name="job",
        step_key="failing_step",
        event_specific_data=StepFailureData(error=error, user_failure_data=None),
        pid=pid,
    )


def test_the_storages_keep_their_dagster_class(instance: DagsterInstance) -> None:
    """Dagster's migrations and CLI check isinstance(SqlEventLogStorage / SqlRunStorage)."""
    assert isinstance(instance.event_log_storage, SqlEventLogStorage)
    assert isinstance(instance.run_storage, SqlRunStorage)
    assert type(instance.event_log_storage).__name__ == "RedactingSqliteEventLogStorage"
    assert isinstance(instance.get_ref().storage, RedactingStorage)


def test_events_are_stored_redacted(instance: DagsterInstance) -> None:
    get_masker().register(CANARY)
    instance.store_event(
        _materialization("r1", f"built with {CANARY}", {"conn": f"password={CANARY}"})
    )
    [entry] = instance.all_logs("r1")
    stored = entry.dagster_event.event_specific_data.materialization  # type: ignore[union-attr]
    assert stored.description == "built with ***"
    assert stored.metadata["conn"].value == "password=***"


def test_run_tags_are_stored_redacted(instance: DagsterInstance) -> None:
    from dagster import DagsterRun

    get_masker().register(CANARY)
    instance.add_run(DagsterRun(job_name="job", run_id="r2", tags={"note": f"t-{CANARY}"}))
    instance.add_run_tags("r2", {"later": CANARY.encode().hex()})
    run = instance.get_run_by_id("r2")
    assert run is not None
    assert run.tags["note"] == "t-***"
    assert run.tags["later"] == "***"


def test_nothing_registered_stores_the_event_unchanged(instance: DagsterInstance) -> None:
    entry = _materialization("r3", f"built with {CANARY}", {})
    assert redact_entry(entry, get_masker()) is entry


def test_run_failure_learns_from_the_stored_step_failure(instance: DagsterInstance) -> None:
    """The run worker never fetched the value: it learns it from the step process's copy."""
    step_process = SecretsMasker()
    step_process.register(CANARY)
    raw_step = _step_failure(f"connection refused for {CANARY}", pid=4242)
    # the step process stored its copy redacted
    instance.store_event(redact_entry(_entry("r4", raw_step), step_process))
    assert get_masker().registered_count == 0  # this process (the run worker) knows nothing
    run_failure = DagsterEvent(
        event_type_value=DagsterEventType.RUN_FAILURE.value,
        job_name="job",
        event_specific_data=JobFailureData(
            error=raw_step.step_failure_data.error, first_step_failure_event=raw_step
        ),
    )
    instance.store_event(_entry("r4", run_failure))
    text = "\n".join(str(e.dagster_event) for e in instance.all_logs("r4"))
    assert CANARY not in text
    assert "connection refused for ***" in text
    assert get_masker().redact(f"printed {CANARY}") == "printed ***"  # stderr is redacted too


def test_redact_tags_hides_keys_and_values(fresh_masker: None) -> None:
    masker = SecretsMasker()
    masker.register(CANARY)
    assert redact_tags({CANARY: "x", "k": f"v{CANARY}"}, masker) == {"***": "x", "k": "v***"}


def test_names_dagster_tracks_state_by_are_not_redacted(fresh_masker: None) -> None:
    """A weak secret equal to a step or asset name must not rename them in storage."""
    masker = SecretsMasker()
    masker.register("failing_step")
    masker.register("MATERIALIZATION")
    entry = _entry("r5", _step_failure("failing_step broke", pid=1))
    redacted = redact_entry(entry, masker)
    assert redacted.step_key == "failing_step"
    assert redacted.dagster_event is not None
    assert redacted.dagster_event.step_key == "failing_step"
    assert redacted.dagster_event.step_failure_data.error is not None
    assert redacted.dagster_event.step_failure_data.error.message == "*** broke"
    materialization = redact_entry(_materialization("r5", "MATERIALIZATION", {}), masker)
    assert materialization.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION


def test_plain_storage_config_is_unchanged(tmp_path: Path) -> None:
    """The control: without RedactingStorage the value is stored as written."""
    _config(tmp_path, redacting=False)
    get_masker().register(CANARY)
    try:
        with DagsterInstance.from_config(str(tmp_path)) as plain:
            plain.store_event(_materialization("r6", f"built with {CANARY}", {}))
            [entry] = plain.all_logs("r6")
    finally:
        get_masker().clear()
    stored = entry.dagster_event.event_specific_data.materialization  # type: ignore[union-attr]
    assert stored.description == f"built with {CANARY}"
    assert os.path.isdir(tmp_path / "storage")


def test_a_step_failure_learns_from_a_stored_resource_failure(instance: DagsterInstance) -> None:
    """A resource failed in the step process; the run worker turns its error into a step failure."""
    step_process = SecretsMasker()
    step_process.register(CANARY)
    error = SerializableErrorInfo(
        message=f"ConnectionError: login failed with {CANARY}\n", stack=[], cls_name="E"
    )
    resource_failure = DagsterEvent(
        event_type_value=DagsterEventType.RESOURCE_INIT_FAILURE.value,
        job_name="job",
        step_key="needs_warehouse",
        event_specific_data=EngineEventData(error=error),
        pid=4343,
    )
    instance.store_event(redact_entry(_entry("r7", resource_failure), step_process))
    step_failure = DagsterEvent(
        event_type_value=DagsterEventType.STEP_FAILURE.value,
        job_name="job",
        step_key="needs_warehouse",
        event_specific_data=StepFailureData(error=error, user_failure_data=None),
        pid=os.getpid(),
    )
    instance.store_event(_entry("r7", step_failure))
    text = "\n".join(str(e.dagster_event) for e in instance.all_logs("r7"))
    assert CANARY not in text
    assert text.count("login failed with ***") == 2


@pytest.mark.parametrize(
    "value",
    ['canary"quoted\\value', "canary-clé-ü-value", '-----BEGIN KEY-----\nline\t"two"x\n-----END'],
)
def test_values_that_json_escapes_are_still_found(value: str, fresh_masker: None) -> None:
    """The serialized event escapes quotes, backslashes and non-ASCII; the value is still found."""
    masker = SecretsMasker()
    masker.register(value)
    entry = _materialization("r8", f"built with {value}", {"conn": f"password={value}"})
    redacted = redact_entry(entry, masker)
    assert redacted is not entry
    text = str(redacted.dagster_event)
    for line in value.splitlines():
        assert line not in text


def test_a_weak_value_equal_to_a_field_name_does_not_break_the_event(fresh_masker: None) -> None:
    """Field names of Dagster's objects are structure; metadata labels are data."""
    masker = SecretsMasker()
    masker.register("description")
    masker.register("password-label")
    entry = _materialization("r9", "a description", {"password-label": "x"})
    redacted = redact_entry(entry, masker)
    stored = redacted.dagster_event.event_specific_data.materialization  # type: ignore[union-attr]
    assert stored.description == "a ***"
    assert dict(stored.metadata).keys() == {"***"}


def test_separate_storage_keys_redact_too(tmp_path: Path, fresh_masker: None) -> None:
    """``event_log_storage:`` / ``run_storage:`` keys, each wrapping the storage it held."""

    def key(module: str, cls: str, wrapped: str, base_dir: Path) -> dict[str, object]:
        return {
            "module": "floe_dagster_secrets.storage",
            "class": cls,
            "config": {"module": module, "class": wrapped, "config": {"base_dir": str(base_dir)}},
        }

    config = {
        "telemetry": {"enabled": False},
        "event_log_storage": key(
            "dagster._core.storage.event_log",
            "RedactingEventLogStorage",
            "SqliteEventLogStorage",
            tmp_path / "events",
        ),
        "run_storage": key(
            "dagster._core.storage.runs",
            "RedactingRunStorage",
            "SqliteRunStorage",
            tmp_path / "runs",
        ),
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    get_masker().register(CANARY)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.event_log_storage, SqlEventLogStorage)
        instance.store_event(_materialization("r10", f"built with {CANARY}", {}))
        from dagster import DagsterRun

        instance.add_run(DagsterRun(job_name="job", run_id="r10", tags={"note": CANARY}))
        [entry] = instance.all_logs("r10")
        run = instance.get_run_by_id("r10")
    stored = entry.dagster_event.event_specific_data.materialization  # type: ignore[union-attr]
    assert stored.description == "built with ***"
    assert run is not None
    assert run.tags["note"] == "***"
