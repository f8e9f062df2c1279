"""Fuzzing the Dagster resources over the local backend (real files): values back, or our error.

Secrets are written with the plugin (fuzzed names, keys, values); the resource then reads them
as an op would (``get_secret``, ``env_for`` with and without a prefix, ``dbt_env``). Anything
but a ``FloeSecretsError`` escaping is a failure, and so is a value read back changed.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fuzz_strategies import FUZZ, secret_keys, secret_names, secret_values
from hypothesis import event, given
from hypothesis import strategies as st

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.manifest.naming import FloeNamingWarning
from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.resources.local import LocalSecretsResource
from floe_dagster_secrets.types import reveal_all

NS = "floe-jobs"
T = TypeVar("T")


def _manifest(connection_secret: str) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FloeNamingWarning)
        return parse_manifest(
            {
                "environment": "dev",
                "plugins": {
                    "secrets": {"type": "local", "namespace": NS},
                    "compute": {
                        "type": "duckdb",
                        "connection_secret_ref": connection_secret,
                        "config": {"path": "w.duckdb"},
                    },
                },
            }
        )


def attempt(call: Callable[[], T]) -> tuple[T | None, FloeSecretsError | None]:
    """``call()``'s result, or our error; anything else escapes and fails the test."""
    try:
        return call(), None
    except FloeSecretsError as e:
        assert "Fix: " in str(e)  # noqa: PT017 - every error of ours says what to do
        return None, e


@FUZZ
@given(
    name=secret_names(),
    data=st.dictionaries(secret_keys(), secret_values(), max_size=3),
    prefix=st.sampled_from([None, "", "DBT_ENV_SECRET_", "1BAD-"]),
)
def test_resource_reads_back_exactly_or_raises_our_error(
    name: str, data: dict[str, str], prefix: str | None
) -> None:
    get_masker().clear()
    with tempfile.TemporaryDirectory() as directory:
        store = Path(directory) / "secrets"
        _, refused = attempt(lambda: LocalSecretsPlugin(path=store).create_secret(name, NS, data))
        event(f"written={refused is None}")
        resource = LocalSecretsResource(path=str(store), namespace=NS)
        got, error = attempt(lambda: reveal_all(resource.get_secret(name)))
        assert (error is None) == (refused is None), error
        if error is None:
            assert got == data
            env, env_error = attempt(lambda: resource.env_for([name], prefix=prefix))
            if env_error is None:
                assert env == {f"{prefix or ''}{k}": v for k, v in data.items()}
    get_masker().clear()


@FUZZ
@given(
    data=st.dictionaries(secret_keys(), secret_values(), max_size=3),
    key=st.one_of(st.none(), secret_values()),
)
def test_dbt_env_gives_the_profile_its_keys_or_names_what_is_wrong(
    data: dict[str, str], key: str | None
) -> None:
    get_masker().clear()
    name = "duckdb-dev-credentials"
    if key is not None:
        data = {**data, "DUCKDB_ENCRYPTION_KEY": key}
    with tempfile.TemporaryDirectory() as directory:
        store = Path(directory) / "secrets"
        _, refused = attempt(lambda: LocalSecretsPlugin(path=store).create_secret(name, NS, data))
        if refused is not None:
            event("not written")
            return
        resource = LocalSecretsResource(path=str(store), namespace=NS)
        env, error = attempt(lambda: resource.dbt_env(_manifest(name)))  # type: ignore[arg-type]
        event("dbt_env ok" if error is None else "dbt_env refused")
        if error is not None:
            assert error.secret == name
        else:
            assert env is not None
            assert env["DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY"] == data["DUCKDB_ENCRYPTION_KEY"]
    get_masker().clear()
