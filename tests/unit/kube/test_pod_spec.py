from __future__ import annotations

import pytest

from floe_dagster_secrets.errors import InvalidSecretReferenceError
from floe_dagster_secrets.kube.pod_spec import env_from_secret, env_from_secret_keys


def test_env_from_secret_with_and_without_prefix() -> None:
    assert env_from_secret("snowflake-credentials") == {
        "secretRef": {"name": "snowflake-credentials"}
    }
    assert env_from_secret("s", prefix="DBT_ENV_SECRET_") == {
        "secretRef": {"name": "s"},
        "prefix": "DBT_ENV_SECRET_",
    }


def test_env_from_secret_keys_is_sorted_and_typed() -> None:
    assert env_from_secret_keys({"B_VAR": "s2/k2", "A_VAR": "s1/k1"}) == {
        "env": [
            {"name": "A_VAR", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k1"}}},
            {"name": "B_VAR", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "k2"}}},
        ]
    }


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        ({"1BAD": "s/k"}, "'1BAD' is not a valid environment variable name"),
        ({"GOOD": "no-slash"}, "Reference 'no-slash' for env var 'GOOD'"),
        ({"GOOD": "/k"}, "is not of the form 'secret-name/key'"),
    ],
)
def test_bad_references_are_clear_errors(refs: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidSecretReferenceError, match=message.replace("(", r"\(")):
        env_from_secret_keys(refs)
