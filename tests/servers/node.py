"""A real single Kubernetes node beside the test kube-apiserver: containerd + runc, kubelet,
kube-controller-manager and kube-scheduler, all on loopback.

Pods run for real: Job → Job controller → Pod → scheduler → kubelet → containerd (CRI) → runc.
Everything this machine needs is set here and explained where it is set (see also
``shared/notes/real-node.md``, where each setting was first tried):

- containerd gets its own root, state and socket, ``restrict_oom_score_adj`` (this machine
  forbids lowering ``oom_score_adj``: without it every sandbox fails), a locally imported sandbox
  ("pause") image, and a loopback-only CNI config so the runtime reports its network ready.
  Pods use ``hostNetwork: true``, set by the tests' run configuration, never by the package.
- The kubelet runs with the cgroupfs driver on cgroup v1 (``failCgroupV1: false``), no swap
  check, its pod logs under the node's own directory, and registers as ``127.0.0.1`` so the
  apiserver reaches it on loopback for ``kubectl logs``.
- The controller-manager runs the controllers pods need (Job, garbage collector, service
  accounts and their tokens' root CA, node lifecycle, namespaces); the scheduler places pods.

``stop`` leaves nothing behind: pods are deleted and their containers stopped, the daemons are
stopped, leftover shims killed, mounts under the node's directories unmounted, the node's
cgroups removed and the ``/var/log/containers`` links the kubelet made deleted.
:func:`leftovers` reports what remains, and a test asserts it is empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.servers import binaries
from tests.servers._process import ManagedProcess, ServerStartError, clean_env, free_port
from tests.servers.kube_apiserver import KubeApiServer

CNI_BIN_DIR = Path("/usr/lib/cni")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
CONTAINERD_NAMESPACE = "k8s.io"
PAUSE_IMAGE = "docker.io/local/pause:1"
SETUP_HINT = "run `bash .ci/setup-test-servers.sh` as root (installs containerd, runc, CNI plugins)"


@dataclass
class Leftovers:
    """What a stopped node left on the machine (all empty after a clean teardown)."""

    processes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    log_links: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        """Whether nothing at all was left."""
        return not any((self.processes, self.mounts, self.cgroups, self.log_links, self.interfaces))


def _interfaces() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (deepest first), from /proc/self/mountinfo."""
    found = []
    prefix = str(root)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(set(found), key=len, reverse=True)


def _processes_mentioning(needle: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains ``needle`` (never this process)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cmdline = " ".join(a.decode(errors="replace") for a in argv if a)
            if needle in cmdline:
                found.append((int(entry.name), cmdline))
    return found


def _cgroup_dirs(marker: str) -> list[Path]:
    """Cgroup directories (deepest first) under every v1 hierarchy whose path has ``marker``."""
    found: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return found
    for hierarchy in CGROUP_ROOT.iterdir():
        base = hierarchy / CONTAINERD_NAMESPACE
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_dir() and marker in str(path):
                found.append(path)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


class KubeNode:
    """One real node registered with ``apiserver``; ``start`` returns seconds to node Ready.

    Attributes:
        name: The Node's name: its loopback address (unique per node on one apiserver).
        socket: containerd's CRI socket.
        root: The directory holding everything this node writes (state, pods, logs).
        pod_logs_dir: Where the kubelet writes container logs (``<ns>_<pod>_<uid>/<c>/0.log``).
    """

    def __init__(self, workdir: Path, apiserver: KubeApiServer, address: str = "127.0.0.1") -> None:
        self.workdir = workdir
        self.apiserver = apiserver
        # The node is named by its loopback address: the kubelet then reports it as both its
        # Hostname and InternalIP (it refuses a loopback --node-ip), so the apiserver reaches
        # it on loopback for logs. A second node takes another address of 127.0.0.0/8.
        self.address = address
        self.name = address
        self.root = workdir
        self.socket = workdir / "containerd" / "containerd.sock"
        self.kubelet_root = workdir / "kubelet"
        self.pod_logs_dir = workdir / "pods-logs"
        self.log_file = workdir / "kubelet.log"
        self.containerd: ManagedProcess | None = None
        self.processes: list[ManagedProcess] = []
        self.ready_after = 0.0
        self._interfaces_before: set[str] = set()
        self._container_ids: set[str] = set()

    # --- start ------------------------------------------------------------------------------

    def start(self, timeout: float = 180) -> float:
        """Start containerd, import the sandbox image, then the kubelet and the controllers."""
        for tool in ("containerd", "runc", "ctr"):
            if shutil.which(tool) is None:
                raise ServerStartError(f"{tool} not found: {SETUP_HINT}")
        if not (CNI_BIN_DIR / "loopback").is_file():
            raise ServerStartError(f"CNI loopback plugin not in {CNI_BIN_DIR}: {SETUP_HINT}")
        began = time.monotonic()
        self._interfaces_before = _interfaces()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start_containerd()
        from tests.servers.image import ensure_pause_image

        ensure_pause_image(self.socket)
        self._start_kubelet()
        self._start_controllers()
        self._wait_node_ready(timeout - (time.monotonic() - began))
        self.ready_after = time.monotonic() - began
        return self.ready_after

    def _start_containerd(self) -> None:
        base = self.workdir / "containerd"
        cni_conf = self.workdir / "cni"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-floe-loopback.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "floe-loopback",
                    "plugins": [{"type": "loopback"}],
                }
            )
        )
        config = f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{self.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf}"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
