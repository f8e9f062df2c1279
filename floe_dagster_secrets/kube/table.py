"""Secrets as the apiserver's server-side Table: name, type, data count, age, metadata; no value.

What ``kubectl get secrets`` reads (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``):
the apiserver renders each Secret into the cells ``Name``, ``Type``, ``Data`` (the number of
keys) and ``Age``, and with ``includeObject=Metadata`` attaches the object's
``PartialObjectMetadata`` (labels, annotations, ``resourceVersion``), never its ``data``. So a
listing or a describe can show the real type (``Opaque``, ``kubernetes.io/tls`` …) and how many
keys a Secret holds without a single value crossing the wire.

What it cannot give is the key *names* of a Secret floe did not write: Kubernetes shows them only
with the values. floe's own Secrets carry them in the ``floe.dev/keys`` annotation; for the
others ``keys_known`` stays False and the key count is ``SecretMetadata.key_count``, which is
enough to tell a Secret with fewer keys than the manifest requires (``check_keys``).

The annotation is only as good as the last write through floe: a key removed (or added) with
``kubectl edit``/``patch`` leaves it listing the old names. Where the Table's count disagrees with
the annotation, or the apiserver's field tracking does (``managedFields``, see
:func:`~floe_dagster_secrets.kube.objects.tracked_data_keys`; the metadata-only watch has no
count, so that is what keeps the launcher's cache from vouching for a stale annotation), the
names are not trusted: ``keys_known`` False, the annotated names kept as ``stale_keys`` so the
problem text can say the annotation is stale, and the Secret is judged by its count like one
floe did not write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from floe_dagster_secrets.kube.objects import metadata_from_object
from floe_dagster_secrets.types import SecretMetadata

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"
"""Ask for the server-side Table rendering (with ``includeObject=Metadata``: no ``data``)."""
TABLE_QUERY: tuple[tuple[str, str], ...] = (("includeObject", "Metadata"),)


def _cells(table: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    names = [str(column.get("name", "")) for column in table.get("columnDefinitions") or ()]
    return dict(zip(names, row.get("cells") or (), strict=False))


def metadata_from_table(table: Mapping[str, Any], namespace: str) -> list[SecretMetadata]:
    """One :class:`SecretMetadata` per row of a Secrets Table.

    Type and key count come from the cells, the rest from the row's metadata (key names from
    floe's annotation where floe wrote the Secret).
    """
    found: list[SecretMetadata] = []
    for row in table.get("rows") or ():
        cells = _cells(table, row)
        meta = metadata_from_object(row.get("object") or {}, namespace)
        count = cells.get("Data")
        key_count = count if isinstance(count, int) and not isinstance(count, bool) else None
        meta = dataclasses.replace(
            meta, type=str(cells.get("Type") or meta.type), key_count=key_count
        )
        if meta.keys_known and key_count is not None and key_count != len(meta.keys):
            # the annotation lists more or fewer keys than the Secret holds: changed outside floe
            meta = dataclasses.replace(meta, keys=(), keys_known=False, stale_keys=meta.keys)
        found.append(meta)
    return found
