"""Translate what the Kubernetes client raises into this package's error tree.

Called at the backend boundary (``raise translate(...) from e``), so the original exception stays
on ``__cause__`` while the message says, in words, which secret, which namespace, what was refused
and what to do. The apiserver's own status message is quoted only after it went through the
masker, and it never carries a Secret's values (Status objects describe, they do not echo).
"""

from __future__ import annotations

import json
import re
from typing import Any

from floe_dagster_secrets.backends._retry import (
    describe_network_failure,
    http_status,
    is_transient,
)
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    FloeSecretsError,
    InvalidSecretReferenceError,
    InvalidSecretValueError,
    SecretAccessDeniedError,
    SecretAlreadyExistsError,
    SecretConflictError,
    SecretNotFoundError,
)
from floe_dagster_secrets.kube.objects import BACKEND
from floe_dagster_secrets.masking import redact

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[a-z]+) resource'
    r'(?: "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)")?'
)


def status_body(error: BaseException) -> dict[str, Any]:
    """The apiserver's ``Status`` an ``ApiException`` carries (``{}``: none, or not JSON)."""
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _server_message(status: dict[str, Any], error: BaseException) -> str:
    message = status.get("message") or getattr(error, "reason", None) or type(error).__name__
    return redact(str(message)).rstrip(".")


def translate(
    error: BaseException,
    *,
    verb: str,
    namespace: str,
    name: str | None = None,
    host: str | None = None,
    attempts: int = 1,
) -> FloeSecretsError:
    """The error to raise for ``error``, raised while doing ``verb`` on a secret.

    Args:
        error: What the client raised (``ApiException``, a urllib3 or socket error).
        verb: The Kubernetes verb attempted: get, list, create, update, delete.
        namespace: Namespace of the request.
        name: Secret name, unless the request was a list.
        host: API server URL, for connection errors.
        attempts: How many attempts were made, for transient failures.
    """
    where: dict[str, Any] = {"backend": BACKEND, "secret": name, "namespace": namespace}
    status_code = http_status(error)
    status = status_body(error)
    message = _server_message(status, error)
    reason = status.get("reason")
    what = f"secret '{name}'" if name else "secrets"

    if status_code == 404:
        details = status.get("details") or {}
        if details.get("kind") == "namespaces":
            return InvalidSecretReferenceError(
                f"Namespace '{namespace}' does not exist",
                fix="create the namespace, or point plugins.secrets.namespace / --namespace at "
                "the one that holds your secrets",
                **where,
            )
        return SecretNotFoundError(
            f"Secret '{name}' does not exist",
            fix=f"Run 'floe secrets create {name}' (or check --namespace/--context)",
            **where,
        )
    if status_code == 403:
        match = _FORBIDDEN.search(message)
        user = match.group("user") if match else "the current identity"
        denied_verb = match.group("verb") if match else verb
        # The denied request may be about another resource than the secret (the pre-flight
        # lists ExternalSecrets too): name what RBAC actually refused.
        resource = "secrets"
        if match and match.group("resource") and match.group("resource") != "secrets":
            group = match.group("group")
            resource = match.group("resource") + (f".{group}" if group else "")
            what = resource
        return SecretAccessDeniedError(
            f"Access denied: {user} may not '{denied_verb}' {what} in namespace '{namespace}' "
            f"(RBAC: {message})",
            fix=f"grant the '{denied_verb}' verb on {resource} in namespace '{namespace}' to "
            f"{user} "
            + (
                f"(a Role with resourceNames: ['{name}'] and a RoleBinding)"
                if name and resource == "secrets"
                else ""
            )
            + ", or use a --context/--kubeconfig whose identity has it",
            **where,
        )
    if status_code == 401:
        return SecretAccessDeniedError(
            f"The Kubernetes API rejected the credentials while trying to {verb} {what}",
            fix="refresh the kubeconfig's credentials (token expired?) or choose another --context",
            **where,
        )
    if status_code == 409:
        if reason == "AlreadyExists" or verb == "create":
            return SecretAlreadyExistsError(
                f"Secret '{name}' already exists",
                fix=f"use `floe secrets rotate {name}` to change its values",
                **where,
            )
        return SecretConflictError(
            f"Secret '{name}' was changed by someone else while it was being updated",
            fix="read it again and repeat the update",
            **where,
        )
    if status_code == 422:
        causes = (status.get("details") or {}).get("causes") or []
        fields = [str(cause.get("field", "")) for cause in causes]
        if any(field.startswith("metadata.") for field in fields):
            return InvalidSecretReferenceError(
                f"The Kubernetes API refused the secret's name or metadata: {message}",
                fix="use a valid Kubernetes name (lower-case letters, digits, '-', '.')",
                **where,
            )
        return InvalidSecretValueError(
            f"The Kubernetes API refused the secret's contents: {message}",
            fix="fix the keys or values named above and try again",
            **where,
        )
    if status_code is not None and is_transient(error):
        return BackendUnavailableError(
            f"The Kubernetes API answered {status_code} ({reason or message}) to {verb} {what}, "
            f"{attempts} time(s)",
            fix="the API server is overloaded or failing: wait and retry, and check its health "
            "(kubectl get --raw /readyz)",
            **where,
        )
    if status_code is not None:
        return BackendUnavailableError(
            f"The Kubernetes API answered {status_code} ({message}) to {verb} {what}",
            fix="check the API server's logs; this status is not one floe expects",
            **where,
        )
    if getattr(error, "status", None) == 0:  # the client's wrapper around TLS errors
        return BackendUnavailableError(
            f"TLS failed talking to the Kubernetes API at {host or 'the configured server'}: "
            f"{redact(str(getattr(error, 'reason', error))).splitlines()[0]}",
            fix="check the certificate-authority of the kubeconfig cluster entry",
            **where,
        )
    return BackendUnavailableError(
        f"Cannot reach the Kubernetes API at {host or 'the configured server'} to {verb} {what} "
        f"after {attempts} attempt(s): {describe_network_failure(error)}",
        fix="check that the cluster is up and that --kubeconfig/--context point at it",
        **where,
    )
