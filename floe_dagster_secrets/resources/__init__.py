"""Dagster resources over the secrets backends: references in config, values fetched at run time."""

from floe_dagster_secrets.resources.base import FloeSecretsResource as FloeSecretsResource
from floe_dagster_secrets.resources.kubernetes import K8sSecretsResource as K8sSecretsResource
from floe_dagster_secrets.resources.local import LocalSecretsResource as LocalSecretsResource

__all__ = ["FloeSecretsResource", "K8sSecretsResource", "LocalSecretsResource"]
