"""``floe secrets list`` on the local store reads the manifest without its schema, and safely.

The quick reader only ever answers for a plain ``type: local`` manifest and gives up on
anything else, so the full loader (with every check and message) decides those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from floe_dagster_secrets.cli.quick_manifest import LocalStore, local_store

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
