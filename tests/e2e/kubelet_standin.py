"""A test-only stand-in for the kubelet: runs the Jobs a real apiserver holds as local processes.

There is no kubelet (nor scheduler or job controller) in the test cluster. This watches Jobs in one
namespace of the real apiserver and, for each new one, does what the kubelet would do with its pod
template, as far as these tests need:

- resolves the container environment the way the kubelet does (``envFrom`` first, in order, later
  sources winning; then ``env``, winning over ``envFrom``): ``secretRef``/``configMapRef`` with
  ``prefix`` and ``optional``; names that are not valid (relaxed, 1.35) env var names are
  skipped; ``valueFrom.secretKeyRef`` /
  ``configMapKeyRef`` / ``fieldRef`` (metadata.name, metadata.namespace, spec.serviceAccountName);
  ``$(VAR)`` references in values;
- a missing, non-optional secret/ConfigMap (or key) fails the pod the way
  ``CreateContainerConfigError`` does: the process never starts, a ``Failed`` Event is recorded,
  the Pod's container is left waiting with that reason, and the Job is marked failed;
- materializes ConfigMap and Secret volumes into a temp dir and rewrites their mount paths in the
  environment (a pod would see the files at the mount path);
- runs the container's ``command``+``args`` as a subprocess with that environment plus the
  ``base_env`` given (PATH with the venv, HOME), and marks the Job succeeded or failed.

A Pod object is created from the template (as the job controller would), so the tests can look at
it. Nothing is read from the host environment except what ``base_env`` passes.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

ENV_NAME = re.compile(r"^[ -<>-~]+$")
"""Kubernetes 1.35's rule for env var names (``IsRelaxedEnvVarName``, GA and locked since 1.34):
printable ASCII except ``=``. Older kubelets skipped envFrom keys that were not
``[-._a-zA-Z][-._a-zA-Z0-9]*`` (an ``InvalidEnvironmentVariableNames`` event); 1.35 passes every
key a Secret or ConfigMap can hold, e.g. ``1KEY`` or ``a.b``, which shells cannot use."""
_STRICT_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class ContainerConfigError(Exception):
    """What the kubelet reports as ``CreateContainerConfigError``."""


@dataclass
class PodOutcome:
    """What happened to one Job's pod."""

    job: str
    phase: str  # "Succeeded" | "Failed"
    reason: str = ""
    message: str = ""
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    env: dict[str, str] = field(default_factory=dict)
    skipped_env_keys: list[str] = field(default_factory=list)


def _decode(value: str) -> str:
    return base64.b64decode(value).decode()


