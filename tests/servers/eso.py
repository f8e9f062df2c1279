"""The real External Secrets Operator: CRDs in the test apiserver, controller out of cluster.

Both come from the ESO release pinned in ``tools/test-servers/versions.env`` (``ESO_VERSION``),
built and cached by ``tools/test-servers/build-eso.sh``: the controller binary and the release's
own CRD bundle (``deploy/crds/bundle.yaml``). The CRDs are applied server-side (the store CRDs are
too large for client-side apply's last-applied annotation). The controller runs as a child
process with ``KUBECONFIG`` pointing at the admin kubeconfig (it has no ``--kubeconfig`` flag),
metrics off, leader election off, and its health endpoint on a free loopback port, which is what
readiness polls.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.servers import binaries
from tests.servers._process import ManagedProcess, ServerStartError, clean_env, free_port, http_call
from tests.servers.kube_apiserver import KubeApiServer


def eso_dir() -> Path:
    """Cache directory of the pinned ESO release (binary and CRD bundle)."""
    return binaries.cache_dir() / f"eso-{binaries.versions()['ESO_VERSION']}"


def controller_binary() -> Path:
    """The ESO controller built from the Go module proxy."""
    path = eso_dir() / "external-secrets"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ServerStartError(
            f"ESO controller not found at {path}: run `bash tools/test-servers/build-eso.sh`"
        )
    return path


def crd_bundle() -> Path:
    """The release's own CRD bundle."""
    path = eso_dir() / "crds" / "bundle.yaml"
    if not path.is_file():
        raise ServerStartError(
            f"ESO CRD bundle not found at {path}: run `bash tools/test-servers/build-eso.sh`"
        )
    return path


def install_crds(apiserver: KubeApiServer, timeout: float = 60) -> float:
    """Apply ESO's CRDs server-side and wait until they are Established; seconds taken."""
    began = time.monotonic()
    bundle = crd_bundle()
    applied = apiserver.run_kubectl(
        "apply", "--server-side", "--field-manager=floe-tests", "-f", str(bundle), check=False
    )
    if applied.returncode != 0:
        raise ServerStartError(f"applying {bundle} failed:\n{applied.stderr[-4000:]}")
    waited = apiserver.run_kubectl(
        "wait",
        "--for=condition=Established",
        f"--timeout={int(timeout)}s",
        "-f",
        str(bundle),
        check=False,
    )
    if waited.returncode != 0:
        raise ServerStartError(f"ESO CRDs not Established:\n{waited.stderr[-4000:]}")
    return time.monotonic() - began


class EsoController:
    """The ESO controller for one test session, against ``apiserver``.

    Attributes:
        log_file: the controller's log.
        live_port: port of its health endpoint (``/healthz``).
    """

    def __init__(self, workdir: Path, apiserver: KubeApiServer) -> None:
        self.workdir = workdir
        self.apiserver = apiserver
        self.live_port = free_port()
        self.log_file = workdir / "external-secrets.log"
        self.process = ManagedProcess(
            "external-secrets",
            [
                str(controller_binary()),
                "--metrics-addr=0",
                "--enable-leader-election=false",
                f"--live-addr=127.0.0.1:{self.live_port}",
                "--loglevel=debug",
                "--zap-time-encoding=iso8601",
                "--concurrent=2",
            ],
            log_file=self.log_file,
            env=clean_env({"KUBECONFIG": str(apiserver.admin_kubeconfig)}),
            cwd=workdir,
        )
        self.crds_after = 0.0
        self.ready_after = 0.0

    def _live(self) -> bool:
        status, _ = http_call(f"http://127.0.0.1:{self.live_port}/healthz", timeout=2)
        return status == 200

    def start(self, timeout: float = 90) -> float:
        """Install the CRDs, start the controller, wait for its health endpoint; seconds taken."""
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.crds_after = install_crds(self.apiserver)
        self.process.start()
        self.process.wait_ready(self._live, timeout=timeout, interval=0.25)
        self.ready_after = time.monotonic() - began
        return self.ready_after

    def stop(self) -> None:
        """Stop the controller (the CRDs stay: the apiserver is the session's)."""
        self.process.stop()
