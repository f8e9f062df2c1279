"""``floe secrets eso render|apply`` (issue 14, point 4) as real processes, against the real ESO
controller syncing from the test OpenBao.

The manifest maps one secret the way ADR-0023's AWS example does (one remote key, a property per
env key) and one the way its GCP example does (the whole remote secret into one env key). Apply
creates the ClusterSecretStore and both ExternalSecrets, ESO syncs them, a second apply writes
nothing (resourceVersions unchanged), and a changed manifest shows its diff under ``--dry-run``
without storing it. No value reaches any output (canary).
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from tests.servers import KubeApiServer
from tests.servers._process import clean_env
from tests.servers.eso import EsoController
from tests.servers.openbao import OpenBaoServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FLOE = Path(sys.executable).parent / "floe"
PROPS = "snowflake-dev-credentials"
WHOLE = "bigquery-dev-credentials"


def floe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOE), "secrets", "eso", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=clean_env({"HOME": str(cwd), "NO_COLOR": "1", "COLUMNS": "200"}),
    )


def write_manifest(directory: Path, namespace: str, env: dict[str, str], interval: str) -> None:
    settings = {k: v for k, v in env.items() if k != "kubeconfig"}
    config = "\n".join(f"      {key}: {value}" for key, value in settings.items())
    text = textwrap.dedent(
        f"""\
        environment: dev
        plugins:
          secrets:
            type: external-secrets
            namespace: {namespace}
            config:
        {{config}}
              refresh_interval: {interval}
              kubeconfig: {env["kubeconfig"]}
        secrets:
          {PROPS}:
            remote:
              key: floe/{namespace}/snowflake
              properties:
                SNOWFLAKE_ACCOUNT: account
                SNOWFLAKE_PASSWORD: password
          {WHOLE}:
            remote:
              key: floe/{namespace}/bigquery-sa
              whole: GOOGLE_APPLICATION_CREDENTIALS_JSON
        """
    )
    (directory / "manifest.yaml").write_text(text.replace("{config}", config))


def test_render_and_apply_the_objects_the_manifest_implies(
    eso_controller: EsoController,
    vault_store_env: dict[str, str],
    kube_apiserver: KubeApiServer,
    openbao_server: OpenBaoServer,
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    password = f"canary{secrets.token_hex(12)}"
    sa_json = json.dumps(
        {"type": "service_account", "private_key": f"canary{secrets.token_hex(8)}"}
    )
    openbao_server.request(
        "POST",
        f"secret/data/floe/{k8s_namespace}/snowflake",
        {"data": {"account": "xy12345.us-east-1", "password": password}},
    )
    openbao_server.request(
        "POST", f"secret/data/floe/{k8s_namespace}/bigquery-sa", {"data": {"sa": sa_json}}
    )
    write_manifest(tmp_path, k8s_namespace, vault_store_env, "1h")
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = floe(*args, cwd=tmp_path)
        outputs.extend((result.stdout, result.stderr))
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    # render: YAML a reviewer reads, the mapping as written, no cluster needed
    store_name = vault_store_env["store"]
    rendered = list(yaml.safe_load_all(run("render").stdout))
    assert [(o["kind"], o["metadata"]["name"]) for o in rendered] == [
        ("ClusterSecretStore", store_name),
        ("ExternalSecret", PROPS),
        ("ExternalSecret", WHOLE),
    ]
    assert rendered[1]["spec"]["data"][0] == {
        "secretKey": "SNOWFLAKE_ACCOUNT",
        "remoteRef": {"key": f"floe/{k8s_namespace}/snowflake", "property": "account"},
    }
    assert rendered[2]["spec"]["data"] == [
        {
            "secretKey": "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            "remoteRef": {"key": f"floe/{k8s_namespace}/bigquery-sa"},
        }
    ]

    custom = k8s.CustomObjectsApi(kube_apiserver.api_client())

    def external_secret(name: str) -> dict[str, object] | None:
        try:
            found: dict[str, object] = custom.get_namespaced_custom_object(
                "external-secrets.io", "v1", k8s_namespace, "externalsecrets", name
            )
        except k8s.ApiException as e:
            if e.status != 404:
                raise
            return None
        return found

    # --dry-run: validated by the apiserver, diff printed, nothing stored
    dry = run("apply", "--dry-run").stdout
    assert f"- ExternalSecret {k8s_namespace}/{PROPS}: would be created" in dry
    added = [line.strip() for line in dry.splitlines() if line.strip().startswith("+")]
    assert "+      property: account" in added, dry
    assert "objects would change (dry run: nothing stored)." in dry
    assert external_secret(PROPS) is None

    applied = run("apply").stdout
    assert f"✓ ExternalSecret {k8s_namespace}/{PROPS}: created" in applied
    assert f"✓ ExternalSecret {k8s_namespace}/{WHOLE}: created" in applied

    eso = ESOSecretsPlugin(**vault_store_env)  # type: ignore[arg-type]
    try:
        eso.wait_synced(PROPS, k8s_namespace)
        eso.wait_synced(WHOLE, k8s_namespace)
    finally:
        eso.close()
    core = k8s.CoreV1Api(kube_apiserver.api_client())
    synced = core.read_namespaced_secret(PROPS, k8s_namespace).data
    assert base64.b64decode(synced["SNOWFLAKE_ACCOUNT"]).decode() == "xy12345.us-east-1"
    assert base64.b64decode(synced["SNOWFLAKE_PASSWORD"]).decode() == password
    whole = core.read_namespaced_secret(WHOLE, k8s_namespace).data
    assert json.loads(base64.b64decode(whole["GOOGLE_APPLICATION_CREDENTIALS_JSON"])) == {
        "sa": sa_json
    }

    # idempotent: the second apply writes nothing
    versions = {n: external_secret(n)["metadata"]["resourceVersion"] for n in (PROPS, WHOLE)}  # type: ignore[index]
    again = run("apply").stdout
    assert again.count(": unchanged") == 3, again
    assert "0 of 3 objects changed." in again
    assert {
        n: external_secret(n)["metadata"]["resourceVersion"]  # type: ignore[index]
        for n in (PROPS, WHOLE)
    } == versions

    # a changed manifest: the diff says exactly what would change; --dry-run stores nothing
    write_manifest(tmp_path, k8s_namespace, vault_store_env, "30m")
    diff = run("apply", "--dry-run").stdout
    assert f"- ExternalSecret {k8s_namespace}/{PROPS}: would be updated" in diff
    changed = [line.strip() for line in diff.splitlines() if line.strip()[:1] in "+-"]
    # as Go writes durations (ESO's controller writes its objects back that way)
    assert "-  refreshInterval: 1h0m0s" in changed, diff
    assert "+  refreshInterval: 30m0s" in changed, diff
    assert f"= ClusterSecretStore {store_name}: unchanged" in diff
    assert external_secret(PROPS)["spec"]["refreshInterval"] in ("1h", "1h0m0s")  # type: ignore[index]
    document = json.loads(run("apply", "-o", "json").stdout)
    assert {o["object"]: o["action"] for o in document["objects"]} == {
        f"ClusterSecretStore {store_name}": "unchanged",
        f"ExternalSecret {k8s_namespace}/{PROPS}": "update",
        f"ExternalSecret {k8s_namespace}/{WHOLE}": "update",
    }
    assert external_secret(PROPS)["spec"]["refreshInterval"] in ("30m", "30m0s")  # type: ignore[index]

    # rotate writes at the default layout only: a custom mapping is refused, saying what to do
    refused = subprocess.run(
        [str(FLOE), "secrets", "rotate", PROPS, "--from-literal", "SNOWFLAKE_PASSWORD=x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=clean_env({"HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}),
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"mapped to the remote key 'floe/{k8s_namespace}/snowflake'" in refused.stderr
    assert f"kubectl annotate externalsecret {PROPS} force-sync=" in refused.stderr

    for text in outputs:
        assert password not in text
        assert "private_key" not in text
