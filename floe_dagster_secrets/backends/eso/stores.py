"""ClusterSecretStore generation for the ADR's stores: AWS, GCP, Azure and Vault.

Pure: settings in, the object out. Every store authenticates with an identity the platform
already has (a ServiceAccount token, workload identity, a managed identity, Vault's Kubernetes
auth), so no generated store ever embeds or references a static credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from floe_dagster_secrets.backends.eso.objects import (
    BACKEND,
    DEFAULT_API_VERSION,
    GROUP,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    STORE_KIND,
    ApiVersion,
)
from floe_dagster_secrets.errors import InvalidManifestError

Provider = Literal["aws", "gcp", "azure", "vault"]


@dataclass(frozen=True)
class StoreSettings:
    """The manifest's ``plugins.secrets.config`` fields that describe the store.

    Attributes:
        provider: Which cloud store backs the ClusterSecretStore.
        region: AWS region.
        project: GCP project ID.
        cluster_location / cluster_name: GKE cluster of the workload identity (GCP).
        vault_url: Azure Key Vault URL.
        vault_address: Vault server address.
        vault_path: Vault KV v2 mount (ESO's ``path``).
        vault_role: Vault role for Kubernetes auth.
        vault_auth_mount: Mount path of Vault's Kubernetes auth method.
        service_account / service_account_namespace: The ServiceAccount ESO authenticates as
            (AWS JWT, GCP workload identity, Vault Kubernetes auth).
    """

    provider: Provider
    region: str | None = None
    project: str | None = None
    cluster_location: str | None = None
    cluster_name: str | None = None
    vault_url: str | None = None
    vault_address: str | None = None
    vault_path: str = "secret"
    vault_role: str | None = None
    vault_auth_mount: str = "kubernetes"
    service_account: str = "external-secrets"
    service_account_namespace: str = "external-secrets"


def _need(settings: StoreSettings, field: str) -> str:
    value = getattr(settings, field)
    if not value:
        raise InvalidManifestError(
            f"The {settings.provider} ClusterSecretStore needs '{field}'",
            fix=f"set plugins.secrets.config.{field}",
            backend=BACKEND,
        )
    return str(value)


def _service_account_ref(settings: StoreSettings) -> dict[str, str]:
    return {"name": settings.service_account, "namespace": settings.service_account_namespace}


def provider_spec(settings: StoreSettings) -> dict[str, Any]:
    """The ``spec.provider`` of the store for ``settings.provider``."""
    if settings.provider == "aws":
        return {
            "aws": {
                "service": "SecretsManager",
                "region": _need(settings, "region"),
                "auth": {"jwt": {"serviceAccountRef": _service_account_ref(settings)}},
            }
        }
    if settings.provider == "gcp":
        identity: dict[str, Any] = {"serviceAccountRef": _service_account_ref(settings)}
        if settings.cluster_location:
            identity["clusterLocation"] = settings.cluster_location
        if settings.cluster_name:
            identity["clusterName"] = settings.cluster_name
        return {
            "gcpsm": {
                "projectID": _need(settings, "project"),
                "auth": {"workloadIdentity": identity},
            }
        }
    if settings.provider == "azure":
        return {
            "azurekv": {"vaultUrl": _need(settings, "vault_url"), "authType": "ManagedIdentity"}
        }
    if settings.provider == "vault":
        return {
            "vault": {
                "server": _need(settings, "vault_address"),
                "path": settings.vault_path,
                "version": "v2",
                "auth": {
                    "kubernetes": {
                        "mountPath": settings.vault_auth_mount,
                        "role": _need(settings, "vault_role"),
                        # Out of the pod (and for any identity other than ESO's own), ESO mints
                        # a short-lived token for this ServiceAccount through TokenRequest.
                        "serviceAccountRef": _service_account_ref(settings),
                    }
                },
            }
        }
    raise InvalidManifestError(
        f"Unknown ClusterSecretStore provider '{settings.provider}'",
        fix="set plugins.secrets.config.provider to aws, gcp, azure or vault",
        backend=BACKEND,
    )


def cluster_secret_store_body(
    name: str, settings: StoreSettings, *, api_version: ApiVersion = DEFAULT_API_VERSION
) -> dict[str, Any]:
    """A ClusterSecretStore named ``name`` for ``settings``."""
    return {
        "apiVersion": f"{GROUP}/{api_version}",
        "kind": STORE_KIND,
        "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}},
        "spec": {"provider": provider_spec(settings)},
    }
