"""Set-up shared by the fault-matrix tests: proxies in front of the real servers, fast policies.

Each proxy fronts the shared session server without touching it: a fault is an answer the proxy
makes up (or a connection it resets or leaves hanging), never a change to the server. Tests that
must stop a server start their own instance.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import yaml

from floe_dagster_secrets.backends._retry import RetryPolicy
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from tests.servers import KubeApiServer, OpenBaoServer
from tests.servers.fault_proxy import FaultProxy, Upstream

FAST = RetryPolicy(attempts=4, max_seconds=10.0, initial_wait=0.05, max_wait=0.2, jitter=0.05)
"""Four attempts, waits of a fraction of a second: the shape of the default policy, faster."""

READ_TIMEOUT = 1.5
"""Seconds a stalled request waits before the client gives up (the default is 30)."""

T = TypeVar("T")


def unique(prefix: str) -> str:
    """A short unique name."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def canary() -> str:
    """A value that must appear in no error text."""
    return f"canary-{uuid.uuid4().hex}"


def time_bound(policy: RetryPolicy, per_attempt: float) -> float:
    """The most a call may take under ``policy``: every attempt plus every wait, plus slack."""
    waits = sum(
        min(policy.initial_wait * 2**i, policy.max_wait) + policy.jitter
        for i in range(policy.attempts - 1)
    )
    return float(policy.attempts * per_attempt + waits + 3.0)


def timed(call: Callable[[], T]) -> tuple[T | BaseException, float]:
    """``call()``'s result or the exception it raised, and how long it took."""
    started = time.monotonic()
    try:
        result: T | BaseException = call()
    except Exception as e:  # the caller asserts on it
        result = e
    return result, time.monotonic() - started


def apiserver_proxy(server: KubeApiServer) -> FaultProxy:
    """A TLS-terminating proxy in front of ``server`` (same serving certificate, same CA)."""
    pki = server.pki
    assert pki is not None
    return FaultProxy(
        Upstream("127.0.0.1", server.port, pki.ca_file, pki.serving_cert, pki.serving_key)
    ).start()


def openbao_proxy(server: OpenBaoServer) -> FaultProxy:
    """A plain-HTTP proxy in front of ``server`` (dev mode listens without TLS)."""
    return FaultProxy(Upstream("127.0.0.1", server.port)).start()


def kubeconfig_via(server: KubeApiServer, url: str, directory: Path) -> Path:
    """The admin kubeconfig, its cluster entry pointed at ``url`` (a proxy)."""
    config = yaml.safe_load(server.admin_kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = url
    path = directory / f"{uuid.uuid4().hex[:6]}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class FastK8s(K8sSecretsPlugin):
    """The Kubernetes backend with :data:`FAST` retries and a short read timeout."""

    retry_policy = FAST
    request_timeout = (2.0, READ_TIMEOUT)


@contextmanager
def k8s_plugin(kubeconfig: Path) -> Iterator[FastK8s]:
    """A :class:`FastK8s` on ``kubeconfig``, closed afterwards."""
    plugin = FastK8s(kubeconfig=str(kubeconfig))
    try:
        yield plugin
    finally:
        plugin.close()


class FastVault(VaultSecretsPlugin):
    """The Vault backend with :data:`FAST` retries."""

    retry_policy = FAST


@contextmanager
def vault_plugin(address: str, token: str, directory: Path) -> Iterator[VaultSecretsPlugin]:
    """Token auth (token in a file), a unique KV prefix, :data:`FAST` retries, short timeout."""
    token_file = directory / f"token-{uuid.uuid4().hex[:6]}"
    token_file.write_text(token)
    plugin = FastVault(
        address=address,
        auth_method="token",
        token_file=str(token_file),
        secret_path_prefix=f"{unique('fault')}/",
        timeout=READ_TIMEOUT,
    )
    try:
        yield plugin
    finally:
        plugin.close()
