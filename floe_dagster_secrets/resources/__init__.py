"""Dagster resources over the secrets backends: references in config, values fetched at run time."""

from floe_dagster_secrets.asset_metadata import SECRETS_METADATA_KEY as SECRETS_METADATA_KEY
from floe_dagster_secrets.asset_metadata import secrets_from_metadata as secrets_from_metadata
from floe_dagster_secrets.asset_metadata import secrets_metadata as secrets_metadata
from floe_dagster_secrets.resources.base import FloeSecretsResource as FloeSecretsResource
from floe_dagster_secrets.resources.eso import ESOSecretsResource as ESOSecretsResource
from floe_dagster_secrets.resources.factory import (
    secrets_resource_from_manifest as secrets_resource_from_manifest,
)
from floe_dagster_secrets.resources.kubernetes import K8sSecretsResource as K8sSecretsResource
from floe_dagster_secrets.resources.local import LocalSecretsResource as LocalSecretsResource
from floe_dagster_secrets.resources.vault import VaultSecretsResource as VaultSecretsResource

__all__ = [
    "SECRETS_METADATA_KEY",
    "ESOSecretsResource",
    "FloeSecretsResource",
    "K8sSecretsResource",
    "LocalSecretsResource",
    "VaultSecretsResource",
    "secrets_from_metadata",
    "secrets_metadata",
    "secrets_resource_from_manifest",
]
