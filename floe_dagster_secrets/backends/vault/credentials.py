"""Login credentials for each auth method: read from env vars and files at each login, never kept.

Kubernetes rotates projected service-account tokens, and an AppRole secret_id can be re-issued,
so every login reads its credential afresh. Each value is wrapped in ``SecretValue`` (registered
with the masker) the moment it is read; errors name the variable or file, never its content.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from floe_dagster_secrets.backends.vault.errors import BACKEND, RequestContext
from floe_dagster_secrets.errors import FloeSecretsError, SecretAccessDeniedError
from floe_dagster_secrets.manifest.secrets_config import VAULT_ROLE_ID_ENV, VAULT_SECRET_ID_ENV
from floe_dagster_secrets.types import SecretValue

AuthMethod = Literal["kubernetes", "approle", "token"]

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
"""Where Kubernetes mounts the pod's service-account JWT."""


@dataclass(frozen=True)
class AuthSettings:
    """How to log in; names of env vars and paths of files only, never a credential."""

    method: AuthMethod
    role: str
    mount_path: str
    token_env: str | None = None
    role_id_env: str = VAULT_ROLE_ID_ENV
    secret_id_env: str = VAULT_SECRET_ID_ENV
    token_file: str | None = None


def login_refused(auth: AuthSettings, ctx: RequestContext, message: str) -> FloeSecretsError:
    """The error for a login Vault refused, with the fix for the auth method in use."""
    quoted = f" (Vault: {message})" if message else ""
    fixes = {
        "kubernetes": f"bind this pod's service account and namespace in the Vault role "
        f"'{auth.role}' (bound_service_account_names/namespaces; floe's runs use "
        "'floe-job-runner', see floe_dagster_secrets.backends.vault.kubernetes_auth_role), and "
        "check that the role exists at that mount",
        "approle": f"check the role_id and secret_id in ${auth.role_id_env} / "
        f"${auth.secret_id_env} (a secret_id can expire or be used up: issue a new one)",
        "token": f"put a valid, unexpired token in {token_source(auth)}",
    }
    return SecretAccessDeniedError(
        f"Vault refused to {ctx.action} at '{ctx.path}'{quoted}",
        fix=fixes[auth.method],
        backend=BACKEND,
        path=ctx.path,
    )


def token_source(auth: AuthSettings) -> str:
    """Where token auth reads its token from, for messages."""
    if auth.token_file and not auth.token_env:
        return f"the file {auth.token_file}"
    return f"${auth.token_env or 'VAULT_TOKEN'}"


def read_token(auth: AuthSettings) -> SecretValue:
    """The token for token auth: from token_env (default VAULT_TOKEN), or token_file."""
    if auth.token_file and not auth.token_env:
        return SecretValue(_read_file(auth, auth.token_file, "the Vault token"))
    return _env(auth, auth.token_env or "VAULT_TOKEN", "token_env", "a Vault token")


def login_body(auth: AuthSettings) -> dict[str, str]:
    """The login request body for kubernetes or approle auth, read fresh from file/env."""
    if auth.method == "kubernetes":
        jwt_file = auth.token_file or SERVICE_ACCOUNT_TOKEN
        jwt = _read_file(auth, jwt_file, "the service-account JWT")
        SecretValue(jwt)  # registered with the masker
        return {"role": auth.role, "jwt": jwt}
    return _approle_body(auth)


def _approle_body(auth: AuthSettings) -> dict[str, str]:
    """role_id and secret_id from their env vars; one error naming both when either is unset.

    Both are read before failing, so a process missing both hears about both at once, and the
    fix names both variables whichever is missing.
    """
    wanted = (
        (auth.role_id_env, "the role_id", "role_id_env"),
        (auth.secret_id_env, "the secret_id", "secret_id_env"),
    )
    values = {name: os.environ.get(name, "").strip() for name, _, _ in wanted}
    unset = [f"${name} (holding {what})" for name, what, _ in wanted if not values[name]]
    if unset:
        verb = "is" if len(unset) == 1 else "are"
        raise SecretAccessDeniedError(
            f"Cannot log in to Vault with approle auth: {' and '.join(unset)} {verb} not set",
            fix=f"set ${auth.role_id_env} and ${auth.secret_id_env} in the environment of this "
            "process to the AppRole's role_id and a secret_id, or name other variables with "
            "role_id_env / secret_id_env in plugins.secrets.config",
            backend=BACKEND,
        )
    role_id, secret_id = (SecretValue(values[name]) for name, _, _ in wanted)
    return {"role_id": role_id.reveal(), "secret_id": secret_id.reveal()}


def _env(auth: AuthSettings, name: str, field: str, what: str) -> SecretValue:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SecretAccessDeniedError(
            f"Cannot log in to Vault with {auth.method} auth: ${name} (holding {what}) is not set",
            fix=f"set ${name} in the environment of this process, or name another variable "
            f"with {field} in plugins.secrets.config",
            backend=BACKEND,
        )
    return SecretValue(value)


def _read_file(auth: AuthSettings, path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise SecretAccessDeniedError(
            f"Cannot log in to Vault with {auth.method} auth: cannot read {what} from "
            f"{path} ({type(e).__name__})",
            fix="run in a pod with a service account token mounted, or set token_file in "
            "plugins.secrets.config to a readable file",
            backend=BACKEND,
            path=path,
        ) from None
    if not text:
        raise SecretAccessDeniedError(
            f"Cannot log in to Vault: {path} (holding {what}) is empty",
            fix="point token_file at the file that holds the credential",
            backend=BACKEND,
            path=path,
        )
    return text
