"""A throwaway etcd on loopback, the storage behind the test kube-apiserver."""

from __future__ import annotations

from pathlib import Path

from tests.servers import binaries
from tests.servers._process import ManagedProcess, clean_env, free_port, http_call


class EtcdServer:
    """One etcd member with its data in ``workdir``, client and peer URLs on free loopback ports.

    ``--unsafe-no-fsync`` because a test cluster that loses data on a crash loses nothing of
    value, and fsync is most of etcd's write latency on a shared CI disk.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.log_file = workdir / "etcd.log"
        peer_url = f"http://127.0.0.1:{self.peer_port}"
        self.process = ManagedProcess(
            "etcd",
            [
                str(binaries.etcd()),
                "--name=floe-test",
                f"--data-dir={workdir / 'data'}",
                f"--listen-client-urls={self.url}",
                f"--advertise-client-urls={self.url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=floe-test={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                "--quota-backend-bytes=4294967296",
            ],
            log_file=self.log_file,
            env=clean_env(),
            cwd=workdir,
        )

    def _healthy(self) -> bool:
        status, body = http_call(f"{self.url}/health", timeout=2)
        return status == 200 and b'"health":"true"' in body

    def start(self, timeout: float = 60) -> float:
        """Start etcd and wait until ``/health`` says true; returns seconds to ready."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        return self.process.wait_ready(self._healthy, timeout=timeout)

    def stop(self) -> None:
        """Stop etcd (its data directory stays with the test's temporary files)."""
        self.process.stop()
