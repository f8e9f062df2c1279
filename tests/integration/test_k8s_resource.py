"""K8sSecretsResource in a real Dagster run against a real kube-apiserver.

The resource holds a kubeconfig *path* and a namespace; the Secret's value is read in the step and
never reaches the job snapshot or the event log.
"""

import secrets
from pathlib import Path

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    Definitions,
    asset,
    define_asset_job,
    serialize_value,
)
from kubernetes import client as k8s

from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.masking import encoded_forms
from floe_dagster_secrets.resources import K8sSecretsResource
from tests.servers import KubeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SECRET = "warehouse-dev-credentials"


def _definitions(resource: K8sSecretsResource) -> Definitions:
    @asset
    def needs_credentials(context: AssetExecutionContext, secrets: K8sSecretsResource) -> int:
        env = secrets.env_for([SECRET], prefix="DBT_ENV_SECRET_")
        context.log.info(f"password is {env['DBT_ENV_SECRET_PASSWORD']}")
        return len(env)

    return Definitions(
        assets=[needs_credentials],
        jobs=[define_asset_job("needs_credentials_job")],
        resources={"secrets": resource},
    )


def test_k8s_resource_reads_the_secret_at_run_time_and_leaks_nothing(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    canary = f"canary{secrets.token_urlsafe(24)}"
    k8s.CoreV1Api(kube_apiserver.api_client()).create_namespaced_secret(
        k8s_namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=SECRET),
            string_data={"USER": "dbt", "PASSWORD": canary},
        ),
    )
    resource = K8sSecretsResource(
        kubeconfig=str(kube_apiserver.admin_kubeconfig), namespace=k8s_namespace
    )
    defs = _definitions(resource)
    job = defs.resolve_job_def("needs_credentials_job")
    forms = encoded_forms(canary)
    assert not any(form in serialize_value(job.get_job_snapshot()) for form in forms)

    home = tmp_path / "home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        result = job.execute_in_process(instance=instance)
        assert result.success
        assert result.output_for_node("needs_credentials") == 2
        messages = [r.user_message for r in instance.all_logs(result.run_id)]
    assert "password is ***" in messages
    leaks = [
        str(path)
        for path in home.rglob("*")
        if path.is_file() and any(form.encode() in path.read_bytes() for form in forms)
    ]
    assert leaks == []


def test_k8s_resource_without_rbac_fails_with_access_denied(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    resource = K8sSecretsResource(
        kubeconfig=str(kube_apiserver.restricted_kubeconfig), namespace=k8s_namespace
    )

    with pytest.raises(SecretAccessDeniedError) as denied:
        resource.get_secret(SECRET)

    assert k8s_namespace in str(denied.value)
    assert "Fix:" in str(denied.value)
