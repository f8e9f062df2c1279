"""Dagster sensors: re-run the assets that use a secret when the secret is rotated."""

from __future__ import annotations

from floe_dagster_secrets.sensors.cursor import (
    Rotation,
    RotationCursor,
    VersionDiff,
    diff_versions,
    parse_cursor,
)
from floe_dagster_secrets.sensors.rotation import (
    ROTATED_SECRET_TAG,
    SecretDependents,
    make_secret_rotation_sensor,
    run_request_for,
)

__all__ = [
    "ROTATED_SECRET_TAG",
    "Rotation",
    "RotationCursor",
    "SecretDependents",
    "VersionDiff",
    "diff_versions",
    "make_secret_rotation_sensor",
    "parse_cursor",
    "run_request_for",
]
