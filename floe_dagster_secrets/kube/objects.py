"""Pure helpers of the Kubernetes backend: input checks, Secret bodies, metadata from JSON.

Everything here runs without a cluster. Input is checked before any request, with the rules the
apiserver itself applies, so a bad name or an oversized value is our clear error and nothing is
half-written.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from floe_dagster_secrets.backends import validation
from floe_dagster_secrets.backends.validation import MAX_SECRET_BYTES
from floe_dagster_secrets.errors import InvalidSecretValueError
from floe_dagster_secrets.types import SecretMetadata

BACKEND = "k8s"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "floe"
KEYS_ANNOTATION = "floe.dev/keys"
"""Key names of a secret floe wrote: metadata-only listing cannot see ``data``."""
UNKNOWN_TYPE = "unknown"
"""Type reported by ``list_secrets`` for a secret floe did not write (metadata carries no type)."""


def check_name(name: str, namespace: str) -> None:
    """Namespace and Secret name follow the apiserver's rules (checked before any request)."""
    validation.check_namespace(namespace, backend=BACKEND)
    validation.check_secret_name(name, namespace, backend=BACKEND)


def encode_data(name: str, namespace: str, data: Mapping[str, str]) -> dict[str, str]:
    """Check keys, values and total size with the shared Kubernetes rules; base64 the values.

    Raises:
        InvalidSecretReferenceError: A key the apiserver would reject.
        InvalidSecretValueError: A value that is not UTF-8 text, or more than 1 MiB in total.
    """
    clean = validation.check_secret_data(name, namespace, data, backend=BACKEND)
    return {
        key: base64.b64encode(value.encode("utf-8")).decode("ascii") for key, value in clean.items()
    }


def check_encoded_size(name: str, namespace: str, encoded: Mapping[str, str]) -> None:
    """Refuse merged ``data`` whose decoded values add up to more than the apiserver accepts."""
    total = encoded_size(encoded)
    if total > MAX_SECRET_BYTES:
        raise InvalidSecretValueError(
            f"The secret's values would total {total} bytes, more than Kubernetes allows "
            f"({MAX_SECRET_BYTES} bytes = 1 MiB)",
            fix="keep large files out of secrets: store them elsewhere and keep only the "
            "credential that unlocks them here",
            backend=BACKEND,
            secret=name,
            namespace=namespace,
        )


def encoded_size(data: Mapping[str, str]) -> int:
    """Decoded size in bytes of base64 ``data`` values, without decoding them."""
    total = 0
    for value in data.values():
        padding = value.count("=", max(0, len(value) - 2))
        total += len(value) * 3 // 4 - padding
    return total


def decode_value(name: str, namespace: str, key: str, value: str) -> str:
    """Decode one ``data`` value to text, naming the key (never the value) when it is not UTF-8."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        # from None: a UnicodeDecodeError's ``object`` holds the decoded bytes (the value), and
        # a chained cause would carry them into tracebacks and error reporters
        raise InvalidSecretValueError(
            f"The value of key '{key}' is not UTF-8 text (binary data?)",
            fix=f"store text in '{key}' (base64-encode binary material before storing it), or "
            "mount this secret as a file instead of reading it through floe",
            backend=BACKEND,
            secret=name,
            namespace=namespace,
        ) from None


def keys_annotation(keys: Mapping[str, object]) -> str:
    """The ``floe.dev/keys`` annotation: sorted key names, comma-separated (keys have no ',')."""
    return ",".join(sorted(keys))


def secret_body(name: str, namespace: str, encoded: Mapping[str, str]) -> dict[str, Any]:
    """A new Opaque Secret that says floe manages it and lists its keys for metadata listing."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
            "annotations": {KEYS_ANNOTATION: keys_annotation(encoded)},
        },
        "type": "Opaque",
        "data": dict(encoded),
    }


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def is_managed(meta: Mapping[str, Any]) -> bool:
    """Whether the object carries floe's managed-by label."""
    labels = meta.get("labels") or {}
    return bool(labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE)


def tracked_data_keys(meta: Mapping[str, Any]) -> frozenset[str] | None:
    """The ``data`` keys the apiserver's field tracking (``managedFields``) knows of, or None.

    Every write records which fields its manager set, and a field a later write removes
    (``kubectl patch`` of ``/data/KEY``, an update without it) leaves every manager's set: so the
    union of the ``f:data`` entries names the keys the Secret holds, without its values. None
    when that cannot be relied on: no ``managedFields`` (stripped, or not sent), or a write
    through ``stringData`` (tracked under another field).
    """
    entries = meta.get("managedFields")
    if not isinstance(entries, list) or not entries:
        return None
    keys: set[str] = set()
    for entry in entries:
        fields = (entry or {}).get("fieldsV1") if isinstance(entry, Mapping) else None
        if not isinstance(fields, Mapping):
            return None
        if "f:stringData" in fields:
            return None
        data = fields.get("f:data")
        if isinstance(data, Mapping):
            keys.update(k[2:] for k in data if isinstance(k, str) and k.startswith("f:"))
    return frozenset(keys)


def metadata_from_object(
    obj: Mapping[str, Any], namespace: str, *, data_keys: tuple[str, ...] | None = None
) -> SecretMetadata:
    """SecretMetadata from a Secret or a PartialObjectMetadata (JSON dict).

    Args:
        obj: The object as the apiserver returned it.
        namespace: Namespace it was listed or read in.
        data_keys: Key names when the object's ``data`` was seen (describe); ``None`` for
            metadata-only objects, whose keys come from floe's annotation or stay unknown.
    """
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    managed = is_managed(meta)
    keys_known = data_keys is not None
    keys = data_keys or ()
    stale_keys: tuple[str, ...] | None = None
    if data_keys is None and managed and KEYS_ANNOTATION in annotations:
        annotated = annotations[KEYS_ANNOTATION]
        keys = tuple(k for k in annotated.split(",") if k)
        keys_known = True
        tracked = tracked_data_keys(meta)
        if tracked is not None and tracked != set(keys):
            # keys changed outside floe (kubectl): the annotation no longer names them
            keys, keys_known, stale_keys = (), False, keys
    secret_type = obj.get("type") or ("Opaque" if managed else UNKNOWN_TYPE)
    field_times = [_time(entry.get("time")) for entry in meta.get("managedFields") or ()]
    created = _time(meta.get("creationTimestamp"))
    updated = max((t for t in field_times if t is not None), default=created)
    return SecretMetadata(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace") or namespace),
        backend=BACKEND,
        keys=keys,
        version=str(meta.get("resourceVersion", "")),
        type=str(secret_type),
        created=created,
        updated=updated,
        managed_by_floe=managed,
        labels=labels,
        keys_known=keys_known,
        stale_keys=stale_keys,
        extra={"uid": meta.get("uid")},
    )
