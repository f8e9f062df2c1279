"""One error tree for every backend.

Each error names what it is about (secret, namespace or path, backend) and ends with what to do.
Backends translate their client's exceptions at the boundary with ``raise ... from e`` so the
original stays on ``__cause__``; a secret *value* is never part of any message.
"""

from __future__ import annotations


class FloeSecretsError(Exception):
    """Base of every error this package raises on purpose.

    Attributes:
        backend: Name of the backend involved (``local``, ``k8s``, ``vault`` …), if any.
        secret: Secret name, if the error is about one secret.
        namespace: Namespace (or Vault path prefix) the secret was looked up in.
        fix: One sentence telling the user what to do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        fix: str,
        backend: str | None = None,
        secret: str | None = None,
        namespace: str | None = None,
        path: str | None = None,
    ) -> None:
        self.problem = problem
        self.fix = fix
        self.backend = backend
        self.secret = secret
        self.namespace = namespace
        self.path = path
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = [
            f"{label} '{value}'"
            for label, value in (
                ("secret", self.secret),
                ("namespace", self.namespace),
                ("path", self.path),
                ("backend", self.backend),
            )
            if value
        ]
        context = f" ({', '.join(where)})" if where else ""
        return f"{self.problem}{context}. Fix: {self.fix}"


class SecretNotFoundError(FloeSecretsError):
    """The secret (or one of its keys) does not exist in the backend."""


class SecretAccessDeniedError(FloeSecretsError):
    """The backend refused access: RBAC, Vault policy or file permissions."""


class BackendUnavailableError(FloeSecretsError):
    """The backend could not be reached or answered with a server-side failure."""


class InvalidSecretReferenceError(FloeSecretsError):
    """A secret name, key or reference is malformed."""


class InvalidSecretValueError(FloeSecretsError):
    """A value cannot be stored or read: too large, not UTF-8, empty where not allowed."""


class SecretAlreadyExistsError(FloeSecretsError):
    """``create`` was asked for a secret that exists; rotation is the way to change it."""


class SecretConflictError(FloeSecretsError):
    """A concurrent writer changed the secret first (check-and-set failed)."""


class InvalidManifestError(FloeSecretsError):
    """``manifest.yaml`` does not match the schema or breaks a rule of ADR-0023."""


class BackendNotInstalledError(FloeSecretsError):
    """The manifest names a backend whose package or extra is not installed."""


def with_step_context(error: FloeSecretsError, *, done: str, then: str) -> FloeSecretsError:
    """The same error, saying what an operation of several steps had already done.

    For operations that change two things (write a value, then the object that syncs it): the
    user learns which step failed, what state it left, and what finishes the job.
    """
    return type(error)(
        f"{error.problem}; {done}",
        fix=f"{error.fix.rstrip('.')}, {then}",
        backend=error.backend,
        secret=error.secret,
        namespace=error.namespace,
        path=error.path,
    )
