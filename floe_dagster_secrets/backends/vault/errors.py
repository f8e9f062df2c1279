"""Translate what hvac and requests raise into this package's error tree.

hvac keys its exceptions by HTTP status (``VaultError.from_status``); we key ours by meaning.
Every message names the Vault path and what to do; Vault's own error text is quoted only after it
went through the masker. Vault error bodies describe a failure and never echo secret data, but
the masker runs anyway so a value can never reach a message by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from floe_dagster_secrets.backends._retry import describe_network_failure
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    InvalidSecretReferenceError,
    SecretAccessDeniedError,
    SecretAlreadyExistsError,
    SecretConflictError,
    SecretNotFoundError,
)
from floe_dagster_secrets.masking import redact

BACKEND = "vault"

TRANSIENT_STATUSES = frozenset({429, 500, 502, 504})
"""Worth another attempt. 503 is left out: it means sealed or standby, which does not pass."""

_STATUS_ATTRIBUTE = "floe_status"


@dataclass(frozen=True)
class RequestContext:
    """What a request was for, so an error can say it in words.

    Attributes:
        action: What floe was doing ("read", "write", "list", "log in", "renew lease" …).
        path: The Vault API path (without ``/v1/``).
        secret: Secret name, when the request is about one.
        namespace: floe namespace, when the request is about one.
        capability: The Vault policy capability the request needs ("read", "create" …).
    """

    action: str
    path: str
    secret: str | None = None
    namespace: str | None = None
    capability: str = "read"


def vault_error(method: str, path: str, response: Any) -> BaseException:
    """The hvac exception for an error ``requests.Response``, carrying the real HTTP status.

    hvac maps a few statuses to classes and every other one (504 from a gateway in front of
    Vault, say) to ``UnexpectedError`` without the status; the status is kept on the exception
    so the retry allow-list and the message can use it.
    """
    import hvac.exceptions as hx

    errors: Any = None
    body: Any = None
    if "json" in (response.headers.get("Content-Type") or ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            errors = body.get("errors")
    text = response.text
    error: BaseException = hx.VaultError.from_status(
        response.status_code,
        None if errors else text,
        errors=errors,
        method=method,
        url=f"/v1/{path}",
        text=text,
        json=body,
    )
    error.__dict__[_STATUS_ATTRIBUTE] = response.status_code
    return error


def vault_status(error: BaseException) -> int | None:
    """The HTTP status behind an hvac exception, if it came from a Vault answer."""
    import hvac.exceptions as hx

    recorded = error.__dict__.get(_STATUS_ATTRIBUTE) if hasattr(error, "__dict__") else None
    if isinstance(recorded, int):
        return recorded

    statuses: dict[type[BaseException], int] = {
        hx.InvalidRequest: 400,
        hx.Unauthorized: 401,
        hx.Forbidden: 403,
        hx.InvalidPath: 404,
        hx.PreconditionFailed: 412,
        hx.RateLimitExceeded: 429,
        hx.InternalServerError: 500,
        hx.VaultNotInitialized: 501,
        hx.BadGateway: 502,
        hx.VaultDown: 503,
    }
    for kind, status in statuses.items():
        if isinstance(error, kind):
            return status
    if isinstance(error, hx.UnexpectedError):
        return 0
    return None


def vault_messages(error: BaseException) -> str:
    """Vault's ``errors`` list joined and masked ("" when there is none)."""
    errors = getattr(error, "errors", None)
    if isinstance(errors, list):
        text = "; ".join(str(item) for item in errors)
    elif errors:
        text = str(errors)
    else:
        text = str(error.args[0]) if error.args and error.args[0] else ""
    return redact(text).strip().rstrip(".")


def is_sealed(error: BaseException) -> bool:
    """Whether Vault answered that it is sealed."""
    return vault_status(error) == 503 and "sealed" in vault_messages(error).lower()


def is_transient(error: BaseException) -> bool:
    """Throttling, server errors and a network failing under us: the retry allow-list."""
    import requests

    status = vault_status(error)
    if status is not None:
        return status in TRANSIENT_STATUSES
    if isinstance(error, requests.exceptions.SSLError):
        return False
    return isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout)


