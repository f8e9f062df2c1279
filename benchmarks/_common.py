"""Shared by the benchmark scripts: the repository on ``sys.path``, the machine, a counting proxy.

Every benchmark prints the machine it ran on (cores, load average at start and end) so a figure
in ``benchmarks/README.md`` can be read against the load it was measured under; on a shared
machine only ratios measured in the same run compare.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    """``cores=<n> load=<1 min>,<5 min>,<15 min>`` (os.getloadavg)."""
    one, five, fifteen = os.getloadavg()
    return f"cores={os.cpu_count()} load={one:.2f},{five:.2f},{fifteen:.2f}"


def print_machine(when: str) -> None:
    print(f"machine_{when}: {machine()}", flush=True)


def timed(action: Callable[[], Any]) -> float:
    """Seconds ``action()`` took (perf_counter)."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], unit: float = 1.0, fmt: str = ".3f") -> str:
    """``median X (min Y, max Z, n=N)`` in ``unit`` (1 for seconds, 1000 for ms)."""
    return (
        f"median {median(values) * unit:{fmt}} (min {min(values) * unit:{fmt}}, "
        f"max {max(values) * unit:{fmt}}, n={len(values)})"
    )


@contextlib.contextmanager
def counting_proxy(server: Any) -> Iterator[tuple[Any, Path]]:
    """The suite's fault proxy in front of ``server`` (a KubeApiServer), passing everything.

    Yields the proxy (``proxy.seen`` lists every request on the wire) and an admin kubeconfig
    that points at it. The proxy closes each connection after one request, which costs a TLS
    handshake per request: use it to count requests, not to time them.
    """
    import yaml

    from tests.servers.fault_proxy import FaultProxy, Upstream

    assert server.pki is not None
    upstream = Upstream(
        "127.0.0.1",
        server.port,
        ca_file=server.ca_file,
        cert_file=server.pki.serving_cert,
        key_file=server.pki.serving_key,
    )
    with FaultProxy(upstream) as proxy:
        config = yaml.safe_load(server.admin_kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = proxy.url
        path = server.workdir / f"proxy-{proxy.port}.kubeconfig"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        yield proxy, path


class BenchmarkError(RuntimeError):
    """A benchmark's own check failed: the figures would not mean what they say."""


def require(condition: object, message: str) -> None:
    """Raise :class:`BenchmarkError` (exit status 1) unless ``condition`` holds."""
    if not condition:
        raise BenchmarkError(message)


def create_secrets(api_client: Any, namespace: str, names: Sequence[str]) -> float:
    """Create Opaque Secrets ``names`` (random values) with the plain client; returns seconds.

    Not through floe's plugin: its writes register each value with the process's masker, whose
    regex is rebuilt on every registration, so thousands of writes in one process take minutes.
    That is set-up here, not what is measured.
    """
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client as k8s

    core = k8s.CoreV1Api(api_client)

    def create(name: str) -> None:
        body = {"metadata": {"name": name}, "stringData": {"PASSWORD": secrets.token_hex(16)}}
        core.create_namespaced_secret(namespace, body)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, names))
    return time.perf_counter() - started
