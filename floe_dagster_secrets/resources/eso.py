"""Resource for the External Secrets Operator: read the Secrets ESO synced, at run time.

Only references are configured: the ClusterSecretStore's name and settings, the refresh interval
and how to reach the cluster. Values come from the Kubernetes Secret ESO wrote, when a step asks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from floe_dagster_secrets.resources.base import FloeSecretsResource


class ESOSecretsResource(FloeSecretsResource):
    """Secrets synced by the External Secrets Operator into ``namespace``.

    For example:

    ```python
    from dagster import Definitions

    from floe_dagster_secrets.resources import ESOSecretsResource

    defs = Definitions(
        assets=[...],
        resources={"secrets": ESOSecretsResource(namespace="floe-jobs",
                                                 store="aws-secrets-manager",
                                                 provider="aws", region="eu-west-1")},
    )
    ```
    """

    backend: ClassVar[str] = "external-secrets"

    store: str = Field(description="Name of the ClusterSecretStore the ExternalSecrets read.")
    refresh_interval: str = Field(default="1h", description="ESO's re-sync interval.")
    provider: str | None = Field(
        default=None, description="Provider behind the store: aws, gcp, azure or vault."
    )
    region: str | None = Field(default=None, description="AWS region.")
    project: str | None = Field(default=None, description="GCP project ID.")
    vault_url: str | None = Field(default=None, description="Azure Key Vault URL.")
    cluster_location: str | None = Field(default=None, description="GKE cluster location.")
    cluster_name: str | None = Field(default=None, description="GKE cluster name.")
    service_account: str | None = Field(default=None, description="ServiceAccount ESO uses.")
    service_account_namespace: str | None = Field(
        default=None, description="Namespace of that ServiceAccount."
    )
    vault_address: str | None = Field(default=None, description="Vault address (vault store).")
    vault_path: str | None = Field(default=None, description="Vault KV v2 mount (vault store).")
    vault_role: str | None = Field(default=None, description="Vault Kubernetes auth role.")
    vault_auth_mount: str | None = Field(
        default=None, description="Mount path of Vault's Kubernetes auth."
    )
    vault_token_env: str | None = Field(
        default=None, description="NAME of the env var with the Vault token used for writes."
    )
    vault_token_file: str | None = Field(
        default=None, description="Path of a file with the Vault token used for writes."
    )
    remote_key_prefix: str = Field(default="floe/", description="Prefix of the remote keys.")
    api_version: str = Field(
        default="v1", description="ExternalSecret API version (v1beta1: ESO before 0.17)."
    )
    sync_timeout: float = Field(default=60.0, description="Seconds to wait for a forced sync.")
    kubeconfig: str | None = Field(
        default=None, description="Path to a kubeconfig file (a path, not its contents)."
    )
    context: str | None = Field(default=None, description="kubeconfig context to use.")
    in_cluster: bool | None = Field(
        default=None, description="Use the pod's ServiceAccount (None: decide automatically)."
    )

    def backend_kwargs(self) -> dict[str, Any]:
        """``ESOSecretsPlugin(**fields)`` without ``namespace``."""
        fields = self.model_dump()
        fields.pop("namespace", None)
        return fields
