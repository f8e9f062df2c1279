"""Cursor parsing and the version diff: pure logic, no backend."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floe_dagster_secrets.sensors.cursor import (
    RotationCursor,
    diff_versions,
    is_newer,
    parse_cursor,
)

NS = "floe-jobs"


def test_round_trip() -> None:
    cursor = RotationCursor(NS, {"a-db-credentials": "12", "b-api-key": None}, counter=3)
    assert parse_cursor(cursor.to_json()) == cursor


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[]",
        "{}",
        json.dumps({"schema": 99, "namespace": NS, "versions": {}, "counter": 0}),
        json.dumps({"schema": 1, "namespace": 3, "versions": {}, "counter": 0}),
        json.dumps({"schema": 1, "namespace": NS, "versions": [], "counter": 0}),
        json.dumps({"schema": 1, "namespace": NS, "versions": {"a": 1}, "counter": 0}),
        json.dumps({"schema": 1, "namespace": NS, "versions": {}, "counter": -1}),
        json.dumps({"schema": 1, "namespace": NS, "versions": {}, "counter": True}),
        json.dumps({"schema": 1, "namespace": NS, "versions": {}}),
    ],
)
def test_unknown_or_corrupt_cursor_is_a_baseline(raw: str | None) -> None:
    assert parse_cursor(raw) is None


@given(st.text())
def test_parse_never_raises(raw: str) -> None:
    parse_cursor(raw)


def test_first_tick_is_a_baseline() -> None:
    diff = diff_versions(None, namespace=NS, current={"a": "5", "other": "9"}, watched=["a", "b"])
    assert diff.baseline
    assert not diff.rotations
    assert not diff.deleted
    assert diff.cursor == RotationCursor(NS, {"a": "5", "b": None}, 0)


def test_unchanged_versions_give_nothing() -> None:
    cursor = RotationCursor(NS, {"a": "5"}, 2)
    diff = diff_versions(cursor, namespace=NS, current={"a": "5"}, watched=["a"])
    assert not diff.baseline
    assert not diff.rotations
    assert diff.cursor == cursor


def test_rotation_counts_up_and_key_grows() -> None:
    cursor = RotationCursor(NS, {"a": "5", "b": "7"}, 2)
    diff = diff_versions(cursor, namespace=NS, current={"a": "6", "b": "8"}, watched=["a", "b"])
    assert [(r.secret, r.previous, r.version, r.sequence) for r in diff.rotations] == [
        ("a", "5", "6", 3),
        ("b", "7", "8", 4),
    ]
    assert diff.cursor.counter == 4
    assert diff.rotations[0].run_key(NS) == f"a@{NS}:6#3"


def test_version_that_comes_back_gets_a_new_key() -> None:
    c0 = RotationCursor(NS, {"a": "1"}, 0)
    d1 = diff_versions(c0, namespace=NS, current={"a": "2"}, watched=["a"])
    d2 = diff_versions(d1.cursor, namespace=NS, current={"a": "1"}, watched=["a"])
    keys = [d1.rotations[0].run_key(NS), d2.rotations[0].run_key(NS)]
    assert keys == [f"a@{NS}:2#1", f"a@{NS}:1#2"]


def test_deleted_secret_is_reported_not_rotated_and_return_is_a_rotation() -> None:
    c0 = RotationCursor(NS, {"a": "1"}, 0)
    gone = diff_versions(c0, namespace=NS, current={}, watched=["a"])
    assert gone.deleted == ("a",)
    assert not gone.rotations
    assert gone.cursor.versions == {"a": None}
    still_gone = diff_versions(gone.cursor, namespace=NS, current={}, watched=["a"])
    assert not still_gone.deleted
    back = diff_versions(gone.cursor, namespace=NS, current={"a": "4"}, watched=["a"])
    assert [(r.secret, r.previous, r.sequence) for r in back.rotations] == [("a", None, 1)]


def test_newly_watched_secret_is_baselined_silently() -> None:
    c0 = RotationCursor(NS, {"a": "1"}, 5)
    diff = diff_versions(c0, namespace=NS, current={"a": "1", "b": "3"}, watched=["a", "b"])
    assert not diff.rotations
    assert diff.cursor.versions == {"a": "1", "b": "3"}


def test_other_namespace_is_a_new_baseline_keeping_the_counter() -> None:
    c0 = RotationCursor("elsewhere", {"a": "1"}, 5)
    diff = diff_versions(c0, namespace=NS, current={"a": "2"}, watched=["a"])
    assert diff.baseline
    assert diff.cursor.counter == 5


@pytest.mark.parametrize(
    ("version", "previous", "expected"),
    [
        ("10", "9", True),
        ("010", "10", False),
        ("9", "10", True),
        ("x", "x", False),
        ("1", None, True),
    ],
)
def test_is_newer(version: str, previous: str | None, expected: bool) -> None:
    assert is_newer(version, previous) is expected
