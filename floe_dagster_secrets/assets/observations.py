"""Observations of the ``secrets/<name>`` assets: a version and where it was read, no value.

Shared by the assets' own observation (``Observe`` in the UI) and the rotation sensor, which
reports the versions its tick already read.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from floe_dagster_secrets.assets.keys import secret_asset_path

DATA_VERSION_TAG = "dagster/data_version"
"""The tag an observation's data version travels in. Dagster reads it from observations of
external assets, but exports the name only privately (``dagster._core.definitions.data_version``);
a unit test pins the two together."""


def secret_asset_key(name: str) -> dg.AssetKey:
    """``secrets/<name>``: the asset key of secret ``name``."""
    return dg.AssetKey(secret_asset_path(name))


def observations(
    versions: Mapping[str, str | None], *, backend: str, namespace: str
) -> list[dg.AssetObservation]:
    """One observation per secret: data version = backend version; ``None`` = missing."""
    found = []
    for name, version in sorted(versions.items()):
        metadata: dict[str, Any] = {
            "backend": backend,
            "namespace": namespace,
            "exists": version is not None,
        }
        tags = {}
        if version is not None:
            metadata["version"] = version
            tags[DATA_VERSION_TAG] = version
        found.append(
            dg.AssetObservation(asset_key=secret_asset_key(name), metadata=metadata, tags=tags)
        )
    return found