def resolve_env(
    container: Mapping[str, Any],
    *,
    get_secret: Callable[[str], Mapping[str, str] | None],
    get_config_map: Callable[[str], Mapping[str, str] | None],
    fields: Mapping[str, str],
) -> tuple[dict[str, str], list[str]]:
    """The container's environment as the kubelet builds it, and the envFrom keys it skipped.

    ``get_secret``/``get_config_map`` return the (decoded) data, or ``None`` when absent.

    Raises:
        ContainerConfigError: a non-optional source or key is missing.
    """
    env: dict[str, str] = {}
    skipped: list[str] = []
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if "secretRef" in source:
            ref, kind, data = source["secretRef"], "secret", None
            data = get_secret(ref["name"])
        else:
            ref, kind = source["configMapRef"], "configmap"
            data = get_config_map(ref["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(f'{kind} "{ref["name"]}" not found')
        for key, value in data.items():
            name = prefix + key
            if not ENV_NAME.match(name):
                skipped.append(name)
                continue
            env[name] = value
    for entry in container.get("env") or []:
        name = entry["name"]
        if "value" in entry:
            env[name] = _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), entry["value"])
            continue
        value_from = entry.get("valueFrom") or {}
        if "fieldRef" in value_from:
            env[name] = fields.get(value_from["fieldRef"]["fieldPath"], "")
            continue
        for ref_key, kind, getter in (
            ("secretKeyRef", "secret", get_secret),
            ("configMapKeyRef", "configmap", get_config_map),
        ):
            if ref_key not in value_from:
                continue
            ref = value_from[ref_key]
            data = getter(ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    break
                if data is None:
                    raise ContainerConfigError(f'{kind} "{ref["name"]}" not found')
                raise ContainerConfigError(
                    f"couldn't find key {ref['key']} in {kind.capitalize()} "
                    f"{fields.get('metadata.namespace', '')}/{ref['name']}"
                )
            env[name] = data[ref["key"]]
            break
    return env, skipped


class KubeletStandIn:
    """Runs every new Job in ``namespace`` once, in a background thread per Job."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        workdir: Path,
        *,
        base_env: Mapping[str, str],
        timeout: float = 600,
        poll_seconds: float = 0.3,
    ) -> None:
        self.namespace = namespace
        self.workdir = workdir
        self.base_env = dict(base_env)
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.batch = k8s.BatchV1Api(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.outcomes: dict[str, PodOutcome] = {}
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="kubelet-standin", daemon=True)

    def __enter__(self) -> KubeletStandIn:
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watcher.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=self.timeout)

    def wait_for(self, job: str, timeout: float = 600) -> PodOutcome:
        """The outcome of ``job`` once its process ended (or its config failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if job in self.outcomes:
                    return self.outcomes[job]
            time.sleep(0.2)
        raise TimeoutError(f"job {job} did not finish within {timeout} s (seen: {self.seen})")

    # --- the watch loop ---------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                jobs = self.batch.list_namespaced_job(self.namespace).items
            except ApiException:
                jobs = []
            for job in jobs:
                name = job.metadata.name
                if name in self.seen:
                    continue
                self.seen.append(name)
                raw = self.batch.api_client.sanitize_for_serialization(job)
                thread = threading.Thread(target=self._run, args=(raw,), daemon=True)
                self._threads.append(thread)
                thread.start()
            self._stop.wait(self.poll_seconds)

    def _secret(self, name: str) -> dict[str, str] | None:
        try:
            obj = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return {key: _decode(value) for key, value in (obj.data or {}).items()}

    def _config_map(self, name: str) -> dict[str, str] | None:
        try:
            obj = self.core.read_namespaced_config_map(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        return dict(obj.data or {})

    def _run(self, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        template = job["spec"]["template"]
        spec = template["spec"]
        container = spec["containers"][0]
        pod_name = f"{name}-standin"
        self._create_pod(pod_name, template, job)
        fields = {
            "metadata.name": pod_name,
            "metadata.namespace": self.namespace,
            "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        }
        root = self.workdir / name
        root.mkdir(parents=True, exist_ok=True)
        try:
            env, skipped = resolve_env(
                container,
                get_secret=self._secret,
                get_config_map=self._config_map,
                fields=fields,
            )
            mounts = self._materialize_volumes(spec, container, root)
        except ContainerConfigError as e:
            self._finish(
                job,
                pod_name,
                PodOutcome(
                    job=name, phase="Failed", reason="CreateContainerConfigError", message=str(e)
                ),
            )
            return
        env = {key: _rewrite(value, mounts) for key, value in env.items()}
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        executable = shutil.which(argv[0], path=self.base_env.get("PATH"))
        process_env = {**self.base_env, **env}
        try:
            result = subprocess.run(
                [executable or argv[0], *argv[1:]],
                env=process_env,
                cwd=_rewrite(container.get("workingDir") or str(root), mounts),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            outcome = PodOutcome(job=name, phase="Failed", reason="Error", message=str(e))
        else:
            outcome = PodOutcome(
                job=name,
                phase="Succeeded" if result.returncode == 0 else "Failed",
                reason="Completed" if result.returncode == 0 else "Error",
                returncode=result.returncode,
                stdout=result.stdout,
                stderr=result.stderr,
            )
        outcome.env = env
        outcome.skipped_env_keys = skipped
        self._finish(job, pod_name, outcome)

    def _materialize_volumes(
        self, spec: Mapping[str, Any], container: Mapping[str, Any], root: Path
    ) -> dict[str, Path]:
        """Write ConfigMap/Secret volumes to disk; mount path → local directory."""
        local: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            if "configMap" in volume:
                ref = volume["configMap"]
                data = self._config_map(ref["name"])
                kind = "configmap"
            elif "secret" in volume:
                ref = {**volume["secret"], "name": volume["secret"]["secretName"]}
                data = self._secret(ref["name"])
                kind = "secret"
            else:
                continue
            if data is None:
                if ref.get("optional"):
                    data = {}
                else:
                    raise ContainerConfigError(f'{kind} "{ref["name"]}" not found')
            target = root / "volumes" / volume["name"]
            target.mkdir(parents=True, exist_ok=True)
            items = ref.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] in data:
                    (target / item["path"]).write_text(data[item["key"]])
            local[volume["name"]] = target
        mounts: dict[str, Path] = {}
        for mount in container.get("volumeMounts") or []:
            if mount["name"] in local:
                mounts[mount["mountPath"]] = local[mount["name"]]
        return mounts

    # --- reporting back to the apiserver ---------------------------------------------------------

    def _create_pod(
        self, pod_name: str, template: Mapping[str, Any], job: Mapping[str, Any]
    ) -> None:
        metadata = {**(template.get("metadata") or {}), "name": pod_name}
        labels = dict(metadata.get("labels") or {})
        labels["job-name"] = job["metadata"]["name"]
        metadata["labels"] = labels
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}
        try:
            self.core.create_namespaced_pod(self.namespace, body)
        except ApiException as e:
            if e.status != 409:
                raise

    def _finish(self, job: Mapping[str, Any], pod_name: str, outcome: PodOutcome) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        name = job["metadata"]["name"]
        if outcome.reason == "CreateContainerConfigError":
            self._event(pod_name, "Failed", f"Error: {outcome.message}", now)
        status: dict[str, Any] = {"startTime": now, "active": 0}
        if outcome.phase == "Succeeded":
            status.update(
                succeeded=1,
                completionTime=now,
                conditions=[
                    _condition("SuccessCriteriaMet", "CompletionsReached", now),
                    _condition("Complete", "CompletionsReached", now),
                ],
            )
        else:
            status.update(
                failed=1,
                conditions=[
                    _condition("FailureTarget", "BackoffLimitExceeded", now, outcome.message),
                    _condition("Failed", "BackoffLimitExceeded", now, outcome.message),
                ],
            )
        try:
            self.batch.patch_namespaced_job_status(name, self.namespace, {"status": status})
        except ApiException as e:
            outcome.message += f" (job status not recorded: {e.status} {e.reason})"
        with self._lock:
            self.outcomes[name] = outcome

    def _event(self, pod_name: str, reason: str, message: str, now: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{pod_name}.", "namespace": self.namespace},
            "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": self.namespace},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "source": {"component": "kubelet-standin"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.core.create_namespaced_event(self.namespace, body)


def _condition(kind: str, reason: str, now: str, message: str = "") -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message[:1000],
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def _rewrite(value: str, mounts: Mapping[str, Path]) -> str:
    """A mount path (or a path under one) in ``value`` → where the stand-in wrote the files."""
    for mount_path, local in sorted(mounts.items(), key=lambda item: -len(item[0])):
        if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
            return str(local) + value[len(mount_path.rstrip("/")) :]
    return value


def strict_env_name(name: str) -> bool:
    """Whether ``name`` is a C identifier (what shells and most programs accept)."""
    return bool(_STRICT_ENV_NAME.match(name))
