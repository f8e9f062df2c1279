"""FloePipesK8sClient on the real node: a Pipes pod gets exactly its asset's secrets, its output is
masked, and a missing secret fails the step before any pod exists.

Each asset runs ``PipesK8sClient``'s protocol for real: the step (this process) creates the pod
through the apiserver, the kubelet starts it with containerd from the project's image, the
external process speaks Pipes from inside (``dagster_pipes``), and the step reads its log back
through the apiserver and the kubelet. The external process prints its secret on purpose: the
raw container log holds it (the control), the forwarded output and Dagster's event log must not.
"""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.errors import SecretNotFoundError
from floe_dagster_secrets.pipes import FloePipesK8sClient
from floe_dagster_secrets.resources import K8sSecretsResource, secrets_metadata
from tests.e2e.demo_location import text_hits
from tests.e2e.node_harness import pod_log, wait_service_account
from tests.servers.image import ensure_user_code_image

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    # dagster's own Pipes code (open_pipes_session, PipesK8sClient.run) reads the deprecated
    # AssetExecutionContext.run_id and .op and a preview property in 1.13: not the caller's to fix.
    pytest.mark.filterwarnings(r"ignore:AssetExecutionContext\.\w+ is deprecated"),
    pytest.mark.filterwarnings("ignore:Function `PipesMessageReader.expected_writer_count`"),
]

ALPHA = "alpha-dev-credentials"  # the compute connection secret: envFrom prefix DBT_ENV_SECRET_
BETA = "beta-dev-credentials"
MISSING = "gamma-dev-credentials"
ALPHA_ENV = "DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY"

# Runs in the pod: name the secret variables it can see, print and log its own key (on purpose),
# report the names back through Pipes.
SCRIPT = """
import os
from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    seen = sorted(k for k in os.environ if k.startswith(("DBT_ENV_SECRET_", "BETA_")))
    value = os.environ.get("DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY") or os.environ.get("BETA_TOKEN")
    print("printed " + str(value), flush=True)
    pipes.log.info("logged " + str(value))
    pipes.report_asset_materialization(metadata={"seen": ",".join(seen)})
"""


@dataclass
class PipesNode:
    namespace: str
    image: str
    core: k8s.CoreV1Api
    kubeconfig: Path
    manifest: Path
    canaries: dict[str, str]

    def resources(self) -> dict[str, Any]:
        return {
            "pipes": FloePipesK8sClient(
                secrets_config={
                    "manifest_path": str(self.manifest),
                    "dbt_profiles_config_map": None,
                },
                load_incluster_config=False,
                kubeconfig_file=str(self.kubeconfig),
                poll_interval=0.5,
            ),
            "secrets": K8sSecretsResource(
                namespace=self.namespace, kubeconfig=str(self.kubeconfig)
            ),
        }

    def asset(self, name: str, secret: str) -> dg.AssetsDefinition:
        namespace, image = self.namespace, self.image

        @dg.asset(name=name, metadata=secrets_metadata([secret]))
        def _asset(
            context: dg.AssetExecutionContext,
            pipes: FloePipesK8sClient,
            secrets: K8sSecretsResource,  # the client reads the pod's secrets through it
        ) -> Any:
            return pipes.run(
                context=context,
                image=image,
                command=["python", "-c", SCRIPT],
                namespace=namespace,
                base_pod_spec={
                    "hostNetwork": True,
                    "dnsPolicy": "Default",
                    "containers": [{"imagePullPolicy": "Never"}],
                },
                delete_pod_on_completion=False,  # the test reads its spec and raw log
            ).get_materialize_result()

        return _asset

    def pods_of(self, run_id: str) -> list[Any]:
        return [
            pod
            for pod in self.core.list_namespaced_pod(self.namespace).items
            if pod.metadata.name.startswith(f"dagster-{run_id[:18]}-")  # dagster-k8s's pod name
        ]


@pytest.fixture(scope="module")
def pipes_node(
    kube_apiserver: Any, kube_node: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipesNode]:
    image = ensure_user_code_image(kube_node.socket)
    api = kube_apiserver.api_client()
    core = k8s.CoreV1Api(api)
    namespace = kube_apiserver.create_namespace("floe-pipes")
    wait_service_account(core, namespace, "default")
    canaries = {name: f"canary{secrets.token_urlsafe(24)}" for name in (ALPHA, BETA)}
    store = K8sSecretsPlugin(api_client=api)
    store.create_secret(ALPHA, namespace, {"DUCKDB_ENCRYPTION_KEY": canaries[ALPHA]})
    store.create_secret(BETA, namespace, {"BETA_TOKEN": canaries[BETA]})
    manifest = tmp_path_factory.mktemp("pipes") / "manifest.yaml"
    manifest.write_text(
        "environment: dev\n"
        f"plugins:\n  secrets: {{type: k8s, namespace: {namespace}}}\n"
        f"  compute: {{type: duckdb, connection_secret_ref: {ALPHA}, config: {{path: w.duckdb}}}}\n"
    )
    yield PipesNode(
        namespace, image, core, Path(kube_apiserver.admin_kubeconfig), manifest, canaries
    )
    for pod in core.list_namespaced_pod(namespace).items:
        core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)


def _materialize(env: PipesNode, asset: dg.AssetsDefinition, instance: Any) -> Any:
    return dg.materialize(
        [asset], resources=env.resources(), instance=instance, raise_on_error=False
    )


def test_the_pod_gets_only_its_assets_secret_and_its_output_is_masked(
    pipes_node: PipesNode, capfd: pytest.CaptureFixture[str]
) -> None:
    canary = pipes_node.canaries[ALPHA]
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(pipes_node, pipes_node.asset("alpha", ALPHA), instance)
        assert result.success, result.all_events
        events = instance.all_logs(result.run_id)

    (materialization,) = result.asset_materializations_for_node("alpha")
    assert materialization.metadata["seen"].value == ALPHA_ENV  # no BETA_TOKEN
    (pod,) = pipes_node.pods_of(result.run_id)
    env_from = pod.spec.containers[0].env_from
    assert [(e.secret_ref.name, e.prefix) for e in env_from] == [(ALPHA, "DBT_ENV_SECRET_")]

    raw = pod_log(pipes_node.core, pod.metadata.name, pipes_node.namespace)
    assert f"printed {canary}" in raw  # the value really was printed in the pod
    forwarded = capfd.readouterr()
    assert "printed ***" in forwarded.out
    assert text_hits(canary, forwarded.out + forwarded.err) == []
    messages = [entry.user_message for entry in events]
    assert "logged ***" in messages
    assert text_hits(canary, repr(events)) == []


def test_another_asset_gets_its_own_secret_and_not_the_first(pipes_node: PipesNode) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(pipes_node, pipes_node.asset("beta", BETA), instance)
    assert result.success, result.all_events
    (materialization,) = result.asset_materializations_for_node("beta")
    assert materialization.metadata["seen"].value == "BETA_TOKEN"
    (pod,) = pipes_node.pods_of(result.run_id)
    assert [e.secret_ref.name for e in pod.spec.containers[0].env_from] == [BETA]


def test_a_missing_secret_fails_the_step_naming_it_and_creates_no_pod(
    pipes_node: PipesNode,
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(pipes_node, pipes_node.asset("gamma", MISSING), instance)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None
    text = str(error.to_string())
    assert SecretNotFoundError.__name__ in text
    assert f"Secret '{MISSING}'" in text
    assert pipes_node.pods_of(result.run_id) == []
