"""A floe Secret whose ``floe.dev/keys`` annotation disagrees with what it holds is not trusted.

Pure decisions on the objects the apiserver returns: the Table's key count, and the field
tracking (``managedFields``) a metadata-only watch carries. The real apiserver's behaviour is
tested in ``tests/integration/test_stale_keys_annotation.py``.
"""

from __future__ import annotations

from typing import Any

from floe_dagster_secrets.kube.objects import metadata_from_object, tracked_data_keys
from floe_dagster_secrets.kube.table import metadata_from_table
from floe_dagster_secrets.types import SecretMetadata

FLOE = {"app.kubernetes.io/managed-by": "floe"}


def managed_fields(*data_keys: str, string_data: bool = False) -> list[dict[str, Any]]:
    fields: dict[str, Any] = {"f:data": {".": {}, **{f"f:{k}": {} for k in data_keys}}}
    if string_data:
        fields["f:stringData"] = {"f:X": {}}
    return [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": fields}]


def obj(annotated: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "db",
        "labels": FLOE,
        "annotations": {"floe.dev/keys": annotated},
    }
    if fields is not None:
        meta["managedFields"] = fields
    return {"metadata": meta}


def table(count: int, o: dict[str, Any]) -> dict[str, Any]:
    return {
        "columnDefinitions": [{"name": "Name"}, {"name": "Type"}, {"name": "Data"}],
        "rows": [{"cells": ["db", "Opaque", count], "object": o}],
    }


def test_table_count_below_the_annotation_fails_by_count_saying_it_is_stale() -> None:
    (meta,) = metadata_from_table(table(1, obj("PASSWORD,USER")), "jobs")
    assert (meta.keys, meta.keys_known, meta.key_count) == ((), False, 1)
    assert meta.stale_keys == ("PASSWORD", "USER")
    check = meta.check_keys(["USER", "PASSWORD"])
    assert not check.complete
    assert check.problem is not None
    assert check.problem.startswith("has 1 key, the manifest requires 2 (USER, PASSWORD)")
    assert "floe.dev/keys annotation is stale (it lists PASSWORD, USER" in check.problem


def test_table_count_above_the_annotation_passes_by_count_with_a_note() -> None:
    (meta,) = metadata_from_table(table(3, obj("PASSWORD,USER")), "jobs")
    check = meta.check_keys(["USER", "TOKEN"])  # TOKEN may be the key kubectl added
    assert check.complete
    assert not check.names_checked
    assert check.note is not None
    assert "annotation is stale" in check.note


def test_a_matching_count_keeps_the_names() -> None:
    (meta,) = metadata_from_table(table(2, obj("PASSWORD,USER")), "jobs")
    assert (meta.keys, meta.keys_known, meta.stale_keys) == (("PASSWORD", "USER"), True, None)
    assert meta.check_keys(["USER", "TOKEN"]).missing == ("TOKEN",)


def test_check_keys_prefers_a_contradicting_count_even_with_names_known() -> None:
    meta = SecretMetadata("db", "jobs", "k8s", ("PASSWORD", "USER"), "1", key_count=1)
    check = meta.check_keys(["USER", "PASSWORD"])
    assert check.short
    assert not check.names_checked


def test_field_tracking_that_lacks_an_annotated_key_distrusts_the_annotation() -> None:
    meta = metadata_from_object(obj("PASSWORD,USER", managed_fields("USER")), "jobs")
    assert (meta.keys, meta.keys_known, meta.key_count) == ((), False, None)
    assert meta.stale_keys == ("PASSWORD", "USER")


def test_field_tracking_that_agrees_keeps_the_annotation() -> None:
    meta = metadata_from_object(obj("PASSWORD,USER", managed_fields("USER", "PASSWORD")), "jobs")
    assert (meta.keys, meta.keys_known, meta.stale_keys) == (("PASSWORD", "USER"), True, None)


def test_no_field_tracking_or_string_data_is_no_verdict() -> None:
    assert tracked_data_keys({}) is None
    assert tracked_data_keys({"managedFields": managed_fields("A", string_data=True)}) is None
    meta = metadata_from_object(obj("PASSWORD,USER"), "jobs")
    assert (meta.keys, meta.keys_known) == (("PASSWORD", "USER"), True)
