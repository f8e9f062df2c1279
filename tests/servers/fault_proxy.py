"""A fault-injecting HTTP proxy on loopback, in front of a real server (kube-apiserver, OpenBao).

The tests point a client at the proxy instead of the server; the proxy forwards each request to
the real server, or answers it with a fault chosen by the test at run time:

- ``answer(status)``: an HTTP error (429, 500, 502, 503, 504 …) with a JSON body that both the
  Kubernetes client (a ``Status`` object) and hvac (``errors``) understand;
- ``RESET``: the connection is reset (RST) after the request arrived, before any answer;
- ``STALL``: the request is read and never answered (the client's read timeout must fire);
- ``delay(seconds)``: forwarded after that many seconds (a server that answers slowly);
- ``PASS``: forwarded to the real server, answer streamed back (watches work too).

HTTP, not raw TCP, so a fault hits one request, not "the n-th connection": every answer carries
``Connection: close`` (the upstream request is rewritten to ask for it too), so each client
connection carries exactly one request, and pooled keep-alive connections cannot blur the count.
For the apiserver, TLS is terminated with the apiserver's own serving certificate (its SANs hold
127.0.0.1, and clients trust the same test CA), and the proxy talks TLS to the apiserver behind
it, verifying it with that CA. Stdlib only: sockets, ssl and threads.

Faults are queued rules: ``fail_next(n, fault, path=...)`` applies ``fault`` to the next ``n``
requests whose path matches; requests no rule takes get the default (``set_default``), normally
``PASS``. Every request is recorded (method, path, what was done), so a test can count attempts.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import struct
import threading
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Literal

Kind = Literal["pass", "answer", "reset", "stall", "delay"]

_HEAD_LIMIT = 64 * 1024
_IO_TIMEOUT = 60.0


@dataclass(frozen=True)
class Fault:
    """What to do with one request."""

    kind: Kind
    status: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        if self.kind == "delay":
            return f"delay {self.seconds} s"
        return f"answer {self.status}" if self.kind == "answer" else self.kind


PASS = Fault("pass")
RESET = Fault("reset")
STALL = Fault("stall")


def answer(status: int) -> Fault:
    """Answer with this HTTP status instead of forwarding."""
    return Fault("answer", status)


def delay(seconds: float) -> Fault:
    """Forward after ``seconds`` (the proxy stopping cuts the wait short)."""
    return Fault("delay", seconds=seconds)


@dataclass(frozen=True)
class Seen:
    """One request the proxy received, and what it did with it."""

    method: str
    path: str
    fault: Fault


@dataclass
class _Rule:
    remaining: int
    fault: Fault
    path: re.Pattern[str] | None
    method: str | None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.path is None or bool(self.path.search(path)))
            and (self.method is None or self.method == method)
        )


@dataclass(frozen=True)
class Upstream:
    """Where the real server listens; ``ca_file`` set means TLS on both sides of the proxy."""

    host: str
    port: int
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


class FaultProxy:
    """The proxy; ``start()`` it, point clients at :attr:`url`, ``stop()`` it (or use ``with``)."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self._rules: list[_Rule] = []
        self._default = PASS
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._release = threading.Event()
        self._open: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._server_tls: ssl.SSLContext | None = None
        self._client_tls: ssl.SSLContext | None = None
        if upstream.ca_file is not None:
            if upstream.cert_file is None or upstream.key_file is None:
                raise ValueError("a TLS upstream needs the serving certificate and key")
            self._server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._server_tls.load_cert_chain(str(upstream.cert_file), str(upstream.key_file))
            self._client_tls = ssl.create_default_context(cafile=str(upstream.ca_file))

    @property
    def url(self) -> str:
        """Base URL clients use instead of the server's."""
        scheme = "https" if self._server_tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # --- control (called by tests) --------------------------------------------------------------

    def set_default(self, fault: Fault) -> None:
        """What every request that no queued rule takes gets from now on."""
        with self._lock:
            self._default = fault
        if fault.kind != "stall":
            self._release.set()  # let stalled requests go (they are dropped)
            self._release = threading.Event()

    def fail_next(
        self, count: int, fault: Fault, *, path: str | None = None, method: str | None = None
    ) -> None:
        """Apply ``fault`` to the next ``count`` requests whose path matches ``path`` (a regex)
        and whose method is ``method`` (either left out: any)."""
        with self._lock:
            self._rules.append(_Rule(count, fault, re.compile(path) if path else None, method))

    def clear(self) -> None:
        """Drop every queued rule, back to passing everything, and release stalled requests."""
        with self._lock:
            self._rules.clear()
        self.set_default(PASS)

    def requests(self, path: str | None = None) -> list[Seen]:
        """Requests seen so far (whose path matches ``path``, a regex)."""
        pattern = re.compile(path) if path else None
        with self._lock:
            return [s for s in self.seen if pattern is None or pattern.search(s.path)]

    def _choose(self, method: str, path: str) -> Fault:
        with self._lock:
            fault = self._default
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    fault = rule.fault
                    break
            self._rules = [rule for rule in self._rules if rule.remaining > 0]
            self.seen.append(Seen(method, path, fault))
            return fault

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start accepting connections (in a daemon thread)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, release stalled requests and close every open connection."""
        self._stopping.set()
        self._release.set()
        _close(self._listener)  # shutdown() first: close() alone does not wake accept()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            _close(sock)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving --------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(client,), name="fault-proxy-conn", daemon=True
            ).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _close(sock)

    def _serve(self, raw: socket.socket) -> None:
        client: socket.socket = raw
        self._track(raw)
        try:
            raw.settimeout(_IO_TIMEOUT)
            if self._server_tls is not None:
                client = self._server_tls.wrap_socket(raw, server_side=True)
                self._track(client)
            request = _read_request(client)
            if request is None:
                return
            method, path, head, body = request
            fault = self._choose(method, path)
            if fault.kind == "answer":
                client.sendall(_error_response(fault.status))
            elif fault.kind == "reset":
                _reset(client)
            elif fault.kind == "stall":
                release = self._release
                while not (release.wait(0.1) or self._stopping.is_set()):
                    pass
            else:
                if fault.kind == "delay":
                    self._stopping.wait(fault.seconds)
                self._forward(client, head, body)
        except (OSError, ValueError):
            pass  # a client that went away, or garbage: nothing to answer
        finally:
            self._untrack(client)
            self._untrack(raw)

    def _forward(self, client: socket.socket, head: bytes, body: bytes) -> None:
        try:
            upstream = socket.create_connection(
                (self.upstream.host, self.upstream.port), timeout=_IO_TIMEOUT
            )
        except OSError:
            _reset(client)  # the server is down: the client sees what it would see directly
            return
        self._track(upstream)
        try:
            if self._client_tls is not None:
                upstream = self._client_tls.wrap_socket(
                    upstream, server_hostname=self.upstream.host
                )
                self._track(upstream)
            upstream.sendall(_close_after(head) + body)
            upstream.settimeout(None)  # watches stay quiet for minutes; the client decides
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    return
                client.sendall(chunk)
        finally:
            self._untrack(upstream)


def _close(sock: socket.socket) -> None:
    """Shut down, then close: a thread blocked in recv()/accept() on it wakes up."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST instead of an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()  # no shutdown(): that would send a FIN before the RST


def _read_request(sock: socket.socket) -> tuple[str, str, bytes, bytes] | None:
    """(method, path, head, body) of one request; ``None`` if the client sent nothing."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _HEAD_LIMIT:
            raise ValueError("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        if name.strip().lower() == "transfer-encoding":
            raise ValueError("chunked request bodies are not supported by the fault proxy")
    body = rest
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("request body cut short")
        body += chunk
    return method, path, head + b"\r\n\r\n", body[:length]


def _close_after(head: bytes) -> bytes:
    """The request head with ``Connection: close``: one request per upstream connection."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


def _error_response(status: int) -> bytes:
    """An error answer both clients parse: a Kubernetes ``Status`` that has Vault's ``errors``."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Injected"
    message = f"{reason} (injected by the test's fault proxy)"
    body = (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        f'"message":"{message}","reason":"{reason.replace(" ", "")}","code":{status},'
        f'"errors":["{message}"]}}'
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body