def is_client_error(error: BaseException) -> bool:
    """Errors that come from talking to Vault (to be translated), not from our own code."""
    import hvac.exceptions as hx
    import requests

    return isinstance(error, hx.VaultError | requests.exceptions.RequestException)


def policy_hint(ctx: RequestContext) -> str:
    """The HCL stanza a token needs for the request in ``ctx``."""
    return f'path "{ctx.path}" {{ capabilities = ["{ctx.capability}"] }}'


def translate(
    error: BaseException, ctx: RequestContext, *, address: str, attempts: int = 1
) -> FloeSecretsError:
    """The error to raise for ``error``, raised by the request described by ``ctx``."""
    where: dict[str, Any] = {
        "backend": BACKEND,
        "secret": ctx.secret,
        "namespace": ctx.namespace,
        "path": ctx.path,
    }
    status = vault_status(error)
    message = vault_messages(error)
    quoted = f" (Vault: {message})" if message else ""
    if status == 404:
        if ctx.secret:
            return SecretNotFoundError(
                f"Secret '{ctx.secret}' does not exist in Vault",
                fix=f"run 'floe secrets create {ctx.secret}' or check the namespace, kv_mount "
                "and secret_path_prefix in plugins.secrets.config",
                **where,
            )
        return SecretNotFoundError(
            f"Vault has nothing at '{ctx.path}' to {ctx.action}{quoted}",
            fix="check that the engine is mounted there (kv_mount, the database mount) and that "
            "the role or lease exists",
            **where,
        )
    if status == 403:
        return SecretAccessDeniedError(
            f"Vault denied '{ctx.action}' on '{ctx.path}': the token's policies do not grant it"
            f"{quoted}",
            fix=f"grant it in a policy attached to the role: {policy_hint(ctx)} (floe can "
            "generate the least-privilege policy: "
            "floe_dagster_secrets.backends.vault.vault_policy)",
            **where,
        )
    if status == 401:
        return SecretAccessDeniedError(
            f"Vault rejected the credentials while trying to {ctx.action}{quoted}",
            fix="check the auth method's credentials (token, role_id/secret_id, service account)",
            **where,
        )
    if status == 400 and "check-and-set" in message:
        if ctx.action == "create":
            return SecretAlreadyExistsError(
                f"Secret '{ctx.secret}' already exists in Vault",
                fix=f"use 'floe secrets rotate {ctx.secret}' to write a new version",
                **where,
            )
        return SecretConflictError(
            f"Secret '{ctx.secret}' got a new version from someone else while it was being "
            f"written{quoted}",
            fix="read it again and repeat the write with the new version (check-and-set)",
            **where,
        )
    if status == 400:
        return InvalidSecretReferenceError(
            f"Vault refused to {ctx.action} '{ctx.path}'{quoted}",
            fix="check the path, the mount's engine type (kv_mount must be KV version 2) and "
            "the request's parameters",
            **where,
        )
    if status == 503 and is_sealed(error):
        return BackendUnavailableError(
            f"Vault at {address} is sealed, so it cannot {ctx.action} '{ctx.path}'",
            fix="unseal it (bao/vault operator unseal) or point address at an unsealed node",
            **where,
        )
    if status is not None:
        return BackendUnavailableError(
            f"Vault at {address} answered {status or 'an unexpected status'} to {ctx.action} "
            f"'{ctx.path}', {attempts} time(s){quoted}",
            fix="check Vault's health (GET /v1/sys/health) and its server log; retry later",
            **where,
        )
    import requests

    if isinstance(error, requests.exceptions.SSLError):
        return BackendUnavailableError(
            f"TLS failed talking to Vault at {address}",
            fix="pass ca_cert (the CA bundle that signed Vault's certificate) or fix the address",
            **where,
        )
    return BackendUnavailableError(
        f"Cannot reach Vault at {address} to {ctx.action} '{ctx.path}' after {attempts} "
        f"attempt(s): {describe_network_failure(error)}",
        fix="check that Vault is running and that plugins.secrets.config.address (VAULT_ADDR) "
        "points at it",
        **where,
    )
