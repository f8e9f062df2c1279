"""Vault auth against real servers: Kubernetes auth through the real kube-apiserver's TokenReview,
AppRole, token renewal across expiry, and one login per token lifetime counted from the audit log.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.manifest import VaultSecretsConfig
from floe_dagster_secrets.types import reveal_all
from tests.integration.vault_helpers import (
    approle,
    approle_plugin,
    audit_mark,
    audit_requests,
    kubernetes_auth_mount,
    put_policy,
    unique,
)
from tests.servers import KubeApiServer, OpenBaoServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NS = "floe-jobs"
NAME = "warehouse-dev-credentials"
ADR_EXAMPLES = Path(__file__).parents[1] / "adr_examples"


def _seed(server: OpenBaoServer, prefix: str, name: str = NAME) -> str:
    """Write a secret as root; return its data path."""
    path = f"secret/data/{prefix}{NS}/{name}"
    server.request("POST", path, {"data": {"PASSWORD": f"pw-{name}"}})
    return path


def _read_policy(server: OpenBaoServer, *paths: str) -> str:
    name = unique("read-")
    put_policy(server, name, "\n".join(f'path "{p}" {{ capabilities = ["read"] }}' for p in paths))
    return name


def test_approle_renews_across_expiry_with_one_login_per_token_lifetime(
    openbao_server: OpenBaoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"{unique('auth')}/"
    data_path = _seed(openbao_server, prefix)
    policy = _read_policy(openbao_server, data_path)
    plugin, mount = approle_plugin(
        openbao_server,
        monkeypatch,
        policies=[policy],
        token_ttl="5s",
        token_max_ttl="15s",
        secret_path_prefix=prefix,
    )
    mark = audit_mark(openbao_server)
    reads = 0
    try:
        # 18 s of reads: past the 5 s TTL several times and past the 15 s max TTL once. The TTL
        # leaves 1.7 s between a renewal (at 2/3) and expiry, so a stalled CI machine still passes.
        deadline = time.monotonic() + 18
        while time.monotonic() < deadline:
            assert reveal_all(plugin.get_secret(NAME, NS)) == {"PASSWORD": f"pw-{NAME}"}
            reads += 1
            time.sleep(0.2)
    finally:
        plugin.close()
    paths = [r["path"] for r in audit_requests(openbao_server, after=mark)]
    logins = paths.count(f"auth/{mount}/login")
    renewals = paths.count("auth/token/renew-self")
    # Token 1 lives 15 s (max TTL), renewed at ~3, 7 and 10 s (then capped): one login. The second
    # login happens once, after the cap; every read used a live token (none failed).
    assert logins == 2, paths
    assert plugin.session.stats.logins == 2
    assert renewals >= 3
    assert plugin.session.stats.reauths == 0
    assert paths.count(data_path) == reads


def test_permission_denied_keeps_the_token_and_names_the_policy(
    openbao_server: OpenBaoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 403 to a token Vault still knows is the policy's answer: no new login (a new token
    would orphan the leases the old one owns), the path and the stanza to grant named."""
    prefix = f"{unique('deny')}/"
    allowed = _seed(openbao_server, prefix)
    forbidden = _seed(openbao_server, prefix, "other-dev-credentials")
    plugin, mount = approle_plugin(
        openbao_server,
        monkeypatch,
        policies=[_read_policy(openbao_server, allowed)],
        secret_path_prefix=prefix,
    )
    mark = audit_mark(openbao_server)
    try:
        plugin.get_secret(NAME, NS)
        before = plugin.session.cached_token()
        with pytest.raises(SecretAccessDeniedError) as denied:
            plugin.get_secret("other-dev-credentials", NS)
        assert plugin.session.cached_token() == before  # the same token, still held
        assert reveal_all(plugin.get_secret(NAME, NS)) == {"PASSWORD": f"pw-{NAME}"}
    finally:
        plugin.close()
    error = denied.value
    assert error.backend == "vault"
    assert error.secret == "other-dev-credentials"
    assert error.path == forbidden
    assert "the token's policies do not grant it" in str(error)
    assert f'path "{forbidden}" {{ capabilities = ["read"] }}' in str(error)
    paths = [r["path"] for r in audit_requests(openbao_server, after=mark)]
    assert paths.count(f"auth/{mount}/login") == 1  # no re-login on a policy's 403
    assert paths.count(forbidden) == 1
    assert paths.count("auth/token/lookup-self") == 1  # the check that the token is valid
    assert plugin.session.stats.reauths == 0
    assert plugin.session.stats.token_checks == 1


