"""What the e2e tests need to run Dagster on the real node: the tests' run configuration for pods,
and a user-code server running as a pod from the project's image.

Everything set here is the *tests'* choice, never the package's:
- ``hostNetwork: true`` on every pod, so connections stay on loopback where PostgreSQL, OpenBao
  and the apiserver listen;
- ``KUBERNETES_SERVICE_HOST/PORT`` pointing at the apiserver's loopback address (there is no
  kube-proxy, so the ``kubernetes`` Service's cluster IP leads nowhere), so in-cluster clients
  in a pod (the step executor) reach the apiserver with the pod's own projected token;
- the test's temporary directories mounted at the same path (hostPath), because the instance's
  settings (DAGSTER_HOME, compute logs, the launcher's manifest and kubeconfig paths) name host
  paths, as a shared volume would in a real deployment; the pods run as root to read them
  (pytest's temporary root is 0700), where the image's own user is unprivileged.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.servers._process import free_port


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def host_volumes(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """hostPath volumes and mounts that show each host directory at the same path in the pod."""
    volumes, mounts = [], []
    for index, path in enumerate(dict.fromkeys(str(p) for p in paths)):
        name = f"e2e-host-{index}"
        volumes.append({"name": name, "hostPath": {"path": path, "type": "Directory"}})
        mounts.append({"name": name, "mountPath": path})
    return volumes, mounts


def launcher_node_config(
    image: str, apiserver_port: int, host_paths: Sequence[Path]
) -> dict[str, Any]:
    """dagster-k8s run launcher settings that run each Job's pod on the test node."""
    volumes, mounts = host_volumes(host_paths)
    return {
        "job_image": image,
        "image_pull_policy": "Never",
        "volumes": volumes,
        "volume_mounts": mounts,
        "env_vars": [
            "KUBERNETES_SERVICE_HOST=127.0.0.1",
            f"KUBERNETES_SERVICE_PORT={apiserver_port}",
        ],
        "run_k8s_config": {
            "pod_spec_config": {
                "host_network": True,
                "dns_policy": "Default",
                # the hostPath directories belong to root (pytest's 0700 temp root)
                "security_context": {"run_as_user": 0},
            },
        },
    }


def node_run_launcher_config(
    image: str,
    kube: Any,
    namespace: str,
    home: Path,
    host_paths: Sequence[Path],
    *,
    env_vars: Sequence[str] = (),
    **settings: Any,
) -> dict[str, Any]:
    """A run launcher's ``config`` whose Jobs run on the test node, as the apiserver's admin.

    The node's pod settings (:func:`launcher_node_config`) with ``env_vars`` added, the client
    settings (kubeconfig, job namespace, the ``instance_config_map`` K8sRunLauncher requires,
    ``DAGSTER_HOME`` at the path the pods see), then ``settings``: floe's, or any dagster-k8s
    setting a test sets.
    """
    node = launcher_node_config(image, kube.port, host_paths)
    node["env_vars"] = [*node["env_vars"], *env_vars]
    return {
        **node,
        "load_incluster_config": False,
        "kubeconfig_file": str(kube.admin_kubeconfig),
        "job_namespace": namespace,
        "instance_config_map": "dagster-instance",
        "dagster_home": str(home),
        **settings,
    }


