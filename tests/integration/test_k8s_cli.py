"""``floe secrets`` as a real process against the real kube-apiserver, checked against kubectl."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration.cli_samples import run_floe as floe
from tests.integration.cli_samples import write_sample_manifest
from tests.servers import KubeApiServer

pytestmark = pytest.mark.integration


@pytest.fixture
def workdir(tmp_path: Path, kube_apiserver: KubeApiServer, k8s_namespace: str) -> Path:
    write_sample_manifest(tmp_path, {"type": "k8s", "namespace": k8s_namespace})
    return tmp_path


def test_list_json_matches_kubectl(
    workdir: Path, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    value = f"canary-{uuid.uuid4().hex}"
    kubeconfig = f"--kubeconfig={kube_apiserver.admin_kubeconfig}"
    env_file = workdir / "sf.env"
    env_file.write_text(f"CLIENT_ID=abc\nCLIENT_SECRET={value}\n")
    made = floe(
        "secrets", "create", "salesforce-dev-credentials", "--from-env-file", str(env_file),
        kubeconfig, cwd=workdir,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    made = floe(
        "secrets", "create", "duckdb-dev-credentials", "--from-stdin", kubeconfig,
        cwd=workdir, stdin=f"DUCKDB_ENCRYPTION_KEY={value}x\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    kube_apiserver.run_kubectl(
        "create", "secret", "generic", "made-by-kubectl", f"--from-literal=token={value}y",
        f"--namespace={k8s_namespace}",
    )  # fmt: skip

    listed = floe("secrets", "list", "--output", "json", kubeconfig, cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    by_kubectl = kube_apiserver.run_kubectl(
        "get", "secrets", "-o", "name", f"--namespace={k8s_namespace}"
    ).stdout.split()
    entries = json.loads(listed.stdout)
    assert sorted(e["name"] for e in entries) == sorted(
        name.removeprefix("secret/") for name in by_kubectl
    )
    assert len(entries) == 3
    keys = {e["name"]: e["keys"] for e in entries}
    assert keys["salesforce-dev-credentials"] == ["CLIENT_ID", "CLIENT_SECRET"]
    assert all(e["backend"] == "k8s" and e["namespace"] == k8s_namespace for e in entries)
    for stream in (made.stdout, made.stderr, listed.stdout, listed.stderr):
        assert value not in stream

    table = floe("secrets", "list", kubeconfig, cwd=workdir)
    assert table.returncode == 0, table.stderr
    assert table.stdout.split()[:3] == ["NAME", "TYPE", "AGE"]
    assert "made-by-kubectl" in table.stdout


def test_validate_against_the_cluster(
    workdir: Path, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    kubeconfig = f"--kubeconfig={kube_apiserver.admin_kubeconfig}"
    missing = floe("secrets", "validate", kubeconfig, cwd=workdir)
    assert missing.returncode == 1
    assert "salesforce-dev-credentials" in missing.stdout
    assert "floe secrets create" in missing.stdout + missing.stderr

    for name, data in (
        ("salesforce-dev-credentials", "CLIENT_ID=a\nCLIENT_SECRET=b\n"),
        ("duckdb-dev-credentials", f"DUCKDB_ENCRYPTION_KEY={uuid.uuid4().hex}\n"),
    ):
        made = floe("secrets", "create", name, "--from-stdin", kubeconfig, cwd=workdir, stdin=data)
        assert made.returncode == 0, made.stderr
    valid = floe("secrets", "validate", kubeconfig, cwd=workdir)
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_namespace_and_context_options(
    workdir: Path, kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    merged = yaml.safe_load(kube_apiserver.admin_kubeconfig.read_text())
    restricted = yaml.safe_load(kube_apiserver.restricted_kubeconfig.read_text())
    merged["users"] += restricted["users"]
    merged["contexts"] += restricted["contexts"]
    path = tmp_path / "merged.kubeconfig"
    path.write_text(yaml.safe_dump(merged))
    os.chmod(path, 0o600)
    other = kube_apiserver.create_namespace()

    made = floe(
        "secrets", "create", "other-ns-secret", "--from-literal", "K=v", "--namespace", other,
        f"--kubeconfig={path}", cwd=workdir,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = floe("secrets", "list", "-o", "json", "-n", other, f"--kubeconfig={path}", cwd=workdir)
    assert [e["name"] for e in json.loads(listed.stdout)] == ["other-ns-secret"]

    denied = floe(
        "secrets", "list", f"--kubeconfig={path}", "--context", kube_apiserver.restricted_user,
        cwd=workdir,
    )  # fmt: skip
    assert denied.returncode == 1
    assert "Access denied" in denied.stderr + denied.stdout
    assert k8s_namespace in denied.stderr + denied.stdout


def test_duplicate_create_says_rotate(workdir: Path, kube_apiserver: KubeApiServer) -> None:
    kubeconfig = f"--kubeconfig={kube_apiserver.admin_kubeconfig}"
    args = ("secrets", "create", "dup-cli-secret", "--from-literal", "K=v", kubeconfig)
    assert floe(*args, cwd=workdir).returncode == 0
    again = floe(*args, cwd=workdir)
    assert again.returncode == 1
    assert "already exists" in again.stderr + again.stdout
    assert "floe secrets rotate dup-cli-secret" in again.stderr + again.stdout


def test_manifest_kubeconfig_and_context_quick_and_full_paths_agree(
    tmp_path: Path, kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    """``list`` reads a plain k8s manifest without its schema; the full loader gives the same.

    ``--environment`` sends the command through the full loader (pydantic models, the
    registry), so the two ways of reading ``plugins.secrets.config`` are compared on one
    cluster; a ``--context`` on the command line wins over the manifest's on both.
    """
    merged = yaml.safe_load(kube_apiserver.admin_kubeconfig.read_text())
    restricted = yaml.safe_load(kube_apiserver.restricted_kubeconfig.read_text())
    merged["users"] += restricted["users"]
    merged["contexts"] += restricted["contexts"]
    admin_context = merged["current-context"]
    merged["current-context"] = restricted["current-context"]  # the manifest's context must win
    path = tmp_path / "merged.kubeconfig"
    path.write_text(yaml.safe_dump(merged))
    os.chmod(path, 0o600)
    config = {"kubeconfig": str(path), "context": admin_context}
    write_sample_manifest(tmp_path, {"type": "k8s", "namespace": k8s_namespace, "config": config})
    kube_apiserver.run_kubectl(
        "create", "secret", "generic", "quick-path-secret", "--from-literal=K=v",
        f"--namespace={k8s_namespace}",
    )  # fmt: skip

    quick = floe("secrets", "list", "-o", "json", cwd=tmp_path)
    full = floe("secrets", "list", "-o", "json", "--environment", "dev", cwd=tmp_path)
    assert quick.returncode == 0, quick.stderr
    assert full.returncode == 0, full.stderr
    assert [e["name"] for e in json.loads(quick.stdout)] == ["quick-path-secret"]
    assert json.loads(quick.stdout) == json.loads(full.stdout)

    for extra in ((), ("--environment", "dev")):
        denied = floe(
            "secrets", "list", "--context", kube_apiserver.restricted_user, *extra, cwd=tmp_path
        )
        assert denied.returncode == 1
        assert "Access denied" in denied.stderr, denied.stderr
        assert k8s_namespace in denied.stderr
