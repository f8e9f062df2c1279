"""A real kube-apiserver (with its own etcd) on loopback, started the way controller-runtime's
envtest starts one: generated CA and serving certificate, static tokens, RBAC, and
ServiceAccount signing keys.

Alone it has no controller-manager: no default ServiceAccounts, no garbage collection, and deleted
namespaces stay ``Terminating`` — so every test gets a fresh, uniquely named namespace. The
``kube_node`` fixture (``tests/servers/node.py``) adds a real node and the controllers beside it.
"""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from tests.servers import binaries
from tests.servers._pki import ApiserverPki
from tests.servers._process import ManagedProcess, clean_env, free_port, http_call, log_tail
from tests.servers.etcd import EtcdServer

ADMIN_USER = "floe-admin"
RESTRICTED_USER = "floe-restricted"


class KubeApiServer:
    """kube-apiserver + etcd for one test session.

    Attributes:
        url: ``https://127.0.0.1:<port>``.
        ca_file: CA certificate that signed the serving certificate.
        admin_kubeconfig: kubeconfig of ``floe-admin`` (group ``system:masters``).
        restricted_kubeconfig: kubeconfig of ``floe-restricted`` (no groups: RBAC grants nothing
            until a test binds a Role to it).
        admin_token / restricted_token: their static bearer tokens.
        audit_log: the apiserver's audit log (JSON lines), written under floe's own audit policy
            (``floe secrets audit-policy``: Metadata level, never a body).
        restricted_user: the restricted identity's user name, for RoleBinding subjects.
        kubectl: path of the kubectl built from the same release.
    """

    def __init__(self, workdir: Path, *, extra_args: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.admin_token = secrets.token_hex(24)
        self.restricted_token = secrets.token_hex(24)
        self.restricted_user = RESTRICTED_USER
        self.admin_user = ADMIN_USER
        self.log_file = workdir / "kube-apiserver.log"
        self.audit_log = workdir / "audit.log"
        self.audit_policy = workdir / "audit-policy.yaml"
        self.admin_kubeconfig = workdir / "admin.kubeconfig"
        self.restricted_kubeconfig = workdir / "restricted.kubeconfig"
        self.kubectl = binaries.kubectl()
        self._binary = binaries.kube_apiserver()
        self.etcd = EtcdServer(workdir / "etcd")
        self.pki: ApiserverPki | None = None
        self.process: ManagedProcess | None = None
        self.etcd_ready_after = 0.0
        self.ready_after = 0.0
        self._admin_client: k8s.ApiClient | None = None

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients must trust."""
        if self.pki is None:
            raise RuntimeError("kube-apiserver not started")
        return self.pki.ca_file

    def _args(self, pki: ApiserverPki, token_file: Path) -> list[str]:
        return [
            str(self._binary),
            f"--etcd-servers={self.etcd.url}",
            f"--etcd-prefix=/floe-test-{uuid.uuid4().hex[:8]}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_file}",
            f"--token-auth-file={token_file}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.url}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            # pods get their projected ServiceAccount token (the node's pods log in to Vault
            # with it); the node's controller-manager creates each namespace's default account
            "--enable-admission-plugins=ServiceAccount",
            # reach the node's kubelet (logs) on loopback, never by a hostname
            "--kubelet-preferred-address-types=InternalIP",
            f"--cert-dir={self.workdir / 'certs'}",
            # floe's shipped audit policy, so tests can prove who read which Secret and that the
            # log holds no value; blocking mode: an event is written before its response returns
            f"--audit-policy-file={self.audit_policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            "--profiling=false",
            "--v=1",
            *self.extra_args,
        ]

    def _readyz(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(  # noqa: S310 - https to our own loopback server
            f"{self.url}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        status, body = http_call(request, timeout=3, context=context)
        return status == 200 and body.strip() == b"ok"

    def start(self, timeout: float = 120) -> float:
        """Start etcd, then the apiserver; wait for ``/readyz``. Returns total seconds to ready."""
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.etcd_ready_after = self.etcd.start()
        self.pki = ApiserverPki(self.workdir / "pki")
        token_file = self.workdir / "tokens.csv"
        token_file.write_text(
            f'{self.admin_token},{ADMIN_USER},uid-admin,"system:masters"\n'
            f"{self.restricted_token},{RESTRICTED_USER},uid-restricted\n"
        )
        token_file.chmod(0o600)
        from floe_dagster_secrets.kube.audit_policy import policy_text

        self.audit_policy.write_text(policy_text())
        self.process = ManagedProcess(
            "kube-apiserver",
            self._args(self.pki, token_file),
            log_file=self.log_file,
            env=clean_env(),
            cwd=self.workdir,
        )
        self.process.start()
        self.process.wait_ready(self._readyz, timeout=timeout, interval=0.25)
        self._write_kubeconfig(self.admin_kubeconfig, ADMIN_USER, self.admin_token)
        self._write_kubeconfig(self.restricted_kubeconfig, RESTRICTED_USER, self.restricted_token)
        self.ready_after = time.monotonic() - began
        return self.ready_after

    def _write_kubeconfig(self, path: Path, user: str, token: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "floe-test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": user, "context": {"cluster": "floe-test", "user": user}},
            ],
            "current-context": user,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    def audit_events(self) -> list[dict[str, Any]]:
        """Every event in the audit log so far (one JSON object per line)."""
        if not self.audit_log.exists():
            return []
        lines = self.audit_log.read_text("utf-8", "replace").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def log_tail(self) -> str:
        """The end of the apiserver's log, for failure reports."""
        return log_tail(self.log_file)

    def stop(self) -> None:
        """Stop the apiserver, then etcd."""
        if self._admin_client is not None:
            self._admin_client.close()
            self._admin_client = None
        if self.process is not None:
            self.process.stop()
        self.etcd.stop()

    # --- clients and identities -------------------------------------------------------------

    def api_client(self) -> k8s.ApiClient:
        """The session's admin ApiClient (shared; closed when the server stops)."""
        if self._admin_client is None:
            self._admin_client = self.new_client(self.admin_kubeconfig)
        return self._admin_client

    @staticmethod
    def new_client(kubeconfig: Path) -> k8s.ApiClient:
        """A fresh ApiClient for a kubeconfig; the caller closes it."""
        return k8s_config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)

    def token_client(self, token: str) -> k8s.ApiClient:
        """A fresh ApiClient that authenticates with ``token``; the caller closes it."""
        configuration = k8s.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        # The generated client looks the key up under its security scheme's name.
        configuration.api_key = {"BearerToken": token, "authorization": token}
        configuration.api_key_prefix = {"BearerToken": "Bearer", "authorization": "Bearer"}
        return k8s.ApiClient(configuration)

    def create_namespace(self, prefix: str = "floe-test") -> str:
        """Create a uniquely named namespace and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        k8s.CoreV1Api(self.api_client()).create_namespace({"metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str) -> None:
        """Ask for the namespace's deletion (it stays Terminating: no namespace controller)."""
        try:
            k8s.CoreV1Api(self.api_client()).delete_namespace(name)
        except ApiException as e:
            if e.status != 404:
                raise

    def service_account_token(
        self,
        namespace: str,
        name: str,
        *,
        audiences: list[str] | None = None,
        expiration_seconds: int = 600,
    ) -> str:
        """Mint a real ServiceAccount token through TokenRequest (creating the account if needed).

        600 s is the apiserver's minimum expiration.
        """
        core = k8s.CoreV1Api(self.api_client())
        try:
            core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        except ApiException as e:
            if e.status != 409:
                raise
        spec: dict[str, Any] = {"expirationSeconds": expiration_seconds}
        if audiences:
            spec["audiences"] = audiences
        response = core.create_namespaced_service_account_token(
            name, namespace, {"apiVersion": "authentication.k8s.io/v1", "spec": spec}
        )
        token: str = response.status.token
        return token

    def run_kubectl(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the kubectl of the same release against this server."""
        return subprocess.run(
            [str(self.kubectl), f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
            env=clean_env(),
        )
