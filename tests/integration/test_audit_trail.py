"""The audit trail against the real servers: a real read, write and list on the kube-apiserver
and on OpenBao (plus a denied read and a dynamic lease) log exactly one event each, never a value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import asset, materialize

from floe_dagster_secrets.audit import AUDIT_LOGGER, acting_as
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.resources import K8sSecretsResource
from tests.integration.vault_helpers import database_engine, token_plugin
from tests.servers import KubeApiServer, OpenBaoServer, PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CANARY = "canary-audit-9fKq2LmZxv"
NAME = "warehouse-dev-credentials"


class Trail(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[dict[str, Any]] = []
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(dict(record.floe_audit))  # type: ignore[attr-defined]
        self.messages.append(record.getMessage())


@pytest.fixture
def trail() -> Iterator[Trail]:
    handler = Trail()
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _rows(trail: Trail) -> list[tuple[Any, ...]]:
    return [
        (e["backend"], e["operation"], e["namespace"], e["name"], e["keys"], e["outcome"])
        for e in trail.events
    ]


def _no_values(trail: Trail, *values: str) -> None:
    for message in trail.messages:
        for value in values:
            assert value not in message


def test_k8s_read_write_list_and_denied_read_each_log_one_event(
    kube_apiserver: KubeApiServer, k8s_namespace: str, trail: Trail
) -> None:
    ns = k8s_namespace
    plugin = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    with acting_as("audit-test"):
        plugin.create_secret(NAME, ns, {"PASSWORD": CANARY})
        assert plugin.get_secret(NAME, ns)["PASSWORD"].reveal() == CANARY
        plugin.update_secret(NAME, ns, {"USER": "u-audit-1"}, merge=True)
        plugin.list_secrets(ns)
        plugin.secret_versions(ns)
    # a ServiceAccount with no RBAC at all: a real 403 from the apiserver
    token = kube_apiserver.service_account_token(ns, "nobody")
    denied_client = kube_apiserver.token_client(token)
    try:
        with pytest.raises(SecretAccessDeniedError):
            K8sSecretsPlugin(api_client=denied_client).get_secret(NAME, ns)
    finally:
        denied_client.close()

    assert _rows(trail) == [
        ("k8s", "create", ns, NAME, ["PASSWORD"], "ok"),
        ("k8s", "get", ns, NAME, ["PASSWORD"], "ok"),
        ("k8s", "update", ns, NAME, ["USER"], "ok"),
        ("k8s", "list", ns, None, [], "ok"),
        ("k8s", "versions", ns, None, [], "ok"),
        ("k8s", "get", ns, NAME, [], "denied"),
    ]
    assert {e["actor"] for e in trail.events[:5]} == {"audit-test"}
    assert trail.events[-1]["error"] == "SecretAccessDeniedError"
    _no_values(trail, CANARY, "u-audit-1")


def test_vault_kv_and_dynamic_lease_each_log_one_event(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer, tmp_path: Path, trail: Trail
) -> None:
    ns = "floe-jobs"
    plugin = token_plugin(openbao_server, tmp_path)
    mount = database_engine(openbao_server, postgres_server)
    prefix = plugin.secret_path_prefix
    try:
        plugin.create_secret(NAME, ns, {"PASSWORD": CANARY})
        assert plugin.get_secret(NAME, ns)["PASSWORD"].reveal() == CANARY
        plugin.update_secret(NAME, ns, {"USER": "u-audit-2"}, merge=True)
        plugin.list_secrets(ns)
        plugin.secret_versions(ns)  # lists, then reads each metadata: still one event
        creds = plugin.database_credentials("dbt", mount=mount)
        plugin.revoke_lease(creds.lease_id)
        plugin.delete_secret(NAME, ns)
    finally:
        plugin.close()

    data_path = f"secret/data/{prefix}{ns}/{NAME}"
    assert [(*row, e["path"]) for row, e in zip(_rows(trail), trail.events, strict=True)] == [
        ("vault", "create", ns, NAME, ["PASSWORD"], "ok", data_path),
        ("vault", "get", ns, NAME, ["PASSWORD"], "ok", data_path),
        ("vault", "update", ns, NAME, ["USER"], "ok", data_path),
        ("vault", "list", ns, None, [], "ok", None),
        ("vault", "versions", ns, None, [], "ok", None),
        ("vault", "issue", None, "dbt", [], "ok", f"{mount}/creds/dbt"),
        ("vault", "revoke", None, creds.lease_id, [], "ok", creds.lease_id),
        ("vault", "delete", ns, NAME, [], "ok", data_path),
    ]
    _no_values(trail, CANARY, "u-audit-2", creds.password.reveal(), openbao_server.root_token)


def test_a_dagster_run_is_the_actor_of_its_resources_reads(
    kube_apiserver: KubeApiServer, k8s_namespace: str, trail: Trail
) -> None:
    """Dagster sets no run-id variable in an in-process run: the resource names the run."""
    K8sSecretsPlugin(api_client=kube_apiserver.api_client()).create_secret(
        NAME, k8s_namespace, {"PASSWORD": CANARY}
    )
    trail.events.clear()

    @asset
    def reads_the_secret(secrets: K8sSecretsResource) -> None:
        assert secrets.get_secret(NAME)["PASSWORD"].reveal() == CANARY

    result = materialize(
        [reads_the_secret],
        resources={
            "secrets": K8sSecretsResource(
                kubeconfig=str(kube_apiserver.admin_kubeconfig), namespace=k8s_namespace
            )
        },
    )
    assert result.success
    assert [(e["operation"], e["name"], e["actor"]) for e in trail.events] == [
        ("get", NAME, f"dagster-run:{result.run_id}")
    ]
    _no_values(trail, CANARY)
