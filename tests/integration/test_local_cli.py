"""The installed ``floe`` console script as a real process: create → list → validate → rotate → get.

Runs ``.venv/bin/floe`` (the entry point pyproject declares) against the local store in a temporary
project, so the whole path — entry point, masker, exit codes, stdout/stderr separation, TTY
detection — is the one a user gets.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_samples import FLOE, sample_manifest

pytestmark = pytest.mark.integration

CANARY = "canary-integration-9d2c4e7a1b"
CANARY_2 = "canary-integration-rotated-3f81"
NS = "floe-jobs"

MANIFEST = sample_manifest({"type": "local", "namespace": NS})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "manifest.yaml").write_text(MANIFEST)
    (tmp_path / "home").mkdir()
    return tmp_path


def floe(project: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project / "home"),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(FLOE), *args],
        cwd=project,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def floe_on_terminal(project: Path, *args: str) -> tuple[int, str]:
    """Run floe with stdout and stderr on a pseudo-terminal, as in an interactive shell."""
    controller, terminal = pty.openpty()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project / "home"),
        "LANG": "C.UTF-8",
        "TERM": "xterm",
    }
    process = subprocess.Popen(
        [str(FLOE), *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            process.kill()
            pytest.fail("floe on a terminal produced no output for 60 s")
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_create_list_validate_rotate_get_as_a_real_process(project: Path) -> None:
    assert FLOE.exists(), f"{FLOE} is missing: run tools/setup.sh"

    result = floe(project, "secrets", "validate")
    assert result.returncode == 1
    assert "✗ duckdb-dev-credentials: NOT FOUND" in result.stdout
    assert "2 errors found." in result.stdout

    result = floe(
        project,
        "secrets",
        "create",
        "duckdb-dev-credentials",
        "--from-literal",
        "DUCKDB_ENCRYPTION_KEY=" + CANARY,
    )
    assert result.returncode == 0, result.stderr
    env_file = project / "salesforce.env"
    env_file.write_text(f"CLIENT_ID=client-id\nCLIENT_SECRET={CANARY}\n")
    result = floe(
        project,
        "secrets",
        "create",
        "salesforce-dev-credentials",
        "--from-env-file",
        "salesforce.env",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "✓ Secret salesforce-dev-credentials created in local store (namespace floe-jobs, 2 keys)\n"
    )

    result = floe(project, "secrets", "list")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "NAME",
        "duckdb-dev-credentials",
        "salesforce-dev-credentials",
    ]
    listed = json.loads(floe(project, "secrets", "list", "--output", "json").stdout)
    assert [item["keys"] for item in listed] == [
        ["DUCKDB_ENCRYPTION_KEY"],
        ["CLIENT_ID", "CLIENT_SECRET"],
    ]

    result = floe(project, "secrets", "validate")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [
        "Validating secret references in manifest.yaml...",
        "✓ duckdb-dev-credentials: exists, 1 key",
        "✓ salesforce-dev-credentials: exists, 2 keys",
        "",
        "All 2 secret references are valid.",
    ]

    result = floe(
        project,
        "secrets",
        "rotate",
        "salesforce-dev-credentials",
        "--from-stdin",
        stdin=f"CLIENT_SECRET={CANARY_2}\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Rotating secret: salesforce-dev-credentials",
        "✓ Secret updated in local store (version 2)",
        "Rotation complete.",
    ]

    result = floe(project, "secrets", "status")
    assert result.stdout.splitlines()[2].split()[:3] == [
        "salesforce-dev-credentials",
        "Opaque",
        "2",
    ]

    # Values stay hidden everywhere but `get --reveal`, which refuses a pipe without --force.
    result = floe(project, "secrets", "get", "salesforce-dev-credentials", "--reveal")
    assert result.returncode == 2
    assert "not a terminal" in result.stderr
    result = floe(project, "secrets", "get", "salesforce-dev-credentials", "--reveal", "--force")
    assert result.returncode == 0
    assert result.stdout == f"CLIENT_ID=client-id\nCLIENT_SECRET={CANARY_2}\n"

    store = project / ".floe" / "secrets"
    assert (store / ".gitignore").read_text().splitlines()[-1] == "*"
    assert oct((store / NS / "salesforce-dev-credentials.json").stat().st_mode & 0o777) == "0o600"


def test_values_never_reach_output_except_reveal(project: Path) -> None:
    floe(project, "secrets", "create", "pg", "--from-stdin", stdin=f"PASSWORD={CANARY}\n")
    for args in (
        ("secrets", "list"),
        ("secrets", "list", "-o", "json"),
        ("secrets", "status", "-o", "json"),
        ("secrets", "get", "pg"),
        ("secrets", "get", "pg", "-o", "json"),
        ("secrets", "validate", "-o", "json"),
        ("secrets", "rotate", "pg", "--generate", "PASSWORD"),
        ("secrets", "create", "pg", "--from-literal", f"PASSWORD={CANARY}"),
    ):
        result = floe(project, *args)
        assert CANARY not in result.stdout + result.stderr, args
        assert "Traceback" not in result.stderr, args


def test_reveal_works_on_a_terminal_without_force(project: Path) -> None:
    floe(project, "secrets", "create", "pg", "--from-literal", f"PASSWORD={CANARY}")
    code, shown = floe_on_terminal(project, "secrets", "get", "pg", "--reveal")
    assert code == 0, shown
    assert f"PASSWORD={CANARY}" in shown
    code, shown = floe_on_terminal(project, "secrets", "list")
    assert code == 0, shown
    # The spinner (stderr) has finished before the table is written, so its lines are intact.
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    lines = [line.strip() for line in plain.replace("\r", "\n").splitlines()]
    assert any(line.split() == ["NAME", "TYPE", "AGE"] for line in lines), shown
    assert any(line.startswith("pg ") and line.endswith("s") for line in lines), shown


def test_errors_are_one_red_line_on_a_terminal_and_plain_in_a_pipe(project: Path) -> None:
    result = floe(project, "secrets", "get", "missing-secret")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: Secret 'missing-secret' does not exist")
    assert "\x1b[" not in result.stderr
    code, shown = floe_on_terminal(project, "secrets", "get", "missing-secret")
    assert code == 1
    assert "\x1b[31m" in shown  # red
    assert "Traceback" not in shown


def test_usage_error_exits_2(project: Path) -> None:
    result = floe(project, "secrets", "list", "--output", "yaml")
    assert result.returncode == 2
    assert "Invalid value for '--output'" in result.stderr
