"""``floe secrets list|status|validate|create|rotate`` with ``type: external-secrets``, as real
processes, against the real ESO controller syncing from the test OpenBao.

The CLI finds the backend through the ``floe.secrets`` entry point. What it reports is checked
against the Kubernetes Secret ESO wrote; no value reaches any of its output (canary).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from tests.integration.cli_samples import COMPUTE_SECRET, run_floe, write_sample_manifest
from tests.servers import KubeApiServer
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAME = COMPUTE_SECRET


def floe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_floe(*args, cwd=cwd, timeout=180)


def write_manifest(directory: Path, namespace: str, settings: dict[str, str]) -> None:
    """The sample project's compute secret alone, synced by ESO from the store ``settings`` name."""
    backend = {
        "type": "external-secrets",
        "namespace": namespace,
        "config": {**settings, "sync_timeout": 90},
    }
    write_sample_manifest(directory, backend, pipeline=False)


def synced_value(api: KubeApiServer, namespace: str) -> str:
    import base64

    secret = k8s.CoreV1Api(api.api_client()).read_namespaced_secret(NAME, namespace)
    return base64.b64decode(secret.data["DUCKDB_ENCRYPTION_KEY"]).decode()


def test_floe_secrets_commands_with_external_secrets(
    eso_controller: EsoController,
    vault_store_env: dict[str, str],
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    store = ESOSecretsPlugin(**vault_store_env)  # type: ignore[arg-type]
    store.apply_cluster_secret_store()
    store.close()
    write_manifest(tmp_path, k8s_namespace, vault_store_env)
    first, second = (f"canary{secrets.token_hex(12)}" for _ in range(2))
    outputs: list[str] = []

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = floe("secrets", *args, cwd=tmp_path)
        outputs.extend((result.stdout, result.stderr))
        assert result.returncode == code, result.stdout + result.stderr
        return result

    missing = run("validate", code=1)
    assert f"✗ {NAME}: NOT FOUND" in missing.stdout

    (tmp_path / "first.env").write_text(f"DUCKDB_ENCRYPTION_KEY={first}\n")
    created = run("create", NAME, "--from-env-file", "first.env")
    assert f"✓ Secret {NAME} created in External Secrets Operator" in created.stdout
    assert synced_value(kube_apiserver, k8s_namespace) == first

    listed = run("list")
    assert listed.stdout.split("\n")[0].split() == ["NAME", "TYPE", "AGE"]
    assert NAME in listed.stdout
    assert "ExternalSecret" in listed.stdout

    status = run("status")
    header, row = status.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "STORE", "SYNC", "STATUS", "LAST", "SYNC"]
    assert row.split()[:3] == [NAME, vault_store_env["store"], "Synced"]
    assert row.rstrip().endswith("ago")

    valid = run("validate")
    assert f"✓ {NAME}: exists, 1 key" in valid.stdout

    (tmp_path / "second.env").write_text(f"DUCKDB_ENCRYPTION_KEY={second}\n")
    rotated = run("rotate", NAME, "--from-env-file", "second.env")
    assert "✓ Secret updated in Vault (version " in rotated.stdout  # the store ESO syncs from
    assert "✓ ExternalSecret sync triggered" in rotated.stdout.splitlines()
    assert "Rotation complete." in rotated.stdout
    assert synced_value(kube_apiserver, k8s_namespace) == second

    document = json.loads(run("status", "-o", "json").stdout)
    (entry,) = document["secrets"]
    assert (entry["name"], entry["ready"], entry["reason"], entry["stale"]) == (
        NAME,
        True,
        "SecretSynced",
        False,
    )

    for text in outputs:
        assert first not in text
        assert second not in text
