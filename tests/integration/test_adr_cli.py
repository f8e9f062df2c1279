"""``floe secrets validate`` as ADR-0023 shows it, as a real process against the real apiserver.

* Point 1 of issue 14: the ADR's own manifest (its "Configuration Schema", no ``environment:``),
  copied unchanged from ``tests/adr_examples/``, validates, and the output is the ADR's text.
* Point 2: "MUST NOT share secrets across environments" — manifests of several environments,
  found beside each other or given with ``--with-manifest``, fail on a secret two environments
  use, naming both files, before any Secret is read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from tests.servers import KubeApiServer
from tests.servers._process import clean_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FLOE = Path(sys.executable).parent / "floe"
EXAMPLES = Path(__file__).parents[1] / "adr_examples"

# ADR-0023, "CLI Commands" (its catalog secret is named polaris-credentials in its own schema).
ADR_VALIDATE_OUTPUT = """\
Validating secret references in manifest.yaml...
✓ snowflake-credentials: exists, 3 keys
✓ catalog-credentials: exists, 2 keys
✗ salesforce-credentials: NOT FOUND

1 error found. Run 'floe secrets create salesforce-credentials' to fix.
"""


def floe(*args: str, cwd: Path, kube: KubeApiServer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(
            {
                "HOME": str(cwd),
                "NO_COLOR": "1",
                "COLUMNS": "200",
                "KUBECONFIG": str(kube.admin_kubeconfig),
            }
        ),
    )


def test_adr_manifest_validates_with_the_adrs_output(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLES / "schema-k8s.manifest.yaml", tmp_path / "manifest.yaml")
    admin = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    admin.create_secret(
        "snowflake-credentials",
        k8s_namespace,
        {
            "SNOWFLAKE_ACCOUNT": "xxx.us-east-1",
            "SNOWFLAKE_USER": "dbt_user",
            "SNOWFLAKE_PASSWORD": "pw-0123456789-canary",
        },
    )
    admin.create_secret(
        "polaris-credentials",
        k8s_namespace,
        {"CLIENT_ID": "id-0123456789", "CLIENT_SECRET": "secret-0123456789-canary"},
    )
    result = floe("secrets", "validate", "-n", k8s_namespace, cwd=tmp_path, kube=kube_apiserver)
    assert result.returncode == 1, result.stderr
    expected = ADR_VALIDATE_OUTPUT.replace("catalog-credentials", "polaris-credentials").replace(
        "create salesforce-credentials'",
        f"create salesforce-credentials --namespace {k8s_namespace}'",
    )
    assert result.stdout == expected
    # The ADR's names are off its own naming convention: said on stderr, not an error.
    assert "does not follow the ADR-0023 naming convention" in result.stderr
    assert "Field required" not in result.stderr


def _manifest(path: Path, *refs: str, environment: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = f"environment: {environment}\n" if environment else ""
    lines = "\n".join(f"          f{i}: {ref}" for i, ref in enumerate(refs))
    path.write_text(
        head
        + textwrap.dedent(
            """\
            plugins:
              secrets: {type: k8s}
            ingestion:
              pipelines:
                - name: crm-sync
                  source:
                    type: salesforce
                    secret_refs:
            """
        )
        + lines
        + "\n"
    )
    return path


def test_secret_shared_with_a_manifest_beside_it_fails_naming_both_files(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    deploy = tmp_path / "deploy"
    _manifest(deploy / "manifest.dev.yaml", "salesforce-api-secret", "duckdb-dev-credentials")
    _manifest(deploy / "manifest.prod.yaml", "salesforce-api-secret", "duckdb-prod-credentials")
    before = len(kube_apiserver.audit_events())
    result = floe(
        "secrets", "validate", "--manifest", "deploy/manifest.dev.yaml", "-n", k8s_namespace,
        cwd=tmp_path, kube=kube_apiserver,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        "Error: secrets shared across environments: 'salesforce-api-secret' in dev "
        "(deploy/manifest.dev.yaml: ingestion.pipelines[0].source.secret_refs.f0) and prod "
        "(deploy/manifest.prod.yaml: ingestion.pipelines[0].source.secret_refs.f0)"
    ) in " ".join(result.stderr.split())
    assert "MUST NOT share secrets across environments" in result.stderr
    # refused before any Secret was read
    secret_reads = [
        e
        for e in kube_apiserver.audit_events()[before:]
        if (e.get("objectRef") or {}).get("namespace") == k8s_namespace
    ]
    assert secret_reads == []

    # each environment with its own secrets: validate goes on to the backend
    _manifest(
        deploy / "manifest.prod.yaml", "salesforce-prod-api-secret", "duckdb-prod-credentials"
    )
    admin = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    for name in ("salesforce-api-secret", "duckdb-dev-credentials"):
        admin.create_secret(name, k8s_namespace, {"VALUE": "v-0123456789"})
    result = floe(
        "secrets", "validate", "--manifest", "deploy/manifest.dev.yaml", "-n", k8s_namespace,
        cwd=tmp_path, kube=kube_apiserver,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "✓ no secret shared across environments: dev (deploy/manifest.dev.yaml), prod "
        "(deploy/manifest.prod.yaml)"
    ) in result.stderr
    assert result.stdout.startswith("Validating secret references in deploy/manifest.dev.yaml")


def test_manifests_given_together_with_with_manifest(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    dev = _manifest(tmp_path / "envs/dev/manifest.yaml", "warehouse-db", environment="dev")
    prod = _manifest(tmp_path / "envs/prod/manifest.yaml", "warehouse-db", "crm-prod-credentials")
    result = floe(
        "secrets", "validate", "--manifest", str(dev), "--with-manifest", str(prod),
        "-n", k8s_namespace, cwd=tmp_path, kube=kube_apiserver,
    )  # fmt: skip
    assert result.returncode == 1
    stderr = " ".join(result.stderr.split())
    # prod's environment comes from its secret names; both files are named
    assert f"'warehouse-db' in dev ({dev}: " in stderr
    assert f"and prod ({prod}: " in stderr
    # a manifest whose environment cannot be told is refused in a group, saying what to write
    unknown = _manifest(tmp_path / "envs/other/manifest.yaml", "crm-credentials")
    result = floe(
        "secrets", "validate", "--manifest", str(dev), "--with-manifest", str(unknown),
        "-n", k8s_namespace, cwd=tmp_path, kube=kube_apiserver,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{unknown} names no environment" in " ".join(result.stderr.split())
    assert "`environment: <name>`" in result.stderr