"""
        base.mkdir(parents=True, exist_ok=True)
        (base / "config.toml").write_text(config)
        self.containerd = ManagedProcess(
            "containerd",
            ["containerd", "--config", str(base / "config.toml"), "--log-level", "warn"],
            log_file=self.workdir / "containerd.log",
            env=clean_env(),
            cwd=base,
        )
        self.containerd.start()
        self.containerd.wait_ready(
            lambda: self.ctr("version", check=False).returncode == 0, timeout=30, interval=0.2
        )

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``ctr`` against this node's containerd, in the CRI namespace."""
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "-n", CONTAINERD_NAMESPACE, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def _start_kubelet(self) -> None:
        self.kubelet_root.mkdir(parents=True, exist_ok=True)
        self.pod_logs_dir.mkdir(parents=True, exist_ok=True)
        port, healthz = free_port(), free_port()
        self.kubelet_healthz = f"http://127.0.0.1:{healthz}/healthz"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # this machine has cgroup v1: warn only
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": self.address,
            "port": port,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz,
            "readOnlyPort": 0,
            # loopback only, test cluster: the apiserver's log/exec requests need no client cert
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "localStorageCapacityIsolation": False,
            "resolvConf": "",
            "podLogsDir": str(self.pod_logs_dir),
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%"},
            "serializeImagePulls": False,
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
            "nodeStatusUpdateFrequency": "5s",
            "registerNode": True,
        }
        path = self.workdir / "kubelet-config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.processes.append(
            ManagedProcess(
                "kubelet",
                [
                    str(binaries.kube_binary("kubelet")),
                    f"--config={path}",
                    f"--kubeconfig={self.apiserver.admin_kubeconfig}",
                    f"--hostname-override={self.name}",
                    f"--root-dir={self.kubelet_root}",
                    f"--cert-dir={self.workdir / 'kubelet-pki'}",
                    "--v=1",
                ],
                log_file=self.log_file,
                env=clean_env(),
                cwd=self.workdir,
            )
        )
        self.processes[-1].start()

    def _start_controllers(self) -> None:
        pki = self.apiserver.pki
        assert pki is not None
        kubeconfig = str(self.apiserver.admin_kubeconfig)
        manager = ManagedProcess(
            "kube-controller-manager",
            [
                str(binaries.kube_binary("kube-controller-manager")),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--controllers=job-controller,garbage-collector-controller,"
                "serviceaccount-controller,serviceaccount-token-controller,"
                "root-ca-certificate-publisher-controller,node-lifecycle-controller,"
                "namespace-controller,ttl-after-finished-controller",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_file}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--concurrent-job-syncs=5",
                "--v=1",
            ],
            log_file=self.workdir / "kube-controller-manager.log",
            env=clean_env(),
            cwd=self.workdir,
        )
        scheduler = ManagedProcess(
            "kube-scheduler",
            [
                str(binaries.kube_binary("kube-scheduler")),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--v=1",
            ],
            log_file=self.workdir / "kube-scheduler.log",
            env=clean_env(),
            cwd=self.workdir,
        )
        for process in (manager, scheduler):
            process.start()
            self.processes.append(process)

    def _core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.apiserver.api_client())

    def _wait_node_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 10)
        last = "not registered"
        while time.monotonic() < deadline:
            for process in [self.containerd, *self.processes]:
                if process is not None and not process.running():
                    raise process.failure("exited while the node was starting")
            try:
                node = self._core().read_node(self.name)
            except ApiException as e:
                if e.status != 404:
                    raise
            else:
                ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
                taints = [t.key for t in node.spec.taints or []]
                last = f"Ready={ready[0].status if ready else '?'} taints={taints}"
                if ready and ready[0].status == "True" and not taints:
                    return
            time.sleep(0.5)
        kubelet = self.processes[0]
        raise kubelet.failure(f"node {self.name} not Ready in time ({last})")

    # --- stop ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop pods, daemons and containers; unmount, remove cgroups and log links."""
        with contextlib.suppress(Exception):
            self._delete_pods_on_node()
        for process in reversed(self.processes):
            process.stop()
        with contextlib.suppress(Exception):
            self._stop_containers()
        if self.containerd is not None:
            self.containerd.stop()
        self._kill_leftover_processes()
        for point in _mounts_under(self.workdir):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        self._remove_cgroups()
        self._remove_log_links()
        with contextlib.suppress(ApiException, Exception):
            self._core().delete_node(self.name)

    def _delete_pods_on_node(self, timeout: float = 60) -> None:
        core = self._core()
        selector = f"spec.nodeName={self.name}"
        for pod in core.list_pod_for_all_namespaces(field_selector=selector).items:
            with contextlib.suppress(ApiException):
                core.delete_namespaced_pod(
                    pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not core.list_pod_for_all_namespaces(field_selector=selector).items:
                return
            time.sleep(0.5)

    def _stop_containers(self) -> None:
        self._container_ids.update(self.ctr("containers", "ls", "-q", check=False).stdout.split())
        tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
        for task in tasks:
            self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
        for task in tasks:
            self.ctr("tasks", "delete", "-f", task, check=False)
        for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
            self.ctr("containers", "delete", container, check=False)

    def _kill_leftover_processes(self) -> None:
        for pid, _ in _processes_mentioning(str(self.socket)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _processes_mentioning(str(self.socket)) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _cgroups(self) -> list[Path]:
        """This node's cgroups: those named after a container or sandbox it ran."""
        found: list[Path] = []
        for container_id in self._container_ids:
            found.extend(_cgroup_dirs(container_id))
        return sorted(set(found), key=lambda p: len(p.parts), reverse=True)

    def _remove_cgroups(self) -> None:
        for path in self._cgroups():
            with contextlib.suppress(OSError):
                path.rmdir()

    def _log_links(self) -> list[Path]:
        if not CONTAINER_LOG_LINKS.is_dir():
            return []
        links = []
        for link in CONTAINER_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and str(os.readlink(link)).startswith(str(self.workdir)):
                    links.append(link)
        return links

    def _remove_log_links(self) -> None:
        for link in self._log_links():
            with contextlib.suppress(OSError):
                link.unlink()

    def leftovers(self) -> Leftovers:
        """What this node left behind (call after :meth:`stop`)."""
        return Leftovers(
            processes=[cmd for _, cmd in _processes_mentioning(str(self.workdir))],
            mounts=_mounts_under(self.workdir),
            cgroups=[str(p) for p in self._cgroups()],
            log_links=[str(p) for p in self._log_links()],
            interfaces=sorted(_interfaces() - self._interfaces_before),
        )
