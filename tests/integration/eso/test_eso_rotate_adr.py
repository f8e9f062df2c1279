"""``floe secrets rotate NAME --restart-deployments`` under ESO prints ADR-0023's lines (issue 14,
point 5), against the real ESO controller syncing from the test OpenBao and the real apiserver.

The ADR's text is ``tests/adr_examples/cli-rotate.txt`` (copied from the ADR). Every line must be
the ADR's, except where the store is named: the test's store is Vault, not AWS, so that line
names Vault (and adds the version). The Deployment that reads the synced Secret through
``envFrom`` is restarted, because an ESO-synced Secret is an ordinary Kubernetes Secret (step 3 of
the ADR's static rotation workflow).
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.render import STORE_LABELS
from floe_dagster_secrets.kube.rollout import RESTARTED_AT
from tests.servers import KubeApiServer
from tests.servers._process import clean_env
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FLOE = Path(sys.executable).parent / "floe"
ADR_TEXT = Path(__file__).parents[2] / "adr_examples" / "cli-rotate.txt"
NAME = "snowflake-credentials"  # the ADR's names, so its lines compare as they are
DEPLOYMENT = "dagster-daemon"


def adr_output() -> list[str]:
    lines = ADR_TEXT.read_text().splitlines()
    start = lines.index("# Output:") + 1
    return [line.removeprefix("# ") for line in lines[start:]]


def test_rotate_under_eso_prints_the_adrs_lines_and_restarts_the_consumer(
    eso_controller: EsoController,
    vault_store_env: dict[str, str],
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    eso = ESOSecretsPlugin(**vault_store_env)  # type: ignore[arg-type]
    try:
        eso.apply_cluster_secret_store()
        eso.create_secret(NAME, k8s_namespace, {"SNOWFLAKE_PASSWORD": "first-value-x"})
    finally:
        eso.close()
    api = kube_apiserver.api_client()
    apps = k8s.AppsV1Api(api)
    apps.create_namespaced_deployment(
        k8s_namespace,
        {
            "metadata": {"name": DEPLOYMENT},
            "spec": {
                "selector": {"matchLabels": {"app": DEPLOYMENT}},
                "template": {
                    "metadata": {"labels": {"app": DEPLOYMENT}},
                    "spec": {
                        "containers": [
                            {
                                "name": "daemon",
                                "image": "registry.invalid/dagster:1",
                                "envFrom": [{"secretRef": {"name": NAME}}],
                            }
                        ]
                    },
                },
            },
        },
    )
    config = "\n".join(f"      {key}: {value}" for key, value in vault_store_env.items())
    (tmp_path / "manifest.yaml").write_text(
        textwrap.dedent(
            f"""\
            environment: dev
            plugins:
              secrets:
                type: external-secrets
                namespace: {k8s_namespace}
                config:
            {{config}}
                  sync_timeout: 90
            """
        ).replace("{config}", config)
    )
    canary = f"canary{secrets.token_hex(12)}"
    result = subprocess.run(
        [str(FLOE), "secrets", "rotate", NAME, "--restart-deployments", "--from-stdin"],
        input=f"SNOWFLAKE_PASSWORD={canary}\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=clean_env({"HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ours = result.stdout.splitlines()
    adr = adr_output()
    assert len(ours) == len(adr), result.stdout
    for mine, theirs in zip(ours, adr, strict=True):
        if theirs.startswith("✓ Secret updated in "):
            # the ADR's store is AWS; this one is Vault: the same words for each
            assert theirs == f"✓ Secret updated in {STORE_LABELS['aws']}"
            assert mine.startswith(f"✓ Secret updated in {STORE_LABELS['vault']} (version ")
        else:
            assert mine == theirs
    # the value arrived and its consumer was restarted
    secret = k8s.CoreV1Api(api).read_namespaced_secret(NAME, k8s_namespace)
    assert base64.b64decode(secret.data["SNOWFLAKE_PASSWORD"]).decode() == canary
    template = apps.read_namespaced_deployment(DEPLOYMENT, k8s_namespace).spec.template
    assert RESTARTED_AT in (template.metadata.annotations or {})
    assert canary not in result.stdout + result.stderr
