"""Which secrets an asset needs, recorded in its metadata where a run launcher can read it.

Code locations tag each asset with ``floe/secrets: "name-a,name-b"``; the launcher reads the same
key back to decide which secrets to mount into the run's pod. Names only, never values.

Pure and free of dagster, at the package's top level: the launcher, the sensors, the checks and
Pipes read it without depending on the resource layer (``floe_dagster_secrets.resources``
re-exports both functions for code locations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SECRETS_METADATA_KEY = "floe/secrets"


def secrets_metadata(secret_names: Iterable[str]) -> dict[str, str]:
    """``{"floe/secrets": "a,b"}`` for an asset spec, de-duplicated in first-seen order."""
    return {SECRETS_METADATA_KEY: ",".join(dict.fromkeys(secret_names))}


def secrets_from_metadata(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """The secret names recorded under ``floe/secrets`` (a plain or a Dagster text value)."""
    raw = metadata.get(SECRETS_METADATA_KEY)
    text = getattr(raw, "value", raw)
    if not isinstance(text, str):
        return ()
    return tuple(name.strip() for name in text.split(",") if name.strip())