def test_a_revoked_token_leads_to_one_fresh_login(
    openbao_server: OpenBaoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token revoked under the session (403, and lookup-self 403 too): one fresh login, and
    the request succeeds with the new token."""
    prefix = f"{unique('revoked')}/"
    data_path = _seed(openbao_server, prefix)
    plugin, mount = approle_plugin(
        openbao_server,
        monkeypatch,
        policies=[_read_policy(openbao_server, data_path)],
        secret_path_prefix=prefix,
    )
    try:
        plugin.get_secret(NAME, NS)
        old = plugin.session.cached_token()
        assert old is not None
        openbao_server.request("POST", "auth/token/revoke", {"token": old.reveal()})
        mark = audit_mark(openbao_server)
        assert reveal_all(plugin.get_secret(NAME, NS)) == {"PASSWORD": f"pw-{NAME}"}
        new = plugin.session.cached_token()
    finally:
        plugin.close()
    assert new is not None
    assert new != old
    paths = [r["path"] for r in audit_requests(openbao_server, after=mark)]
    assert paths == [data_path, "auth/token/lookup-self", f"auth/{mount}/login", data_path]
    assert plugin.session.stats.reauths == 1
    assert plugin.session.stats.logins == 2


def test_approle_bad_or_missing_credentials(
    openbao_server: OpenBaoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount, role_id, _ = approle(openbao_server, policies=["default"])
    monkeypatch.setenv("FLOE_TEST_ROLE_ID", role_id)
    monkeypatch.setenv("FLOE_TEST_SECRET_ID", "not-the-secret-id-at-all")
    plugin = VaultSecretsPlugin(
        address=openbao_server.address,
        auth_method="approle",
        mount_path=mount,
        role_id_env="FLOE_TEST_ROLE_ID",
        secret_id_env="FLOE_TEST_SECRET_ID",
    )
    with pytest.raises(SecretAccessDeniedError, match="FLOE_TEST_SECRET_ID") as refused:
        plugin.get_secret(NAME, NS)
    assert "not-the-secret-id-at-all" not in str(refused.value)
    monkeypatch.delenv("FLOE_TEST_SECRET_ID")
    with pytest.raises(SecretAccessDeniedError, match=r"\$FLOE_TEST_SECRET_ID .* is not set"):
        plugin.get_secret(NAME, NS)
    plugin.close()


def test_approle_as_the_adr_writes_it_reads_the_conventional_env_vars(
    openbao_server: OpenBaoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR-0023's approle config names no env vars: $VAULT_ROLE_ID / $VAULT_SECRET_ID are read."""
    adr = yaml.safe_load((ADR_EXAMPLES / "schema-vault-approle.manifest.yaml").read_text())
    prefix = f"{unique('adr')}/"
    data_path = _seed(openbao_server, prefix)
    mount, role_id, secret_id = approle(
        openbao_server, policies=[_read_policy(openbao_server, data_path)]
    )
    config = VaultSecretsConfig.model_validate(
        {
            **adr["plugins"]["secrets"]["config"],
            "address": openbao_server.address,
            "mount_path": mount,  # the ADR's mount is "kubernetes"; this server's is fresh
            "secret_path_prefix": prefix,
        }
    )
    monkeypatch.delenv("VAULT_ROLE_ID", raising=False)
    monkeypatch.delenv("VAULT_SECRET_ID", raising=False)
    unset = VaultSecretsPlugin(**config.backend_kwargs())
    with pytest.raises(SecretAccessDeniedError) as refused:
        unset.get_secret(NAME, NS)
    unset.close()
    text = str(refused.value)
    assert "$VAULT_ROLE_ID (holding the role_id) and $VAULT_SECRET_ID" in text
    assert "backend 'vault'" in text
    assert "role_id_env / secret_id_env in plugins.secrets.config" in text
    monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    plugin = VaultSecretsPlugin(**config.backend_kwargs())
    mark = audit_mark(openbao_server)
    try:
        assert reveal_all(plugin.get_secret(NAME, NS)) == {"PASSWORD": f"pw-{NAME}"}
    finally:
        plugin.close()
    paths = [r["path"] for r in audit_requests(openbao_server, after=mark)]
    assert paths.count(f"auth/{mount}/login") == 1


def _kubernetes_auth(
    openbao_server: OpenBaoServer, kube_apiserver: KubeApiServer, namespace: str, policy: str
) -> str:
    """Kubernetes auth on a fresh mount with role ``floe`` bound to floe-job-runner."""
    mount = kubernetes_auth_mount(openbao_server, kube_apiserver, namespace)
    openbao_server.request(
        "POST",
        f"auth/{mount}/role/floe",
        {
            "bound_service_account_names": ["floe-job-runner"],
            "bound_service_account_namespaces": [namespace],
            "token_policies": [policy],
            "token_ttl": "1h",
        },
    )
    return mount


def test_kubernetes_auth_with_a_real_service_account_token(
    openbao_server: OpenBaoServer,
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    prefix = f"{unique('k8s')}/"
    data_path = _seed(openbao_server, prefix)
    mount = _kubernetes_auth(
        openbao_server, kube_apiserver, k8s_namespace, _read_policy(openbao_server, data_path)
    )
    jwt_file = tmp_path / "token"
    jwt_file.write_text(kube_apiserver.service_account_token(k8s_namespace, "floe-job-runner"))
    plugin = VaultSecretsPlugin(
        address=openbao_server.address,
        auth_method="kubernetes",
        role="floe",
        mount_path=mount,
        token_file=str(jwt_file),
        secret_path_prefix=prefix,
    )
    mark = audit_mark(openbao_server)
    try:
        for _ in range(3):
            assert reveal_all(plugin.get_secret(NAME, NS)) == {"PASSWORD": f"pw-{NAME}"}
    finally:
        plugin.close()
    paths = [r["path"] for r in audit_requests(openbao_server, after=mark)]
    assert paths == [f"auth/{mount}/login", data_path, data_path, data_path]


def test_kubernetes_auth_refuses_another_service_account_clearly(
    openbao_server: OpenBaoServer,
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    tmp_path: Path,
) -> None:
    prefix = f"{unique('k8s')}/"
    data_path = _seed(openbao_server, prefix)
    mount = _kubernetes_auth(
        openbao_server, kube_apiserver, k8s_namespace, _read_policy(openbao_server, data_path)
    )
    intruder = kube_apiserver.service_account_token(k8s_namespace, "some-other-account")
    jwt_file = tmp_path / "token"
    jwt_file.write_text(intruder)
    plugin = VaultSecretsPlugin(
        address=openbao_server.address,
        auth_method="kubernetes",
        role="floe",
        mount_path=mount,
        token_file=str(jwt_file),
        secret_path_prefix=prefix,
    )
    with pytest.raises(SecretAccessDeniedError) as refused:
        plugin.get_secret(NAME, NS)
    plugin.close()
    message = str(refused.value)
    assert f"auth/{mount}/login" in message
    assert "bound_service_account_names" in message
    assert "floe-job-runner" in message
    assert intruder not in message
