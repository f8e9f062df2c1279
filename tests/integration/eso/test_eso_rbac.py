"""The launcher role ``floe secrets rbac`` renders for ``type: external-secrets``, on the real
apiserver: the pre-flight's ExternalSecret check needs ``list`` on ``externalsecrets``, which the
k8s rendering does not grant (403, named) and the ESO rendering does.
"""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path
from typing import Any

import pytest

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.kube.rbac import Subject, render_objects, to_yaml
from floe_dagster_secrets.launcher.preflight import PreflightReader
from floe_dagster_secrets.manifest import parse_manifest
from tests.servers import KubeApiServer
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAME = "warehouse-dev-credentials"


def _launcher_rbac(secrets_section: dict[str, Any], namespace: str) -> str:
    raw = {
        "environment": "dev",
        "plugins": {
            "secrets": {**secrets_section, "namespace": namespace},
            "compute": {"type": "postgres", "connection_secret_ref": NAME},
        },
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifest = parse_manifest(raw)
    daemon = Subject(namespace, "daemon")
    return to_yaml(render_objects(manifest, components=["launcher"], dagster_account=daemon))


def test_launcher_role_for_external_secrets_lets_the_preflight_judge_the_sync(
    eso_controller: EsoController,
    vault_store_env: dict[str, str],
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    eso = ESOSecretsPlugin(**vault_store_env, sync_timeout=90)  # type: ignore[arg-type]
    try:
        eso.apply_cluster_secret_store()
        eso.create_secret(NAME, k8s_namespace, {"PASSWORD": secrets.token_hex(12)})
    finally:
        eso.close()
    rendered = tmp_path / "rbac.yaml"
    token = kube_apiserver.service_account_token(k8s_namespace, "daemon")

    rendered.write_text(_launcher_rbac({"type": "k8s"}, k8s_namespace))
    kube_apiserver.run_kubectl("apply", "-f", str(rendered))
    reader = PreflightReader(K8sSecretsPlugin(api_client=kube_apiserver.token_client(token)))
    try:
        with pytest.raises(SecretAccessDeniedError, match="externalsecrets") as denied:
            reader.secrets_metadata(k8s_namespace, {NAME: ["PASSWORD"]})
        assert k8s_namespace in str(denied.value)
        assert "grant the 'list' verb on externalsecrets.external-secrets.io" in str(denied.value)
    finally:
        reader.plugin.close()

    eso_section = {
        "type": "external-secrets",
        "config": {
            "store": vault_store_env["store"],
            "provider": "vault",
            "vault_address": vault_store_env["vault_address"],
            "vault_role": vault_store_env["vault_role"],
        },
    }
    rendered.write_text(_launcher_rbac(eso_section, k8s_namespace))
    kube_apiserver.run_kubectl("apply", "-f", str(rendered))  # the same Role, one rule more
    reader = PreflightReader(K8sSecretsPlugin(api_client=kube_apiserver.token_client(token)))
    try:
        found = reader.secrets_metadata(k8s_namespace, {NAME: ["PASSWORD"]})
        # ESO wrote the Secret, not floe: its key names come only with its values, which the
        # pre-flight never reads (issue 14, point 6); the apiserver's Table gives type and count
        assert (found[NAME].keys_known, found[NAME].key_count) == (False, 1)
    finally:
        reader.plugin.close()
