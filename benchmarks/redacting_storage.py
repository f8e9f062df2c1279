"""What RedactingStorage costs per stored event: Dagster's SQLite storage with and without it.

Two real instances in temporary directories, one with plain ``storage: sqlite`` and one with the
same storage wrapped in ``RedactingStorage``. The masker holds ``--values`` registered secrets
(each in all its encoded forms). Each round stores ``--events`` asset-materialization events
(a description and ten metadata strings each, one of them holding a value) into both instances,
alternating, so machine noise falls on both. Prints the medians per event, the cost of the
redaction step alone (``redact_entry``, no I/O; for events with a value and without) and, last,
``redacting_storage_ratio=<redacting/plain>``.

    .venv/bin/python benchmarks/redacting_storage.py [--events 100] [--rounds 5] [--values 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
)
from dagster._core.events import StepMaterializationData

from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.storage.redaction import redact_entry


def _home(root: Path, name: str, *, redacting: bool) -> Path:
    home = root / name
    home.mkdir()
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
    return home


def _event(run_id: str, index: int, value: str) -> EventLogEntry:
    metadata = {f"field_{i}": f"row count {index * i} for partition p{i}" for i in range(9)}
    metadata["connection"] = f"host=db user=app password={value}"
    materialization = AssetMaterialization(
        asset_key=AssetKey(["bench", f"asset_{index % 20}"]),
        description=f"materialized batch {index}",
        metadata=metadata,
    )
    return EventLogEntry(
        error_info=None,
        level=20,
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        step_key="bench_step",
        job_name="bench_job",
        dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
            job_name="bench_job",
            step_key="bench_step",
            event_specific_data=StepMaterializationData(materialization),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--values", type=int, default=10)
    args = parser.parse_args()
    values = [f"bench-secret-{i:02d}-Zq9vB7xLmN3kP0" for i in range(args.values)]
    get_masker().register_all(values)
    timings: dict[str, list[float]] = {"plain": [], "redacting": []}
    alone: list[float] = []
    alone_clean: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        homes = {
            label: _home(Path(tmp), label, redacting=label == "redacting") for label in timings
        }
        instances = {label: DagsterInstance.from_config(str(home)) for label, home in homes.items()}
        try:
            for round_ in range(args.rounds):
                for label, instance in instances.items():
                    events = [
                        _event(f"run-{round_}", i, values[i % len(values)])
                        for i in range(args.events)
                    ]
                    started = time.perf_counter()
                    for event in events:
                        instance.store_event(event)
                    timings[label].append((time.perf_counter() - started) / args.events)
                started = time.perf_counter()
                for event in events:
                    redact_entry(event, get_masker())
                alone.append((time.perf_counter() - started) / args.events)
                clean = [_event(f"run-{round_}", i, "no-value") for i in range(args.events)]
                started = time.perf_counter()
                for event in clean:
                    redact_entry(event, get_masker())
                alone_clean.append((time.perf_counter() - started) / args.events)
        finally:
            for instance in instances.values():
                instance.dispose()
    plain = statistics.median(timings["plain"])
    redacting = statistics.median(timings["redacting"])
    print(f"plain SQLite storage:      {plain * 1e6:8.0f} µs per event (median of {args.rounds})")
    print(f"RedactingStorage (SQLite): {redacting * 1e6:8.0f} µs per event")
    print(f"redact_entry alone:        {statistics.median(alone) * 1e6:8.0f} µs per event")
    print(f"  ... event without value: {statistics.median(alone_clean) * 1e6:8.0f} µs per event")
    print(f"masker forms registered:   {get_masker().registered_count}")
    print(f"redacting_storage_ratio={redacting / plain:.2f}")


if __name__ == "__main__":
    main()
