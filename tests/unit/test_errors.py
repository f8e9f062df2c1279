from __future__ import annotations

import pytest

from floe_dagster_secrets import errors


def test_message_names_the_secret_namespace_backend_and_fix() -> None:
    err = errors.SecretNotFoundError(
        "Secret not found",
        fix="Run 'floe secrets create snowflake-dev-credentials'",
        backend="k8s",
        secret="snowflake-dev-credentials",
        namespace="floe-jobs",
    )
    assert str(err) == (
        "Secret not found (secret 'snowflake-dev-credentials', namespace 'floe-jobs', "
        "backend 'k8s'). Fix: Run 'floe secrets create snowflake-dev-credentials'"
    )
    assert err.secret == "snowflake-dev-credentials"


@pytest.mark.parametrize(
    "cls",
    [
        errors.SecretNotFoundError,
        errors.SecretAccessDeniedError,
        errors.BackendUnavailableError,
        errors.InvalidSecretReferenceError,
        errors.InvalidSecretValueError,
        errors.SecretAlreadyExistsError,
        errors.SecretConflictError,
        errors.InvalidManifestError,
        errors.BackendNotInstalledError,
    ],
)
def test_every_error_is_a_floe_error(cls: type[errors.FloeSecretsError]) -> None:
    assert issubclass(cls, errors.FloeSecretsError)
    assert str(cls("x", fix="y")) == "x. Fix: y"