@dataclass
class CodeServer:
    """``dagster api grpc`` in a pod on the node, serving one code location on a loopback port."""

    core: k8s.CoreV1Api
    namespace: str
    image: str
    location_name: str
    module: str
    working_directory: str
    host_paths: Sequence[Path] = ()
    env: Mapping[str, str] | None = None
    service_account: str = "default"
    secret_env: Mapping[str, tuple[str, str]] | None = None
    """Variable → (Secret, key): e.g. the run storage's password, which the code server needs
    to open the instance when the daemon asks it to evaluate a schedule or sensor."""

    def __post_init__(self) -> None:
        self.port = free_port()
        self.pod_name = f"code-server-{self.location_name.replace('_', '-')}-{uuid.uuid4().hex[:5]}"

    def manifest(self) -> dict[str, Any]:
        """The Pod: the user-code image, host network, the location's module and port."""
        volumes, mounts = host_volumes(self.host_paths)
        env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in (self.env or {}).items()]
        env += [
            {"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for k, (secret, key) in (self.secret_env or {}).items()
        ]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.pod_name, "labels": {"app": "floe-e2e-code-server"}},
            "spec": {
                "hostNetwork": True,
                "dnsPolicy": "Default",
                "restartPolicy": "Never",
                "serviceAccountName": self.service_account,
                "terminationGracePeriodSeconds": 2,
                "securityContext": {"runAsUser": 0},  # reads root's 0700 hostPath directories
                "volumes": volumes,
                "containers": [
                    {
                        "name": "code-server",
                        "image": self.image,
                        "imagePullPolicy": "Never",
                        "command": [
                            "dagster",
                            "api",
                            "grpc",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(self.port),
                            "--module-name",
                            self.module,
                            "--attribute",
                            "defs",
                            "--working-directory",
                            self.working_directory,
                            "--location-name",
                            self.location_name,
                        ],
                        "env": env,
                        "volumeMounts": mounts,
                    }
                ],
            },
        }

    def start(self, timeout: float = 300) -> float:
        """Create the pod and wait until the gRPC server answers; seconds to ready."""
        from dagster._grpc.client import DagsterGrpcClient

        began = time.monotonic()
        wait_service_account(self.core, self.namespace, self.service_account)
        self.core.create_namespaced_pod(self.namespace, self.manifest())
        client = DagsterGrpcClient(port=self.port, host="127.0.0.1")
        deadline = began + timeout
        while time.monotonic() < deadline:
            pod = self.core.read_namespaced_pod(self.pod_name, self.namespace)
            if pod.status.phase in ("Failed", "Succeeded"):
                raise RuntimeError(f"code server pod ended: {self.logs()}")
            if _listening(self.port):  # else the client prints each refused attempt
                with contextlib.suppress(Exception):
                    if client.health_check_query() == "SERVING":
                        return time.monotonic() - began
            time.sleep(1)
        raise TimeoutError(f"code server {self.pod_name} not serving: {self.logs()}")

    def logs(self) -> str:
        """The container's log through the apiserver (the kubelet serves it)."""
        try:
            return pod_log(self.core, self.pod_name, self.namespace)
        except ApiException as e:
            return f"(no log: {e.status} {e.reason})"

    def stop(self) -> None:
        """Delete the pod (immediately)."""
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(self.pod_name, self.namespace, grace_period_seconds=0)


@contextlib.contextmanager
def code_servers(servers: Sequence[CodeServer]) -> Iterator[Sequence[CodeServer]]:
    """Start every server (in order), stop them all afterwards."""
    started: list[CodeServer] = []
    try:
        for server in servers:
            started.append(server)
            server.start()
        yield servers
    finally:
        for server in started:
            server.stop()


def wait_service_account(
    core: k8s.CoreV1Api, namespace: str, name: str, timeout: float = 60
) -> None:
    """Wait for a ServiceAccount (``default`` is made by the controller-manager, moments after
    the namespace); the ServiceAccount admission plugin refuses a pod until it exists."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.read_namespaced_service_account(name, namespace)
            return
        except ApiException as e:
            if e.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def wait_pod_of_job(
    core: k8s.CoreV1Api, namespace: str, job_name: str, timeout: float = 120
) -> Any:
    """The (first) Pod the Job controller made for ``job_name``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job_name}").items
        if pods:
            return pods[0]
        time.sleep(0.5)
    raise TimeoutError(f"no pod for Job {job_name}")


def waiting_reason(pod: Any) -> str | None:
    """The first container's waiting reason (e.g. ``CreateContainerConfigError``), if any."""
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting:
            return str(status.state.waiting.reason)
    return None


def pod_log(core: k8s.CoreV1Api, name: str, namespace: str, container: str | None = None) -> str:
    """A container's log as the kubelet wrote it (raw: the client would parse a JSON line)."""
    kwargs = {"container": container} if container else {}
    response = core.read_namespaced_pod_log(name, namespace, _preload_content=False, **kwargs)
    try:
        return bytes(response.data).decode(errors="replace")
    finally:
        response.release_conn()


def container_logs(core: k8s.CoreV1Api, namespace: str) -> str:
    """Every container log of every pod in ``namespace``, read through the apiserver."""
    chunks = []
    for pod in core.list_namespaced_pod(namespace).items:
        for container in pod.spec.containers:
            try:
                text = pod_log(core, pod.metadata.name, namespace, container.name)
            except ApiException as e:
                text = f"(no log: {e.status})"
            chunks.append(f"--- {pod.metadata.name}/{container.name}\n{text}")
    return "\n".join(chunks)


