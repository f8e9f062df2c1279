"""Translation of hvac and requests exceptions into floe's error tree (no server involved)."""

from __future__ import annotations

import hvac.exceptions as hx
import pytest
import requests

from floe_dagster_secrets.backends.vault.errors import (
    RequestContext,
    is_sealed,
    is_transient,
    policy_hint,
    translate,
    vault_status,
)
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    InvalidSecretReferenceError,
    SecretAccessDeniedError,
    SecretAlreadyExistsError,
    SecretConflictError,
    SecretNotFoundError,
)
from floe_dagster_secrets.masking import get_masker

ADDRESS = "https://vault.example.com"
READ = RequestContext(
    "read",
    "secret/data/floe/floe-jobs/x-dev-credentials",
    secret="x-dev-credentials",
    namespace="floe-jobs",
)


def vault_error(kind: type[hx.VaultError], *messages: str) -> hx.VaultError:
    return kind(errors=list(messages), method="get", url=f"{ADDRESS}/v1/{READ.path}")


def test_not_found_names_the_secret_and_the_create_command() -> None:
    error = translate(vault_error(hx.InvalidPath), READ, address=ADDRESS)
    assert isinstance(error, SecretNotFoundError)
    assert error.secret == "x-dev-credentials"
    assert error.path == READ.path
    assert "floe secrets create x-dev-credentials" in error.fix


def test_forbidden_names_the_policy_stanza() -> None:
    error = translate(
        vault_error(hx.Forbidden, "1 error occurred:\n\t* permission denied\n\n"),
        READ,
        address=ADDRESS,
    )
    assert isinstance(error, SecretAccessDeniedError)
    assert policy_hint(READ) in error.fix
    assert 'capabilities = ["read"]' in error.fix
    assert "permission denied" in str(error)


def test_check_and_set_mismatch_on_create_and_update() -> None:
    cas = "check-and-set parameter did not match the current version"
    create = RequestContext("create", READ.path, secret="x-dev-credentials", capability="create")
    update = RequestContext("update", READ.path, secret="x-dev-credentials", capability="update")
    assert isinstance(
        translate(vault_error(hx.InvalidRequest, cas), create, address=ADDRESS),
        SecretAlreadyExistsError,
    )
    conflict = translate(vault_error(hx.InvalidRequest, cas), update, address=ADDRESS)
    assert isinstance(conflict, SecretConflictError)
    assert "read it again" in conflict.fix
    other = translate(
        vault_error(hx.InvalidRequest, "no handler for route"), update, address=ADDRESS
    )
    assert isinstance(other, InvalidSecretReferenceError)


def test_sealed_and_other_server_errors() -> None:
    sealed = vault_error(hx.VaultDown, "Vault is sealed")
    assert is_sealed(sealed)
    error = translate(sealed, READ, address=ADDRESS)
    assert isinstance(error, BackendUnavailableError)
    assert "sealed" in str(error)
    assert "unseal" in error.fix
    standby = translate(
        vault_error(hx.InternalServerError, "boom"), READ, address=ADDRESS, attempts=4
    )
    assert isinstance(standby, BackendUnavailableError)
    assert "4 time(s)" in str(standby)


def test_network_errors() -> None:
    refused = translate(
        requests.exceptions.ConnectionError("refused"), READ, address=ADDRESS, attempts=4
    )
    assert isinstance(refused, BackendUnavailableError)
    assert "Cannot reach Vault at https://vault.example.com" in str(refused)
    assert "after 4 attempt(s)" in str(refused)
    tls = translate(requests.exceptions.SSLError("bad cert"), READ, address=ADDRESS)
    assert "ca_cert" in tls.fix


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (vault_error(hx.RateLimitExceeded), True),
        (vault_error(hx.InternalServerError), True),
        (vault_error(hx.BadGateway), True),
        (vault_error(hx.VaultDown, "Vault is sealed"), False),
        (vault_error(hx.Forbidden), False),
        (vault_error(hx.InvalidPath), False),
        (vault_error(hx.InvalidRequest), False),
        (requests.exceptions.ConnectionError(), True),
        (requests.exceptions.ReadTimeout(), True),
        (requests.exceptions.SSLError(), False),
        (ValueError(), False),
    ],
)
def test_only_the_allow_list_is_retried(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_status_mapping() -> None:
    assert vault_status(vault_error(hx.Forbidden)) == 403
    assert vault_status(vault_error(hx.UnexpectedError)) == 0
    assert vault_status(ValueError()) is None


@pytest.mark.usefixtures("fresh_masker")
def test_vault_text_is_masked_before_it_is_quoted() -> None:
    get_masker().register("a-registered-secret-value")
    error = translate(
        vault_error(hx.InvalidRequest, "bad value a-registered-secret-value"), READ, address=ADDRESS
    )
    assert "a-registered-secret-value" not in str(error)
    assert "***" in str(error)
