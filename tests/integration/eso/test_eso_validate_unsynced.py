"""``floe secrets validate`` under ESO reports an ExternalSecret that never synced as ✗ with ESO's
reason (issue 14, point 7), against the real ESO controller and the test OpenBao.

The ExternalSecret exists and maps the keys the manifest needs, so before this check validate
passed it; its remote key does not exist in the store, so ESO never synced it, and a run would
fail on it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.objects import sync_state
from tests.servers._process import clean_env
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FLOE = Path(sys.executable).parent / "floe"
NAME = "warehouse-dev-credentials"


def test_validate_reports_an_external_secret_that_never_synced(
    eso_controller: EsoController,
    vault_store_env: dict[str, str],
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    eso = ESOSecretsPlugin(**vault_store_env)  # type: ignore[arg-type]
    try:
        eso.apply_cluster_secret_store()
        eso.apply_external_secret(NAME, k8s_namespace, ["WAREHOUSE_PASSWORD"])  # nothing in Vault
        deadline = time.monotonic() + 90
        state = sync_state(eso.read_external_secret(NAME, k8s_namespace))
        while state.reason == "Pending" and time.monotonic() < deadline:
            time.sleep(0.5)
            state = sync_state(eso.read_external_secret(NAME, k8s_namespace))
    finally:
        eso.close()
    assert not state.ready
    assert state.reason == "SecretSyncedError", state
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
            secrets:
              {NAME}:
                keys: [WAREHOUSE_PASSWORD]
            """
        ).replace("{config}", config)
    )
    result = subprocess.run(
        [str(FLOE), "secrets", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=clean_env({"HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith(f"✗ {NAME}"))
    assert line.startswith(f"✗ {NAME}: not synced (SecretSyncedError: "), line
    assert "1 error found." in result.stdout
    assert f"check ClusterSecretStore '{vault_store_env['store']}'" in result.stdout
