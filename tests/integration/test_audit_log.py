"""ADR-0023 "MUST audit secret access via K8s audit logs", proven on the real kube-apiserver.

The suite's apiserver runs with the audit policy floe ships (``floe secrets audit-policy``,
``--audit-policy-file``/``--audit-log-path``). Three components read the same Secrets, each as
its own ServiceAccount (a real TokenRequest token): the run launcher's pre-flight, the rotation
sensor's tick and ``floe secrets validate`` as a real process. Each read is in the audit log with
the identity that made it, at ``Metadata`` level and without a body; no canary value, in any
encoding, is anywhere in the log.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance, SkipReason, asset, build_sensor_context
from kubernetes import client as k8s

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.kube.audit_policy import BODY_LEVELS, policy_text, secret_levels
from floe_dagster_secrets.launcher.preflight import PreflightReader
from floe_dagster_secrets.sensors import make_secret_rotation_sensor
from tests.e2e.leak_scan import apiserver_audit_artifact, find_leaks
from tests.servers import KubeApiServer
from tests.servers._process import clean_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SECRETS = ("warehouse-dev-credentials", "salesforce-dev-credentials")
ACCOUNTS = {"launcher": "floe-launcher", "sensor": "floe-sensor", "cli": "floe-cli"}
FLOE = Path(sys.executable).parent / "floe"


@dataclass
class Cluster:
    namespace: str
    canaries: dict[str, str]
    kubeconfigs: dict[str, Path]

    def user(self, component: str) -> str:
        return f"system:serviceaccount:{self.namespace}:{ACCOUNTS[component]}"


@pytest.fixture
def cluster(kube_apiserver: KubeApiServer, k8s_namespace: str, tmp_path: Path) -> Cluster:
    ns = k8s_namespace
    canaries = {name: f"canary{secrets.token_urlsafe(18)}" for name in SECRETS}
    admin = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    for name, value in canaries.items():
        admin.create_secret(name, ns, {"PASSWORD": value})
    rbac = k8s.RbacAuthorizationV1Api(kube_apiserver.api_client())
    rbac.create_namespaced_role(
        ns,
        {
            "metadata": {"name": "secret-reader"},
            "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}
            ],
        },
    )
    kubeconfigs: dict[str, Path] = {}
    for component, account in ACCOUNTS.items():
        token = kube_apiserver.service_account_token(ns, account)
        path = tmp_path / f"{account}.kubeconfig"
        kube_apiserver._write_kubeconfig(path, account, token)
        kubeconfigs[component] = path
    rbac.create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "secret-readers"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "secret-reader",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": ns}
                for account in ACCOUNTS.values()
            ],
        },
    )
    return Cluster(ns, canaries, kubeconfigs)


def _secret_events(kube: KubeApiServer, namespace: str) -> list[dict[str, Any]]:
    return [
        event
        for event in kube.audit_events()
        if (event.get("objectRef") or {}).get("resource") == "secrets"
        and (event.get("objectRef") or {}).get("namespace") == namespace
    ]


def _wait_for(
    kube: KubeApiServer, namespace: str, found: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The namespace's secret events once ``found`` says they are all there (bounded)."""
    deadline = time.monotonic() + 30
    while True:
        events = _secret_events(kube, namespace)
        if found(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def _verbs_by(events: list[dict[str, Any]], user: str) -> set[str]:
    return {e["verb"] for e in events if e["user"]["username"] == user}


def _launcher_preflight(cluster: Cluster, kube: KubeApiServer | None = None) -> None:
    """What the run launcher does before it creates a Job: the pre-flight reads.

    The launcher's reader: a direct metadata LIST on the first launch in a namespace, which also
    starts the WATCH that feeds its cache; with ``kube``, kept open until that watch is audited.
    """
    plugin = K8sSecretsPlugin(kubeconfig=str(cluster.kubeconfigs["launcher"]))
    reader = PreflightReader.for_plugin(plugin)
    try:
        found = reader.secrets_metadata(cluster.namespace, {name: ["PASSWORD"] for name in SECRETS})
        assert set(found) == set(SECRETS)
        if kube is not None:
            user = cluster.user("launcher")
            _wait_for(kube, cluster.namespace, lambda e: "watch" in _verbs_by(e, user))
    finally:
        reader.close()
        plugin.close()


def _sensor_tick(cluster: Cluster) -> None:
    """One tick of the rotation sensor, reading versions as its own ServiceAccount."""

    @asset(metadata=secrets_metadata(list(SECRETS)))
    def orders() -> int:
        return 1

    sensor = make_secret_rotation_sensor(
        target=[orders],
        namespace=cluster.namespace,
        plugin_factory=lambda: K8sSecretsPlugin(kubeconfig=str(cluster.kubeconfigs["sensor"])),
    )
    with DagsterInstance.ephemeral() as instance:
        result = sensor(build_sensor_context(instance=instance))
    # the first tick records the versions it read as its baseline (the cursor), and no run
    assert not isinstance(result, SkipReason)
    assert result.cursor
    assert not result.run_requests


def _cli_validate(cluster: Cluster, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "environment": "dev",
                "plugins": {"secrets": {"type": "k8s", "namespace": cluster.namespace}},
                "ingestion": {
                    "pipelines": [
                        {
                            "name": "crm-sync",
                            "source": {
                                "type": "salesforce",
                                "secret_refs": {
                                    "client_id": SECRETS[0],
                                    "client_secret": SECRETS[1],
                                },
                            },
                        }
                    ]
                },
                "secrets": {SECRETS[0]: {"keys": ["PASSWORD"]}, SECRETS[1]: {"keys": ["PASSWORD"]}},
            }
        )
    )
    return subprocess.run(
        [str(FLOE), "secrets", "validate", "--manifest", str(manifest)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(
            {
                "HOME": str(tmp_path),
                "KUBECONFIG": str(cluster.kubeconfigs["cli"]),
                "NO_COLOR": "1",
            }
        ),
    )


def test_each_component_read_is_audited_with_its_identity(
    kube_apiserver: KubeApiServer, cluster: Cluster, tmp_path: Path
) -> None:
    ns = cluster.namespace
    _launcher_preflight(cluster, kube_apiserver)
    _sensor_tick(cluster)
    result = _cli_validate(cluster, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    users = {component: cluster.user(component) for component in ACCOUNTS}

    def complete(events: list[dict[str, Any]]) -> bool:
        return all(_verbs_by(events, user) for user in users.values())

    events = _wait_for(kube_apiserver, ns, complete)
    for component, user in users.items():
        verbs = _verbs_by(events, user)
        assert verbs, f"no audit event for the {component}'s reads as {user}"
        assert verbs <= {"get", "list", "watch"}, (component, verbs)
    # each read is attributed: who, which verb, which object, and the answer
    # one metadata LIST per namespace, and the WATCH that keeps its cache
    assert {"list", "watch"} <= _verbs_by(events, users["launcher"])
    assert "list" in _verbs_by(events, users["sensor"])  # versions: one metadata LIST
    for event in events:
        assert event["level"] == "Metadata", event
        assert "requestObject" not in event, event
        assert "responseObject" not in event, event
        assert event["responseStatus"]["code"] == 200 or event["verb"] == "create", event
    # nobody else read them: the admin only created them
    others = {e["user"]["username"] for e in events} - set(users.values())
    assert {e["verb"] for e in events if e["user"]["username"] in others} <= {"create"}, others


def test_audit_log_holds_no_secret_value(
    kube_apiserver: KubeApiServer, cluster: Cluster, tmp_path: Path
) -> None:
    """The canary scan: every event of the whole session's log, every encoded form."""
    _launcher_preflight(cluster)
    _sensor_tick(cluster)
    assert _cli_validate(cluster, tmp_path).returncode == 0
    _wait_for(kube_apiserver, cluster.namespace, lambda events: len(events) >= 5)
    artifact = apiserver_audit_artifact(kube_apiserver.audit_log)
    assert cluster.canaries[SECRETS[0]] not in artifact.text
    assert find_leaks(cluster.canaries, [artifact]) == []
    # and the scan can fail: a value in a request URI (which Metadata level does log) is found
    # hex: a label value must be alphanumeric at both ends (token_urlsafe may end in '-' or '_')
    planted = f"planted{secrets.token_hex(12)}"
    core = k8s.CoreV1Api(kube_apiserver.api_client())
    core.list_namespaced_config_map(cluster.namespace, label_selector=f"planted={planted}")
    deadline = time.monotonic() + 30
    while planted not in kube_apiserver.audit_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    leaks = find_leaks({"planted": planted}, [apiserver_audit_artifact(kube_apiserver.audit_log)])
    assert leaks
    assert {leak.kind for leak in leaks} == {"apiserver-audit"}


def test_the_running_policy_is_the_one_floe_prints(kube_apiserver: KubeApiServer) -> None:
    result = subprocess.run(
        [str(FLOE), "secrets", "audit-policy"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=clean_env({"NO_COLOR": "1"}),
    )
    assert result.stdout == policy_text() == kube_apiserver.audit_policy.read_text()
    assert not set(secret_levels(result.stdout).values()) & BODY_LEVELS
