"""``floe secrets list`` on the local store or k8s reads the manifest without its schema, safely.

The quick reader only ever answers for a plain ``type: local`` or ``type: k8s`` manifest and gives
up on anything else, so the full loader (with every check and message) decides those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from floe_dagster_secrets.cli.quick_manifest import (
    KubernetesConfig,
    LocalStore,
    local_store,
    quick_secrets,
)
from floe_dagster_secrets.manifest import load_manifest

PLAIN = """\
environment: dev
plugins:
  secrets:
    type: local
    namespace: team-a
    config:
      path: store
  compute:
    type: duckdb
    connection_secret_ref: duckdb-dev-credentials
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    return path


def test_plain_local_manifest_gives_namespace_and_store_beside_the_manifest(
    tmp_path: Path,
) -> None:
    found = local_store(write(tmp_path, PLAIN))
    assert found == LocalStore(namespace="team-a", path=str((tmp_path / "store").absolute()))


def test_defaults_match_the_schema(tmp_path: Path) -> None:
    found = local_store(write(tmp_path, "plugins:\n  secrets:\n    type: local\n"))
    assert found == LocalStore(
        namespace="floe-jobs", path=str((tmp_path / ".floe/secrets").absolute())
    )


@pytest.mark.parametrize(
    "text",
    [
        PLAIN.replace("type: local", "type: k8s"),
        PLAIN.replace("path: store", "path: store\n      extra: 1"),
        PLAIN.replace("namespace: team-a", "namespace: Team_A"),
        PLAIN.replace("namespace: team-a", "namespace: 7"),
        PLAIN.replace("path: store", "path: ''"),
        PLAIN.replace("type: local", "type: local\n    surprise: true"),
        PLAIN + "anchors: &a {x: 1}\nmore: *a\n",
        PLAIN.replace("path: store", "path: '{{ env }}'"),
        PLAIN.replace("path: store", "path: !!python/name:os.system"),
        "plugins: [not, a, mapping]\n",
        "plugins:\n  secrets: {type: local\n",
        "",
        PLAIN.replace("namespace: team-a", "namespace: team-a\n    namespace: team-b"),
        PLAIN.replace("compute:", "compute:\n    type: postgres"),
    ],
    ids=[
        "other-backend",
        "unknown-config-key",
        "bad-namespace",
        "namespace-not-text",
        "empty-path",
        "unknown-secrets-key",
        "alias",
        "jinja",
        "yaml-tag",
        "not-a-mapping",
        "not-yaml",
        "empty",
        "repeated-key",
        "repeated-key-elsewhere",
    ],
)
def test_anything_but_the_plain_shape_is_left_to_the_full_loader(tmp_path: Path, text: str) -> None:
    assert local_store(write(tmp_path, text)) is None


def test_not_a_regular_small_file_is_left_to_the_full_loader(tmp_path: Path) -> None:
    assert local_store(tmp_path) is None
    assert local_store(tmp_path / "missing.yaml") is None
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert local_store(fifo) is None
    assert local_store(write(tmp_path, PLAIN + "#" * 70_000)) is None


def test_list_on_the_local_store_imports_no_schema_client_or_rich(tmp_path: Path) -> None:
    """A fresh ``floe secrets list`` process, as users run it, in a project directory."""
    write(tmp_path, PLAIN)
    heavy = ["pydantic", "kubernetes", "dagster", "hvac", "rich", "floe_dagster_secrets.manifest"]
    probe = (
        "import sys, json\n"
        "from floe_dagster_secrets.cli.app import cli\n"
        "try:\n"
        "    cli.main(['secrets', 'list', '-o', 'json'], standalone_mode=False)\n"
        "finally:\n"
        f"    print(json.dumps([m for m in {heavy!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FLOE_ENVIRONMENT"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []  # an empty store in namespace team-a
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


K8S = """\
environment: dev
plugins:
  secrets:
    type: k8s
    namespace: team-a
    config:
      kubeconfig: /etc/floe/kubeconfig
      context: dev
  compute:
    type: duckdb
    connection_secret_ref: duckdb-dev-credentials
"""


@pytest.mark.parametrize(
    "text",
    [
        K8S,
        K8S.replace("      context: dev\n", ""),
        K8S.replace("      kubeconfig: /etc/floe/kubeconfig\n", "      kubeconfig: null\n"),
        K8S.replace(
            "    config:\n      kubeconfig: /etc/floe/kubeconfig\n      context: dev\n", ""
        ),
        K8S.replace("    namespace: team-a\n", ""),
    ],
    ids=["both", "no-context", "null-kubeconfig", "no-config", "default-namespace"],
)
def test_plain_k8s_manifest_gives_what_the_full_loader_gives(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    found = quick_secrets(path)
    assert isinstance(found, KubernetesConfig)
    assert local_store(path) is None
    full = load_manifest(path).plugins.secrets
    assert found.namespace == full.namespace
    assert full.config is not None
    assert found.backend_kwargs() == full.config.backend_kwargs()


@pytest.mark.parametrize(
    "text",
    [
        K8S.replace("context: dev", "context: ''"),
        K8S.replace("context: dev", "context: 7"),
        K8S.replace("context: dev", "context: dev\n      in_cluster: true"),
        K8S.replace("    type: k8s\n", ""),
        K8S.replace("type: k8s", "type: vault"),
        K8S.replace("context: dev", "context: '{{ env }}'"),
        K8S.replace("context: dev", "context: dev\n      context: prod"),
    ],
    ids=[
        "empty-context",
        "context-not-text",
        "unknown-key",
        "type-by-default",
        "vault",
        "jinja",
        "repeated-key",
    ],
)
def test_anything_but_the_plain_k8s_shape_is_left_to_the_full_loader(
    tmp_path: Path, text: str
) -> None:
    assert quick_secrets(write(tmp_path, text)) is None


def test_list_on_k8s_imports_no_schema(tmp_path: Path) -> None:
    """A fresh ``floe secrets list`` on k8s builds no manifest model (it fails: no cluster)."""
    write(tmp_path, K8S.replace("/etc/floe/kubeconfig", str(tmp_path / "missing")))
    probe = (
        "import sys, json\n"
        "from floe_dagster_secrets.cli.app import cli\n"
        "try:\n"
        "    cli.main(['secrets', 'list'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = ['pydantic', 'floe_dagster_secrets.manifest']\n"
        "    print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FLOE_ENVIRONMENT"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Cannot load the Kubernetes configuration from kubeconfig" in done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
