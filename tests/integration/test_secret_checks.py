"""The floe_secrets asset checks executed by Dagster against the real kube-apiserver."""

from __future__ import annotations

import dagster as dg
import pytest
from kubernetes import client

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.checks import CHECK_NAME, secret_asset_checks
from floe_dagster_secrets.manifest import Manifest, parse_manifest
from floe_dagster_secrets.resources.kubernetes import K8sSecretsResource
from tests.servers import KubeApiServer

pytestmark = pytest.mark.integration

PG = "postgres-prod-credentials"
CANARY = "canary-k8s-checks-41c9"


def manifest(namespace: str) -> Manifest:
    return parse_manifest(
        {
            "environment": "prod",
            "plugins": {
                "secrets": {"type": "k8s", "namespace": namespace},
                "compute": {
                    "type": "postgres",
                    "connection_secret_ref": PG,
                    "config": {"host": "db", "database": "analytics"},
                },
            },
            "secrets": {PG: {"max_age_days": 30, "assets": ["orders"]}},
        }
    )


@dg.asset(metadata=secrets_metadata([PG]))
def orders() -> None:
    """Reads the warehouse."""


def evaluate(kube_apiserver: KubeApiServer, namespace: str) -> dg.AssetCheckEvaluation:
    checks = secret_asset_checks([orders], manifest=manifest(namespace))
    resource = K8sSecretsResource(
        namespace=namespace, kubeconfig=str(kube_apiserver.admin_kubeconfig)
    )
    result = dg.materialize([orders, *checks], resources={"secrets": resource})
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == CHECK_NAME
    return evaluation


def test_checks_against_kubernetes_secrets(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    missing = evaluate(kube_apiserver, k8s_namespace)
    assert not missing.passed
    assert missing.severity == dg.AssetCheckSeverity.ERROR
    assert missing.metadata["findings"].value[0]["status"] == "missing"

    core = client.CoreV1Api(kube_apiserver.api_client())
    core.create_namespaced_secret(
        k8s_namespace,
        {
            "metadata": {"name": PG},
            "stringData": {"POSTGRES_HOST": "db", "POSTGRES_USER": "u"},
        },
    )
    incomplete = evaluate(kube_apiserver, k8s_namespace)
    assert incomplete.severity == dg.AssetCheckSeverity.ERROR
    finding = incomplete.metadata["findings"].value[0]
    assert finding["missing_keys"] == ["POSTGRES_PASSWORD"]

    core.patch_namespaced_secret(PG, k8s_namespace, {"stringData": {"POSTGRES_PASSWORD": CANARY}})
    version = core.read_namespaced_secret(PG, k8s_namespace).metadata.resource_version
    complete = evaluate(kube_apiserver, k8s_namespace)
    assert complete.passed
    finding = complete.metadata["findings"].value[0]
    assert finding["version"] == version
    assert (finding["age_days"], finding["max_age_days"]) == (0, 30)
    assert CANARY not in str(complete.metadata)
