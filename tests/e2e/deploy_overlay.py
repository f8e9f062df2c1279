"""The test suite's kustomize overlay of ``deploy/base``: what differs on the suite's node.

``deploy/base`` is applied unchanged except for what a single loopback node needs, all written
here and nowhere else:

- the namespace (a fresh one per test module) — in ``namespace:`` and inside the three files
  that name it (``dagster.yaml``, ``manifest.yaml``, the pipeline-env literals);
- PostgreSQL: the suite's server on loopback (host, port, database, user) in ``dagster.yaml``;
- the image: ``ensure_user_code_image``'s name, never pulled (``imagePullPolicy: Never``);
- the network: every pod (the three Deployments, and run pods through the launcher's
  ``run_k8s_config``) on ``hostNetwork``, listening on free loopback ports, with
  ``KUBERNETES_SERVICE_HOST/PORT`` naming the apiserver's loopback address (no kube-proxy);
- the ServiceAccount token: the suite's apiserver runs without the ServiceAccount admission
  plugin, so each pod gets the projected volume that plugin would have added (token, the
  cluster's CA, the namespace) at the in-cluster path;
- the demo's schedule ticks every minute (``FLOE_DEMO_SCHEDULE_CRON``), so the daemon ticks it.

:data:`INSTANCE_CHANGES` lists the instance settings changed, so a test can check that the
instance the suite runs is the base's (and so the Helm values') in everything else.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.node_harness import launcher_node_config

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "base"
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_VOLUME = "kube-api-access-floe"
DEPLOYMENTS = {
    "dagster-daemon": "dagster-daemon",
    "dagster-webserver": "dagster-webserver",
    "floe-demo-code": "code-server",
}
INSTANCE_CHANGES = {
    ("schedule_storage", "run_storage", "event_log_storage"): "PostgreSQL host, port, db, user",
    ("run_launcher",): "job_namespace, image_pull_policy, env_vars, run_k8s_config, token volume",
    ("secrets",): "namespace",
}


def token_volume() -> dict[str, Any]:
    """The projected ServiceAccount volume the admission plugin adds in a real cluster."""
    return {
        "name": TOKEN_VOLUME,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ]
        },
    }


def token_mount() -> dict[str, Any]:
    """Where in-cluster clients look for the token."""
    return {"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True}


@dataclass(frozen=True)
class Suite:
    """What the suite's node and servers give the overlay."""

    namespace: str
    image: str  # docker.io/floe/user-code:<hash>
    apiserver_port: int
    pg_host: str
    pg_port: int
    pg_user: str
    pg_db: str
    webserver_port: int
    code_port: int
    cron: str = "* * * * *"


def instance(suite: Suite) -> dict[str, Any]:
    """``deploy/base/dagster.yaml`` with the suite's changes (:data:`INSTANCE_CHANGES`)."""
    config: dict[str, Any] = copy.deepcopy(yaml.safe_load((BASE / "dagster.yaml").read_text()))
    for section in ("schedule_storage", "run_storage", "event_log_storage"):
        db = config[section]["config"]["postgres_db"] = dict(
            config[section]["config"]["postgres_db"]
        )
        db.update(
            hostname=suite.pg_host, port=suite.pg_port, username=suite.pg_user, db_name=suite.pg_db
        )
    launcher = config["run_launcher"]["config"]
    node = launcher_node_config(suite.image, suite.apiserver_port, [])
    launcher["job_namespace"] = suite.namespace
    launcher["image_pull_policy"] = node["image_pull_policy"]
    launcher["env_vars"] = node["env_vars"]
    launcher["run_k8s_config"] = node["run_k8s_config"]
    launcher["volumes"] = [*launcher["volumes"], token_volume()]
    launcher["volume_mounts"] = [*launcher["volume_mounts"], token_mount()]
    config["secrets"]["custom"]["config"]["namespace"] = suite.namespace
    return config


def _manifest(suite: Suite) -> str:
    manifest = yaml.safe_load((BASE / "floe-manifest" / "manifest.yaml").read_text())
    manifest["plugins"]["secrets"]["namespace"] = suite.namespace
    return yaml.safe_dump(manifest, sort_keys=False)


