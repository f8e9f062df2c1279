"""Every object floe generates for ESO is accepted by the real apiserver with ESO's real CRDs.

The CRDs are the pinned ESO release's own bundle, applied server-side; each object goes through
the apiserver's OpenAPI schema validation with ``dryRun=All`` (validated, nothing stored). A
deliberately wrong object is refused, with our error naming what was refused.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.errors import BackendNotInstalledError, InvalidSecretValueError
from tests.servers import KubeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

STORES: dict[str, dict[str, Any]] = {
    "aws": {"region": "eu-west-1"},
    "gcp": {"project": "my-gcp-project", "cluster_location": "us-central1", "cluster_name": "c1"},
    "azure": {"vault_url": "https://my-vault.vault.azure.net"},
    "vault": {
        "vault_address": "https://vault.example.com",
        "vault_path": "secret",
        "vault_role": "floe",
        "vault_auth_mount": "kubernetes",
    },
}


def plugin(kubeconfig: Path, provider: str, **extra: Any) -> ESOSecretsPlugin:
    return ESOSecretsPlugin(
        store=f"floe-{provider}-store",
        provider=provider,  # type: ignore[arg-type]
        kubeconfig=str(kubeconfig),
        **{**STORES[provider], **extra},
    )


def contains(got: Any, sent: Any) -> bool:
    """Whether ``got`` holds every field of ``sent`` with the same value."""
    if isinstance(sent, dict):
        return isinstance(got, dict) and all(
            k in got and contains(got[k], v) for k, v in sent.items()
        )
    if isinstance(sent, list):
        return isinstance(got, list) and len(got) == len(sent) and all(map(contains, got, sent))
    return bool(got == sent)


@pytest.mark.parametrize("provider", sorted(STORES))
def test_cluster_secret_store_passes_schema_validation(
    kube_apiserver: KubeApiServer, eso_crds: float, provider: str
) -> None:
    eso = plugin(kube_apiserver.admin_kubeconfig, provider)
    try:
        answer = eso.apply_cluster_secret_store(dry_run=True)
        assert answer["kind"] == "ClusterSecretStore"
        assert answer["apiVersion"] == "external-secrets.io/v1"
        # everything floe sent came back (the CRD's defaults may add fields)
        assert contains(answer["spec"], eso.cluster_secret_store()["spec"])
        stored = kube_apiserver.run_kubectl(
            "get", "clustersecretstore", eso.store, "--ignore-not-found", "-o", "name"
        )
        assert stored.stdout.strip() == ""  # dryRun=All stores nothing
    finally:
        eso.close()


@pytest.mark.parametrize("provider", sorted(STORES))
def test_external_secret_passes_schema_validation(
    kube_apiserver: KubeApiServer, eso_crds: float, k8s_namespace: str, provider: str
) -> None:
    eso = plugin(kube_apiserver.admin_kubeconfig, provider, refresh_interval="15m")
    try:
        answer = eso.apply_external_secret(
            "snowflake-credentials",
            k8s_namespace,
            ["SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD"],
            dry_run=True,
        )
        spec = answer["spec"]
        assert spec["secretStoreRef"] == {"name": eso.store, "kind": "ClusterSecretStore"}
        assert spec["target"]["creationPolicy"] == "Owner"
        assert spec["refreshInterval"] == "15m"
        assert [d["secretKey"] for d in spec["data"]] == [
            "SNOWFLAKE_ACCOUNT",
            "SNOWFLAKE_PASSWORD",
            "SNOWFLAKE_USER",
        ]
        assert {d["remoteRef"]["key"] for d in spec["data"]} == {
            f"floe/{k8s_namespace}/snowflake-credentials"
        }
    finally:
        eso.close()


def test_wrong_store_is_rejected_by_the_schema(
    kube_apiserver: KubeApiServer, eso_crds: float
) -> None:
    eso = plugin(kube_apiserver.admin_kubeconfig, "aws")
    try:
        body = copy.deepcopy(eso.cluster_secret_store())
        body["spec"]["provider"]["aws"]["service"] = "S3"  # not in the CRD's enum
        del body["spec"]["provider"]["aws"]["region"]  # required by the CRD
        with pytest.raises(InvalidSecretValueError) as raised:
            eso._api.apply(
                f"/apis/external-secrets.io/v1/clustersecretstores/{eso.store}",
                body,
                namespace="",
                name=eso.store,
                kind="ClusterSecretStore",
                dry_run=True,
            )
        message = str(raised.value)
        assert "refused the ClusterSecretStore" in message
        assert "spec.provider.aws.service" in message
        assert "spec.provider.aws.region" in message
        assert "backend 'external-secrets'" in message
    finally:
        eso.close()


def test_wrong_external_secret_is_rejected_by_the_schema(
    kube_apiserver: KubeApiServer, eso_crds: float, k8s_namespace: str
) -> None:
    eso = plugin(kube_apiserver.admin_kubeconfig, "vault")
    try:
        body = eso.external_secret("broken-credentials", k8s_namespace, ["A"])
        del body["spec"]["data"][0]["remoteRef"]["key"]  # remoteRef.key is required
        body["spec"]["target"]["creationPolicy"] = "Sometimes"  # not in the enum
        with pytest.raises(InvalidSecretValueError) as raised:
            eso._api.apply(
                f"/apis/external-secrets.io/v1/namespaces/{k8s_namespace}/externalsecrets/"
                "broken-credentials",
                body,
                namespace=k8s_namespace,
                name="broken-credentials",
                kind="ExternalSecret",
                dry_run=True,
            )
        message = str(raised.value)
        assert "spec.data[0].remoteRef.key" in message
        assert "spec.target.creationPolicy" in message
        assert "secret 'broken-credentials'" in message
    finally:
        eso.close()


def test_v1beta1_is_an_explicit_option_that_this_release_no_longer_serves(
    kube_apiserver: KubeApiServer, eso_crds: float, k8s_namespace: str
) -> None:
    """ESO 0.17+ stopped serving v1beta1: the option exists for older clusters, and here it
    fails with our error that names the CRDs and the setting to change."""
    eso = plugin(kube_apiserver.admin_kubeconfig, "aws", api_version="v1beta1")
    try:
        body = eso.external_secret("old-credentials", k8s_namespace, ["K"])
        assert body["apiVersion"] == "external-secrets.io/v1beta1"
        with pytest.raises(BackendNotInstalledError, match="api_version"):
            eso.apply_external_secret("old-credentials", k8s_namespace, ["K"], dry_run=True)
    finally:
        eso.close()
