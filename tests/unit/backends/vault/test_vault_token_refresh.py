"""The token refresh decision and login-credential reading (pure logic, files and env only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dagster_secrets.backends.vault.credentials import (
    AuthSettings,
    login_body,
    login_refused,
    read_token,
)
from floe_dagster_secrets.backends.vault.errors import RequestContext
from floe_dagster_secrets.backends.vault.session import RENEW_AT, TokenState, refresh_action
from floe_dagster_secrets.errors import SecretAccessDeniedError
from floe_dagster_secrets.types import SecretValue


def token(ttl: float, *, renewable: bool = True, capped: bool = False) -> TokenState:
    return TokenState(
        SecretValue("hvs.test-token", register=False), ttl, renewable, 100.0, ttl, capped
    )


def test_no_token_means_login() -> None:
    assert refresh_action(None, 0.0) == "login"


def test_kept_until_two_thirds_of_the_ttl() -> None:
    assert refresh_action(token(30), 100.0) == "keep"
    assert refresh_action(token(30), 100.0 + 30 * RENEW_AT - 0.01) == "keep"
    assert refresh_action(token(30), 100.0 + 30 * RENEW_AT) == "renew"


def test_not_renewable_capped_or_expired_means_login() -> None:
    assert refresh_action(token(30, renewable=False), 121.0) == "login"
    assert refresh_action(token(30, capped=True), 121.0) == "login"
    assert refresh_action(token(30), 130.0) == "login"


def test_a_token_without_ttl_is_kept_for_good() -> None:
    assert refresh_action(token(0), 1e9) == "keep"


def test_one_login_per_lifetime_over_a_simulated_run() -> None:
    """Token TTL 3 s, max 9 s, a request every 0.1 s for 20 s: logins happen only at the cap."""
    logins = renewals = 0
    state: TokenState | None = None
    issued_at = 0.0
    now = 0.0
    while now < 20:
        action = refresh_action(state, now)
        if action == "login":
            logins += 1
            issued_at = now
            state = TokenState(SecretValue("hvs.x", register=False), 3, True, now, 3)
        elif action == "renew":
            assert state is not None
            renewals += 1
            ttl = min(3.0, issued_at + 9 - now)
            state = TokenState(state.value, ttl, True, now, 3, capped=ttl < 3)
        assert state is not None
        assert now < state.obtained + state.ttl  # every request has a live token
        now = round(now + 0.1, 3)
    assert logins == 3  # t=0, ~8.7 and ~17.4: once per 9 s lifetime
    assert renewals >= 6


def test_token_from_env_or_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MY_TOKEN", " hvs.from-env \n")
    env = AuthSettings("token", "floe", "token", token_env="MY_TOKEN")
    assert read_token(env).reveal() == "hvs.from-env"
    file = tmp_path / "t"
    file.write_text("hvs.from-file\n")
    assert read_token(AuthSettings("token", "floe", "token", token_file=str(file))).reveal() == (
        "hvs.from-file"
    )
    monkeypatch.setenv("VAULT_TOKEN", "hvs.default")
    assert read_token(AuthSettings("token", "floe", "token")).reveal() == "hvs.default"


def test_missing_credentials_name_the_variable_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    approle = AuthSettings("approle", "floe", "approle", role_id_env="RID", secret_id_env="SID")
    both = r"\$RID \(holding the role_id\) and \$SID \(holding the secret_id\) are not set"
    with pytest.raises(SecretAccessDeniedError, match=both) as refused:
        login_body(approle)
    assert refused.value.backend == "vault"
    assert "set $RID and $SID" in str(refused.value)
    monkeypatch.setenv("RID", "role-id")
    with pytest.raises(SecretAccessDeniedError, match=r"\$SID \(holding the secret_id\) is not"):
        login_body(approle)
    k8s = AuthSettings("kubernetes", "floe", "kubernetes", token_file=str(tmp_path / "absent"))
    with pytest.raises(SecretAccessDeniedError, match="cannot read the service-account JWT"):
        login_body(k8s)
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(SecretAccessDeniedError, match="is empty"):
        login_body(AuthSettings("kubernetes", "floe", "kubernetes", token_file=str(empty)))


def test_login_bodies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    jwt = tmp_path / "jwt"
    jwt.write_text("eyJhbGciOi.payload.sig\n")
    assert login_body(AuthSettings("kubernetes", "runs", "k8s", token_file=str(jwt))) == {
        "role": "runs",
        "jwt": "eyJhbGciOi.payload.sig",
    }
    monkeypatch.setenv("RID", "role-id-1")
    monkeypatch.setenv("SID", "secret-id-1")
    approle = AuthSettings("approle", "floe", "approle", role_id_env="RID", secret_id_env="SID")
    assert login_body(approle) == {"role_id": "role-id-1", "secret_id": "secret-id-1"}


def test_refused_login_fix_per_method() -> None:
    ctx = RequestContext("log in", "auth/k8s/login")
    k8s = login_refused(AuthSettings("kubernetes", "floe", "k8s"), ctx, "permission denied")
    assert "bound_service_account_names" in k8s.fix
    assert "permission denied" in str(k8s)
    approle = login_refused(
        AuthSettings("approle", "floe", "approle", role_id_env="RID", secret_id_env="SID"), ctx, ""
    )
    assert "$RID" in approle.fix
    assert "$SID" in approle.fix