def _workspace(suite: Suite) -> str:
    workspace = yaml.safe_load((BASE / "workspace.yaml").read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=suite.code_port)
    return yaml.safe_dump(workspace, sort_keys=False)


def _patch(suite: Suite, deployment: str, container: str) -> list[dict[str, Any]]:
    """JSON 6902 operations for one Deployment: node network, token, ports, env."""
    c = "/spec/template/spec/containers/0"
    env = [
        {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(suite.apiserver_port)},
    ]
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True},
        {"op": "add", "path": "/spec/template/spec/dnsPolicy", "value": "Default"},
        {"op": "add", "path": "/spec/template/spec/terminationGracePeriodSeconds", "value": 2},
        {"op": "add", "path": "/spec/template/spec/volumes/-", "value": token_volume()},
        {"op": "add", "path": f"{c}/volumeMounts/-", "value": token_mount()},
        {"op": "add", "path": f"{c}/imagePullPolicy", "value": "Never"},
    ]
    ops += [{"op": "add", "path": f"{c}/env/-", "value": e} for e in env]
    if deployment == "floe-demo-code":
        ops += [
            {"op": "replace", "path": f"{c}/args/7", "value": str(suite.code_port)},
            {"op": "replace", "path": f"{c}/args/5", "value": "127.0.0.1"},
            {"op": "replace", "path": f"{c}/ports/0/containerPort", "value": suite.code_port},
            {"op": "remove", "path": f"{c}/readinessProbe"},
            {"op": "replace", "path": f"{c}/env/0/value", "value": suite.image},
            {
                "op": "add",
                "path": f"{c}/env/-",
                "value": {"name": "FLOE_DEMO_SCHEDULE_CRON", "value": suite.cron},
            },
        ]
    if deployment == "dagster-webserver":
        ops += [
            {"op": "replace", "path": f"{c}/args/1", "value": "127.0.0.1"},
            {"op": "replace", "path": f"{c}/args/3", "value": str(suite.webserver_port)},
            {"op": "replace", "path": f"{c}/ports/0/containerPort", "value": suite.webserver_port},
            {"op": "remove", "path": f"{c}/readinessProbe"},
        ]
    return ops


def write_overlay(directory: Path, suite: Suite) -> Path:
    """Write the overlay's kustomization and files into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(yaml.safe_dump(instance(suite), sort_keys=False))
    (directory / "manifest.yaml").write_text(_manifest(suite))
    (directory / "workspace.yaml").write_text(_workspace(suite))
    repository, _, tag = suite.image.rpartition(":")
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": suite.namespace,
        "resources": [os.path.relpath(BASE, directory)],  # kustomize refuses an absolute one
        "images": [{"name": "floe/user-code", "newName": repository, "newTag": tag}],
        "generatorOptions": {"disableNameSuffixHash": True},
        "configMapGenerator": [
            {"name": "dagster-instance", "behavior": "replace", "files": ["dagster.yaml"]},
            {"name": "dagster-workspace", "behavior": "replace", "files": ["workspace.yaml"]},
            {"name": "floe-manifest", "behavior": "replace", "files": ["manifest.yaml"]},
            {
                "name": "dagster-pipeline-env",
                "behavior": "merge",
                "literals": [
                    f"DAGSTER_K8S_PIPELINE_RUN_NAMESPACE={suite.namespace}",
                    "DAGSTER_K8S_PIPELINE_RUN_IMAGE_PULL_POLICY=Never",
                ],
            },
        ],
        "patches": [
            {
                "target": {"kind": "Deployment", "name": name},
                "patch": json.dumps(_patch(suite, name, container)),
            }
            for name, container in DEPLOYMENTS.items()
        ],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


def changed_paths(base: Mapping[str, Any], other: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths where two nested mappings differ (lists compared whole)."""
    paths: set[str] = set()
    for key in set(base) | set(other):
        path = f"{prefix}{key}"
        a, b = base.get(key), other.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            paths |= changed_paths(a, b, f"{path}.")
        elif a != b:
            paths.add(path)
    return paths
