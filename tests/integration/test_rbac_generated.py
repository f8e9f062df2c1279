"""``floe secrets rbac`` on the real kube-apiserver: server-side dry run accepts every document,
and with the generated Role bound to a real ServiceAccount token (TokenRequest) exactly the
referenced secrets are readable; every other secret and ``list`` are 403 with our error naming
the verb, the resource, the namespace and the ServiceAccount.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.cli.app import cli
from floe_dagster_secrets.errors import SecretAccessDeniedError
from tests.servers import KubeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MANIFEST = """\
environment: dev
plugins:
  secrets: {type: k8s, namespace: NAMESPACE}
  compute: {type: postgres, connection_secret_ref: warehouse-dev-credentials}
ingestion:
  pipelines:
    - name: crm-sync
      source: {type: salesforce, secret_refs: {client_id: salesforce-api-secret}}
"""
GRANTED = ["warehouse-dev-credentials", "salesforce-api-secret"]
OTHER = "payroll-dev-credentials"


def _render(manifest: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["secrets", "rbac", "--manifest", str(manifest), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def setup(kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path) -> Path:
    admin = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    for name in [*GRANTED, OTHER]:
        admin.create_secret(name, k8s_namespace, {"PASSWORD": f"pw-{name}-0123456789"})
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST.replace("NAMESPACE", k8s_namespace))
    return manifest


def _plugin_for(
    kube: KubeApiServer, namespace: str, account: str
) -> tuple[K8sSecretsPlugin, k8s.ApiClient]:
    api = kube.token_client(kube.service_account_token(namespace, account))
    return K8sSecretsPlugin(api_client=api), api


def test_every_component_passes_server_side_dry_run(
    kube_apiserver: KubeApiServer, k8s_namespace: str, setup: Path, tmp_path: Path
) -> None:
    rendered = tmp_path / "rbac.yaml"
    rendered.write_text(_render(setup, "--component", "all"))
    kinds = [doc["kind"] for doc in yaml.safe_load_all(rendered.read_text())]
    assert kinds.count("Role") == 4
    assert kinds.count("RoleBinding") == 4
    assert kinds.count("ServiceAccount") == 2
    result = kube_apiserver.run_kubectl("apply", "--dry-run=server", "-f", str(rendered))
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout
    assert result.stdout.count("created (server dry run)") == len(kinds)
    # a dry run changes nothing
    roles = k8s.RbacAuthorizationV1Api(kube_apiserver.api_client()).list_namespaced_role(
        k8s_namespace
    )
    assert roles.items == []


def test_job_runner_reads_exactly_the_referenced_secrets(
    kube_apiserver: KubeApiServer, k8s_namespace: str, setup: Path, tmp_path: Path
) -> None:
    ns = k8s_namespace
    rendered = tmp_path / "rbac.yaml"
    rendered.write_text(_render(setup))
    kube_apiserver.run_kubectl("apply", "-f", str(rendered))
    plugin, api = _plugin_for(kube_apiserver, ns, "floe-job-runner")
    account = f"system:serviceaccount:{ns}:floe-job-runner"
    try:
        for name in GRANTED:
            assert plugin.get_secret(name, ns)["PASSWORD"].reveal() == f"pw-{name}-0123456789"
        with pytest.raises(SecretAccessDeniedError) as denied:
            plugin.get_secret(OTHER, ns)
        message = str(denied.value)
        assert f"{account} may not 'get' secret '{OTHER}' in namespace '{ns}'" in message
        assert f"resourceNames: ['{OTHER}']" in message  # the fix names the grant
        with pytest.raises(SecretAccessDeniedError) as listed:
            plugin.list_secrets(ns)
        message = str(listed.value)
        assert f"{account} may not 'list' secrets in namespace '{ns}'" in message
        assert f"grant the 'list' verb on secrets in namespace '{ns}' to {account}" in message
        with pytest.raises(SecretAccessDeniedError, match="may not 'update'"):
            plugin.update_secret(GRANTED[0], ns, {"PASSWORD": "changed-value"})
    finally:
        api.close()


def test_sensor_role_lists_metadata_but_reads_no_value(
    kube_apiserver: KubeApiServer, k8s_namespace: str, setup: Path, tmp_path: Path
) -> None:
    ns = k8s_namespace
    rendered = tmp_path / "rbac.yaml"
    rendered.write_text(
        _render(setup, "--component", "sensor", "--dagster-service-account", f"{ns}/daemon")
    )
    kube_apiserver.run_kubectl("apply", "-f", str(rendered))
    plugin, api = _plugin_for(kube_apiserver, ns, "daemon")
    try:
        assert set(plugin.secret_versions(ns)) >= {*GRANTED, OTHER}
        with pytest.raises(
            SecretAccessDeniedError, match=f"serviceaccount:{ns}:daemon may not 'get'"
        ):
            plugin.get_secret(GRANTED[0], ns)
    finally:
        api.close()


def test_restart_role_rotates_referenced_secrets_and_lists_workloads(
    kube_apiserver: KubeApiServer, k8s_namespace: str, setup: Path, tmp_path: Path
) -> None:
    ns = k8s_namespace
    rendered = tmp_path / "rbac.yaml"
    rendered.write_text(_render(setup, "--component", "restart"))
    kube_apiserver.run_kubectl("apply", "-f", str(rendered))
    plugin, api = _plugin_for(kube_apiserver, ns, "floe-rotator")
    try:
        plugin.update_secret(GRANTED[0], ns, {"PASSWORD": "rotated-0123456789"}, merge=True)
        k8s.AppsV1Api(api).list_namespaced_deployment(ns)
        with pytest.raises(SecretAccessDeniedError, match="may not 'get'"):
            plugin.update_secret(OTHER, ns, {"PASSWORD": "rotated-0123456789"})
    finally:
        api.close()


def test_launcher_role_runs_the_preflight_and_creates_jobs(
    kube_apiserver: KubeApiServer, k8s_namespace: str, setup: Path, tmp_path: Path
) -> None:
    from floe_dagster_secrets.launcher.preflight import (
        ConfigMapCheck,
        profiles_config_map_check,
        secrets_metadata,
    )

    ns = k8s_namespace
    # a referenced secret floe did not write: its key names stay unknown (the pre-flight never
    # reads values to learn them); the apiserver's Table gives its type and key count
    k8s.CoreV1Api(kube_apiserver.api_client()).replace_namespaced_secret(
        GRANTED[1],
        ns,
        {"metadata": {"name": GRANTED[1]}, "stringData": {"CLIENT_ID": "id-0123456789"}},
    )
    rendered = tmp_path / "rbac.yaml"
    rendered.write_text(
        _render(setup, "--component", "launcher", "--dagster-service-account", f"{ns}/daemon")
    )
    kube_apiserver.run_kubectl("apply", "-f", str(rendered))
    plugin, api = _plugin_for(kube_apiserver, ns, "daemon")
    try:
        found = secrets_metadata(plugin, ns, {GRANTED[0]: ["PASSWORD"], GRANTED[1]: ["CLIENT_ID"]})
        foreign = found[GRANTED[1]]
        assert (foreign.keys_known, foreign.type, foreign.key_count) == (
            False,
            "Opaque",
            1,
        )
        with pytest.raises(SecretAccessDeniedError, match="may not 'get'"):
            plugin.get_secret(GRANTED[1], ns)  # no get at all: the launcher reads no value
        job = {
            "metadata": {"name": "dagster-run-rbac"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "run", "image": "floe-demo:e2e"}],
                    }
                }
            },
        }
        k8s.BatchV1Api(api).create_namespaced_job(ns, job, dry_run="All")
        k8s.CoreV1Api(api).list_namespaced_pod(ns)
        # the profiles ConfigMap check: missing, then there; any other ConfigMap stays unreadable
        core = k8s.CoreV1Api(api)
        missing = profiles_config_map_check(core, "dbt-profiles", ns)
        assert missing.error is not None
        assert missing.warning is None
        k8s.CoreV1Api(kube_apiserver.api_client()).create_namespaced_config_map(
            ns, {"metadata": {"name": "dbt-profiles"}, "data": {"profiles.yml": "floe: {}\n"}}
        )
        assert profiles_config_map_check(core, "dbt-profiles", ns) == ConfigMapCheck()
        other = profiles_config_map_check(core, "team-profiles", ns)
        assert other.error is None
        assert other.warning is not None
        assert "answered 403" in other.warning
        with pytest.raises(SecretAccessDeniedError, match="may not 'get'"):
            plugin.get_secret(OTHER, ns)
    finally:
        api.close()
