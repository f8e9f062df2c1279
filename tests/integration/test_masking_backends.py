"""Every value a backend resolves is registered with the masker before the caller gets it.

Each value is written behind floe's back (raw API as admin/root, or another process), so this
process has never seen it; it must be unmasked before the read and masked right after it.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.masking import redact
from floe_dagster_secrets.types import REDACTED
from tests.integration.vault_helpers import database_engine, token_plugin
from tests.servers import KubeApiServer, OpenBaoServer, PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _fresh() -> str:
    value = f"unseen{secrets.token_urlsafe(16)}"
    assert redact(value) == value  # never registered in this process
    return value


def _masked(value: str) -> None:
    assert redact(f"x {value} y") == f"x {REDACTED} y"
    assert redact(base64.b64encode(value.encode()).decode()) == REDACTED


def test_k8s_values_are_masked_on_read(kube_apiserver: KubeApiServer, k8s_namespace: str) -> None:
    value = _fresh()
    k8s.CoreV1Api(kube_apiserver.api_client()).create_namespaced_secret(
        k8s_namespace, {"metadata": {"name": "raw-dev-secret"}, "stringData": {"K": value}}
    )
    got = K8sSecretsPlugin(api_client=kube_apiserver.api_client()).get_secret(
        "raw-dev-secret", k8s_namespace
    )
    _masked(value)
    assert got["K"].reveal() == value


def test_vault_kv_and_dynamic_values_are_masked_on_read(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    plugin = token_plugin(openbao_server, tmp_path)
    value = _fresh()
    openbao_server.request(
        "POST",
        f"secret/data/{plugin.secret_path_prefix}floe-jobs/raw-dev-secret",
        {"data": {"K": value}},
    )
    mount = database_engine(openbao_server, postgres_server)
    try:
        assert plugin.get_secret("raw-dev-secret", "floe-jobs")["K"].reveal() == value
        _masked(value)
        creds = plugin.database_credentials("dbt", mount=mount)
        _masked(creds.password.reveal())
        _masked(plugin.session.token().reveal())  # the session's own token
        plugin.revoke_lease(creds.lease_id)
    finally:
        plugin.close()


def test_local_values_written_by_another_process_are_masked_on_read(tmp_path: Path) -> None:
    value = _fresh()
    store = tmp_path / "store"
    floe = str(Path(sys.executable).parent / "floe")
    subprocess.run(
        [
            floe,
            "secrets",
            "create",
            "raw-dev-secret",
            "--from-stdin",
            "--backend",
            "local",
            "--store-path",
            str(store),
        ],
        input=f"K={value}\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )
    got = LocalSecretsPlugin(path=store).get_secret("raw-dev-secret", "floe-jobs")
    _masked(value)
    assert got["K"].reveal() == value