def node_artifacts(node: Any) -> tuple[list[Path], list[Path]]:
    """What the canary scan reads on the node, and where the runtime keeps container specs.

    Scanned (as files): the kubelet's root directory, the container logs it wrote, containerd's
    state (except the task bundles' ``config.json``) and each running or stopped container's
    writable layer (its active snapshot's upper directory). A task's ``rootfs`` under the state
    directory is skipped: it is the container's whole mounted filesystem (the image's layers,
    changing while the container runs), whose writable part is the snapshot already read.
    Returned apart, not scanned: containerd's metadata database and the task bundles' OCI specs,
    which hold each container's resolved environment — every Kubernetes env var, ``envFrom``
    included, lives there, readable by root on the node only.
    """
    containerd = Path(node.root) / "containerd"
    specs = [*_files(containerd, named=("config.json", "meta.db"))]
    scanned = [*_files(Path(node.kubelet_root)), *_files(Path(node.pod_logs_dir))]
    scanned += [p for p in _files(containerd / "state") if p not in specs]
    snapshots = containerd / "root" / "io.containerd.snapshotter.v1.overlayfs" / "snapshots"
    active = node.ctr("snapshots", "ls", check=False).stdout.splitlines()[1:]
    for line in active:
        parts = line.split()
        if len(parts) >= 3 and parts[-1] == "Active":
            for upper in _snapshot_dirs(node, parts[0], snapshots):
                scanned += _files(upper)
    return scanned, specs


def _files(root: Path, named: tuple[str, ...] = ()) -> list[Path]:
    """Regular files under ``root`` (``named`` only, if given), never inside a ``rootfs`` mount;
    a directory that vanishes while it is walked (a container ending) is passed over."""
    found = []
    for directory, subdirs, files in os.walk(root, onerror=lambda _: None):
        subdirs[:] = [d for d in subdirs if d != "rootfs"]
        for name in files:
            path = Path(directory, name)
            if (not named or name in named) and path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def _snapshot_dirs(node: Any, key: str, snapshots: Path) -> list[Path]:
    """The writable ``fs`` directory of the active snapshot ``key``."""
    mounts = node.ctr("snapshots", "mounts", "/mnt", key, check=False).stdout
    found = []
    for token in mounts.replace(",", " ").split():
        if token.startswith("upperdir="):
            found.append(Path(token.removeprefix("upperdir=")))
    return [p for p in found if p.is_relative_to(snapshots)]


def instance_yaml(launcher_config: Mapping[str, Any], **extra: Any) -> str:
    """``dagster.yaml`` of a test instance: runs launched at once through FloeK8sRunLauncher."""
    import yaml

    return yaml.safe_dump(
        {
            "telemetry": {"enabled": False},
            "run_coordinator": {  # launch at submit time (1.13's default coordinator queues)
                "module": "dagster._core.run_coordinator",
                "class": "DefaultRunCoordinator",
            },
            "run_launcher": {
                "module": "floe_dagster_secrets.launcher",
                "class": "FloeK8sRunLauncher",
                "config": dict(launcher_config),
            },
            **extra,
        }
    )


@contextlib.contextmanager
def node_workspace(home: Path, servers: Sequence[CodeServer]) -> Iterator[tuple[Any, Any]]:
    """The code-server pods started, then an instance on ``home`` and a daemon workspace on them."""
    from dagster import DagsterInstance
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import CompositeTarget, GrpcServerTarget

    with code_servers(servers):
        target = CompositeTarget(
            targets=[
                GrpcServerTarget(
                    host="127.0.0.1", port=s.port, socket=None, location_name=s.location_name
                )
                for s in servers
            ]
        )
        with (
            DagsterInstance.from_config(str(home)) as instance,
            create_test_daemon_workspace_context(target, instance) as context,
        ):
            entries = context.create_request_context().get_code_location_entries()
            for name, entry in entries.items():
                assert entry.code_location, f"{name}: {entry.load_error}"
            yield instance, context


def launch(
    context: Any,
    location: str,
    *,
    job: str = "__ASSET_JOB",
    assets: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Launch a run through GraphQL, as the UI does; its run id."""
    from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
    from dagster_graphql.test.utils import execute_dagster_graphql

    selector: dict[str, Any] = {
        "repositoryLocationName": location,
        "repositoryName": "__repository__",
        "pipelineName": job,
    }
    if assets is not None:
        selector["assetSelection"] = [{"path": [key]} for key in assets]
    variables = {
        "executionParams": {
            "selector": selector,
            "mode": "default",
            "executionMetadata": {
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]
            },
        }
    }
    result = execute_dagster_graphql(
        context.create_request_context(), LAUNCH_PIPELINE_EXECUTION_MUTATION, variables
    )
    assert not result.errors, result.errors
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"])


def wait_finished(instance: Any, run_id: str, timeout: float = 600, why: Any = None) -> Any:
    """The run once it has finished; on timeout the error carries ``why()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish in {timeout:.0f} s: {why() if why else ''}")
