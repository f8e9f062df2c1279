"""``floe secrets validate`` on a Kubernetes Secret floe did not write, as a real process.

Its key names are not visible without the values (validate reads the apiserver's Table), so it
is judged by the key count: fewer keys than the manifest requires fails, naming the required
keys and why the names cannot be checked; as many passes, saying the names were not checked.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.integration.cli_samples import run_floe
from tests.servers import KubeApiServer

pytestmark = pytest.mark.integration

NAME = "warehouse-dev-credentials"


def test_validate_judges_a_foreign_secret_by_its_key_count(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    canary = f"canary{uuid.uuid4().hex}"
    core = k8s.CoreV1Api(kube_apiserver.api_client())
    core.create_namespaced_secret(
        k8s_namespace, {"metadata": {"name": NAME}, "stringData": {"DB_USER": canary}}
    )
    (tmp_path / "manifest.yaml").write_text(
        "environment: dev\n"
        f"plugins:\n  secrets: {{type: k8s, namespace: {k8s_namespace}}}\n"
        f"secrets:\n  {NAME}: {{keys: [DB_USER, DB_PASSWORD]}}\n"
    )
    kubeconfig = f"--kubeconfig={kube_apiserver.admin_kubeconfig}"

    short = run_floe("secrets", "validate", kubeconfig, cwd=tmp_path)
    out = short.stdout + short.stderr
    assert short.returncode == 1, out
    assert (
        f"{NAME}: has 1 key, the manifest requires 2 (DB_USER, DB_PASSWORD); key names of a "
        "Secret floe did not write are not visible without reading values"
    ) in out
    assert f"floe secrets rotate {NAME} --from-env-file FILE" in out

    core.patch_namespaced_secret(NAME, k8s_namespace, {"stringData": {"DB_PASWORD": canary}})
    enough = run_floe("secrets", "validate", kubeconfig, cwd=tmp_path)
    out = enough.stdout + enough.stderr
    assert enough.returncode == 0, out
    assert f"{NAME}: exists, 2 keys (key names not checked" in out
    assert canary not in short.stdout + short.stderr + out
