"""What every test server shares: free ports, a supervised child process, readiness polling.

Modelled on hvac's integration-test server manager: each server gets free loopback ports, runs as
a child with its output in a log file that is kept after the run, is polled until it answers, and
is stopped on teardown whatever the test did. When it cannot start, the error carries the tail of
its log so the failure explains itself.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

LOG_TAIL_LINES = 40

_PR_SET_PDEATHSIG = 1
_RUNNING: set[ManagedProcess] = set()


class ServerStartError(RuntimeError):
    """A test server did not start or did not become ready; the message ends with its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_call(
    request: urllib.request.Request | str,
    *,
    timeout: float = 5,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """Status and body of one HTTP request; an error status is returned, not raised.

    The error response is closed here: a leaked one is a ResourceWarning, which this project's
    ``filterwarnings = error`` turns into a failure somewhere unrelated.
    """
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code), bytes(e.read())


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# Resolved in the parent: between fork and exec the child should only make the one call.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGTERM the child if pytest dies without running its teardown."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """One server process with its log file; stopped at teardown and, as a last resort, at exit.

    The child runs in its own session so stopping it also stops anything it spawned (OpenBao's
    plugins, PostgreSQL's backends) and a Ctrl-C in the terminal reaches pytest only.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_file = log_file
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stop_signal = stop_signal
        self._proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_after = 0.0

    def start(self) -> None:
        """Start the child with stdout and stderr appended to the log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as e:
                raise ServerStartError(f"{self.name}: cannot execute {self.argv[0]}: {e}") from e
        self.started_at = time.monotonic()
        _RUNNING.add(self)

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        """Whether the child is still alive."""
        return self._proc is not None and self._proc.poll() is None

    def failure(self, problem: str) -> ServerStartError:
        """An error for ``problem`` that ends with the tail of this server's log."""
        return ServerStartError(
            f"{self.name}: {problem}\n--- last {LOG_TAIL_LINES} lines of {self.log_file} ---\n"
            f"{log_tail(self.log_file)}"
        )

    def wait_ready(
        self, probe: Callable[[], bool], *, timeout: float, interval: float = 0.1
    ) -> float:
        """Poll ``probe`` until it returns true; fail early if the child exits.

        Returns:
            Seconds from start to ready, also kept as ``ready_after``.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                code = self._proc.returncode if self._proc else None
                self.stop()
                raise self.failure(f"exited with status {code} before it was ready")
            with contextlib.suppress(Exception):
                if probe():
                    self.ready_after = time.monotonic() - self.started_at
                    return self.ready_after
            if time.monotonic() > deadline:
                self.stop()
                raise self.failure(f"not ready after {timeout:.0f} s")
            time.sleep(interval)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the child's whole session: polite signal, then SIGKILL after ``timeout``."""
        _RUNNING.discard(self)
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, self.stop_signal)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


@atexit.register
def _stop_leftovers() -> None:
    """Stop anything a crashed fixture left running, so no server outlives the test session."""
    for process in list(_RUNNING):
        process.stop(timeout=5)


def clean_env(
    extra: Mapping[str, str] | None = None, *, drop: Sequence[str] = ()
) -> dict[str, str]:
    """The environment minus client settings that would point a server at the wrong place."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VAULT_", "BAO_", "PG", "ETCD")) and key not in {"KUBECONFIG", *drop}
    }
    env.update(extra or {})
    return env
