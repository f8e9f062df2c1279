"""``floe secrets get --reveal`` as a real process: it prints values to a terminal (a real pty),
refuses a pipe without ``--force``, and prints nothing else of the value anywhere."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

from floe_dagster_secrets.backends.local import LocalSecretsPlugin

FLOE = str(Path(sys.executable).parent / "floe")
NAME = "app-dev-credentials"
NS = "floe-jobs"
CANARY = "canary-reveal-Wq8TzK2mPx"


def _args(store: Path, *extra: str) -> list[str]:
    return [FLOE, "secrets", "get", NAME, "--backend", "local", "--store-path", str(store), *extra]


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    LocalSecretsPlugin(path=store).create_secret(NAME, NS, {"PASSWORD": CANARY})
    return store


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}


def test_reveal_into_a_pipe_is_refused_and_shows_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        _args(_store(tmp_path), "--reveal"), capture_output=True, text=True, env=_env(), timeout=60
    )
    assert result.returncode == 2
    assert "refusing to --reveal values into a pipe or file" in result.stderr
    assert "--force" in result.stderr
    assert CANARY not in result.stdout + result.stderr


def test_reveal_into_a_pipe_with_force_prints_the_value(tmp_path: Path) -> None:
    result = subprocess.run(
        _args(_store(tmp_path), "--reveal", "--force", "--key", "PASSWORD"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{CANARY}\n"


def test_without_reveal_a_pipe_gets_keys_but_no_value(tmp_path: Path) -> None:
    result = subprocess.run(
        _args(_store(tmp_path)), capture_output=True, text=True, env=_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "PASSWORD" in result.stdout
    assert CANARY not in result.stdout + result.stderr


def _read_all(fd: int, process: subprocess.Popen[bytes]) -> bytes:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            raise TimeoutError("no output from floe on the pty")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=30)
    return b"".join(chunks)


def test_reveal_on_a_real_terminal_prints_the_value(tmp_path: Path) -> None:
    store = _store(tmp_path)
    primary, secondary = os.openpty()
    try:
        process = subprocess.Popen(
            _args(store, "--reveal"),
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=subprocess.PIPE,
            env=_env(),
        )
        os.close(secondary)
        output = _read_all(primary, process).decode()
    finally:
        os.close(primary)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    assert f"PASSWORD={CANARY}" in output.replace("\r\n", "\n")
    assert process.stderr is not None
    assert CANARY not in process.stderr.read().decode()
    process.stderr.close()
