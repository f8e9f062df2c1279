"""``floe secrets list``, ``validate`` and the launcher's pre-flight never receive a value
(issue 14, point 6), proven on the wire against the real apiserver.

Every response the apiserver sends is recorded by a TLS-terminating proxy in front of it (the
fault proxy of ``tests/integration/fault_helpers.py``, teeing what it forwards) and scanned for
each Secret's canary, plain and base64-encoded as ``data`` carries it. A positive control reads
one value through the same proxy and finds its canary, so the scan is known to see values when
they do cross. The Secrets floe did not write show their real TYPE (``Opaque``,
``kubernetes.io/basic-auth``), not ``unknown``: it comes from the apiserver's server-side Table.
"""

from __future__ import annotations

import base64
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher.preflight import PreflightReader, secrets_metadata
from tests.integration.fault_helpers import kubeconfig_via
from tests.integration.test_k8s_cli import floe
from tests.servers import KubeApiServer
from tests.servers.fault_proxy import FaultProxy, Upstream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OURS = "alpha-dev-credentials"  # written by floe: key names in its annotation
FOREIGN = "beta-dev-credentials"  # written by kubectl-alike: Opaque
BASIC = "gamma-dev-secret"  # written by kubectl-alike: kubernetes.io/basic-auth


class _Tee:
    """A socket whose ``sendall`` also keeps a copy of what it sends."""

    def __init__(self, sock: socket.socket, sink: list[bytes]) -> None:
        self._sock = sock
        self._sink = sink

    def sendall(self, data: bytes) -> None:
        self._sink.append(bytes(data))
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class RecordingProxy(FaultProxy):
    """The fault proxy, passing everything through and recording every response's bytes."""

    def __init__(self, upstream: Upstream) -> None:
        super().__init__(upstream)
        self.responses: list[list[bytes]] = []
        self._record_lock = threading.Lock()

    def _forward(self, client: socket.socket, head: bytes, body: bytes) -> None:
        sink: list[bytes] = []
        with self._record_lock:
            self.responses.append(sink)  # a WATCH stays open: scan what it sent so far
        super()._forward(_Tee(client, sink), head, body)  # type: ignore[arg-type]

    def wire(self) -> bytes:
        with self._record_lock:
            return b"".join(b"".join(chunks) for chunks in self.responses)


def _forms(value: str) -> list[bytes]:
    return [value.encode(), base64.b64encode(value.encode())]


def test_list_validate_and_preflight_receive_no_value(
    kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path
) -> None:
    ns = k8s_namespace
    canaries = {name: f"canary{uuid.uuid4().hex}" for name in (OURS, FOREIGN, BASIC)}
    admin = K8sSecretsPlugin(kubeconfig=str(kube_apiserver.admin_kubeconfig))
    try:
        admin.create_secret(OURS, ns, {"ALPHA_TOKEN": canaries[OURS]})
    finally:
        admin.close()
    core = k8s.CoreV1Api(kube_apiserver.api_client())
    core.create_namespaced_secret(
        ns,
        {
            "metadata": {"name": FOREIGN},
            "type": "Opaque",
            "stringData": {"BETA_TOKEN": canaries[FOREIGN], "BETA_USER": "user-1"},
        },
    )
    core.create_namespaced_secret(
        ns,
        {
            "metadata": {"name": BASIC},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": "u", "password": canaries[BASIC]},
        },
    )
    (tmp_path / "manifest.yaml").write_text(
        "environment: dev\n"
        f"plugins:\n  secrets: {{type: k8s, namespace: {ns}}}\n"
        f"secrets:\n  {OURS}: {{keys: [ALPHA_TOKEN]}}\n  {FOREIGN}: {{keys: [BETA_TOKEN]}}\n"
    )
    pki = kube_apiserver.pki
    assert pki is not None
    proxy = RecordingProxy(
        Upstream("127.0.0.1", kube_apiserver.port, pki.ca_file, pki.serving_cert, pki.serving_key)
    ).start()
    try:
        kubeconfig = kubeconfig_via(kube_apiserver, proxy.url, tmp_path)

        listed = floe("secrets", "list", "--kubeconfig", str(kubeconfig), cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        types = {row.split()[0]: row.split()[1] for row in listed.stdout.splitlines()[1:] if row}
        assert types == {OURS: "Opaque", FOREIGN: "Opaque", BASIC: "kubernetes.io/basic-auth"}

        valid = floe("secrets", "validate", "--kubeconfig", str(kubeconfig), cwd=tmp_path)
        assert valid.returncode == 0, valid.stdout + valid.stderr
        assert f"✓ {OURS}: exists, 1 key" in valid.stdout.splitlines()
        assert (
            f"✓ {FOREIGN}: exists, 2 keys (key names not checked: floe did not write it, and "
            "Kubernetes shows them only with the values)"
        ) in valid.stdout.splitlines()

        plugin = K8sSecretsPlugin(kubeconfig=str(kubeconfig))
        try:
            required = {OURS: ["ALPHA_TOKEN"], FOREIGN: ["BETA_TOKEN"]}
            found = secrets_metadata(plugin, ns, required)
            assert set(found) == {OURS, FOREIGN}
            reader = PreflightReader.for_plugin(plugin)
            try:
                for _ in range(2):  # the first reads directly and starts the watch; then cached
                    assert set(reader.secrets_metadata(ns, required)) == {OURS, FOREIGN}
            finally:
                reader.close()
            described = plugin.describe_secret(FOREIGN, ns)
            assert (described.type, described.key_count) == ("Opaque", 2)

            wire = proxy.wire()
            assert b'"kind":"Table"' in wire  # the Tables really came through the proxy
            for name, value in canaries.items():
                for form in _forms(value):
                    assert form not in wire, f"a value of {name} crossed the wire"

            # positive control: a value read through the same proxy is seen by the scan
            assert plugin.get_secret(OURS, ns)["ALPHA_TOKEN"].reveal() == canaries[OURS]
            assert base64.b64encode(canaries[OURS].encode()) in proxy.wire()
        finally:
            plugin.close()
    finally:
        proxy.stop()
