"""The apiserver's Secrets Table read into SecretMetadata: real type, key count, no value."""

from __future__ import annotations

from floe_dagster_secrets.kube.table import metadata_from_table

TABLE = {
    "kind": "Table",
    "apiVersion": "meta.k8s.io/v1",
    "columnDefinitions": [
        {"name": "Name", "type": "string"},
        {"name": "Type", "type": "string"},
        {"name": "Data", "type": "string"},
        {"name": "Age", "type": "string"},
    ],
    "rows": [
        {
            "cells": ["tls-secret", "kubernetes.io/tls", 2, "3d"],
            "object": {
                "kind": "PartialObjectMetadata",
                "metadata": {"name": "tls-secret", "resourceVersion": "7"},
            },
        },
        {
            "cells": ["ours-dev-credentials", "Opaque", 1, "1m"],
            "object": {
                "kind": "PartialObjectMetadata",
                "metadata": {
                    "name": "ours-dev-credentials",
                    "labels": {"app.kubernetes.io/managed-by": "floe"},
                    "annotations": {"floe.dev/keys": "TOKEN"},
                },
            },
        },
    ],
}


def test_rows_give_type_and_count_and_floe_keys() -> None:
    theirs, ours = metadata_from_table(TABLE, "ns")
    assert (theirs.name, theirs.type, theirs.keys_known, theirs.key_count) == (
        "tls-secret",
        "kubernetes.io/tls",
        False,
        2,
    )
    assert theirs.version == "7"
    assert (ours.type, ours.keys, ours.keys_known, ours.key_count) == (
        "Opaque",
        ("TOKEN",),
        True,
        1,
    )


def test_an_empty_table_is_no_secret() -> None:
    assert metadata_from_table({"kind": "Table", "rows": []}, "ns") == []
