"""Secrets as Dagster assets: lineage edges, catalog tags, observations, run-log events."""

from floe_dagster_secrets.assets.access_events import access_metadata, install_run_log_events
from floe_dagster_secrets.assets.automation import on_secret_rotation
from floe_dagster_secrets.assets.keys import (
    SECRET_ASSET_PREFIX,
    SECRET_GROUP,
    SECRET_TAG_PREFIX,
    secret_tag_key,
    secret_tags,
)
from floe_dagster_secrets.assets.lineage import (
    manifest_secret_names,
    secret_asset_specs,
    secret_assets,
    secret_lineage,
    with_secret_lineage,
)
from floe_dagster_secrets.assets.observations import observations, secret_asset_key

# Every code location that models secrets as assets gets the fetch events in its run logs.
install_run_log_events()

__all__ = [
    "SECRET_ASSET_PREFIX",
    "SECRET_GROUP",
    "SECRET_TAG_PREFIX",
    "access_metadata",
    "install_run_log_events",
    "manifest_secret_names",
    "observations",
    "on_secret_rotation",
    "secret_asset_key",
    "secret_asset_specs",
    "secret_assets",
    "secret_lineage",
    "secret_tag_key",
    "secret_tags",
    "with_secret_lineage",
]
