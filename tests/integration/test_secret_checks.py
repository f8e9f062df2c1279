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
    # A Secret floe did not write: the check reads the apiserver's Table (no value on the
    # wire), so it knows the key count, not the names. Two keys for three required: ERROR.
    incomplete = evaluate(kube_apiserver, k8s_namespace)
    assert incomplete.severity == dg.AssetCheckSeverity.ERROR
    assert not incomplete.passed
    finding = incomplete.metadata["findings"].value[0]
    assert (finding["status"], finding["missing_keys"], finding["key_names_checked"]) == (
        "missing_keys",
        [],
        False,
    )
    assert finding["detail"] == (
        "has 2 keys, the manifest requires 3 (POSTGRES_HOST, POSTGRES_USER, POSTGRES_PASSWORD); "
        "key names of a Secret floe did not write are not visible without reading values"
    )

    # Three keys, one of them misnamed: the count is right and the names cannot be seen, so it
    # passes, and the metadata says the names were not checked.
    core.patch_namespaced_secret(PG, k8s_namespace, {"stringData": {"POSTGRES_PASWORD": CANARY}})
    misnamed = evaluate(kube_apiserver, k8s_namespace)
    assert misnamed.passed
    finding = misnamed.metadata["findings"].value[0]
    assert (finding["status"], finding["key_names_checked"]) == ("ok", False)
    assert finding["detail"].startswith("key names not checked (it has 3 keys, the manifest")
    assert "not checked, only their count" in (misnamed.description or "")

    core.replace_namespaced_secret(
        PG,
        k8s_namespace,
        {
            "metadata": {"name": PG},
            "stringData": {
                "POSTGRES_HOST": "db",
                "POSTGRES_USER": "u",
                "POSTGRES_PASSWORD": CANARY,
            },
        },
    )
    version = core.read_namespaced_secret(PG, k8s_namespace).metadata.resource_version
    complete = evaluate(kube_apiserver, k8s_namespace)
    assert complete.passed
    finding = complete.metadata["findings"].value[0]
    assert finding["version"] == version
    assert (finding["age_days"], finding["max_age_days"]) == (0, 30)
    for evaluation in (incomplete, misnamed, complete):
        assert CANARY not in str(evaluation.metadata)
        assert CANARY not in (evaluation.description or "")
