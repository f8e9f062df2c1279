"""KV v2 metadata as floe's ``SecretMetadata``: versions, times and key names, never a value.

floe records a secret's key names in the entry's ``custom_metadata`` when it writes one, so
listing and describing need no data read; a secret written by someone else has its keys unknown
until ``describe_secret`` reads them once (and drops the values).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from floe_dagster_secrets.backends.vault.errors import BACKEND
from floe_dagster_secrets.types import SecretMetadata

KEYS_METADATA = "floe-keys"
"""``custom_metadata`` entry listing a secret's key names (comma-separated)."""
MANAGED_METADATA = "managed-by"
"""``custom_metadata`` entry set to ``floe`` on the secrets floe writes."""
CUSTOM_VALUE_LIMIT = 512
"""Vault's limit on one custom_metadata value: longer key lists are not recorded."""


def parse_time(text: object) -> datetime | None:
    """Vault's RFC 3339 timestamps (nanoseconds, ``Z``) as aware datetimes; None if absent."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    digits = "".join(ch for ch in frac if ch.isdigit())[:6]
    try:
        return datetime.fromisoformat(f"{head}.{digits or '0'}+00:00")
    except ValueError:
        return None


def metadata_from_kv(
    name: str, namespace: str, meta: Mapping[str, Any], *, data_path: str
) -> SecretMetadata:
    """``SecretMetadata`` from a KV v2 metadata answer (``GET <mount>/metadata/<path>``)."""
    custom = meta.get("custom_metadata") or {}
    keys_text = custom.get(KEYS_METADATA)
    keys = tuple(k for k in str(keys_text or "").split(",") if k)
    current = int(meta.get("current_version") or 0)
    return SecretMetadata(
        name=name,
        namespace=namespace,
        backend=BACKEND,
        keys=keys,
        version=str(current),
        type="kv-v2",
        created=parse_time(meta.get("created_time")),
        updated=parse_time(meta.get("updated_time")),
        managed_by_floe=custom.get(MANAGED_METADATA) == "floe",
        labels={},
        keys_known=keys_text is not None,
        extra={
            "current_version": current,
            "oldest_version": int(meta.get("oldest_version") or 0),
            "path": data_path,
        },
    )
