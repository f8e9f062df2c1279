"""The instance-level SecretsLoader, built by Dagster from dagster.yaml as a real instance does."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import SecretNotFoundError
from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.secrets_loader import FloeSecretsLoader

NAMESPACE = "floe-jobs"


@pytest.fixture
def canary() -> str:
    return f"canary-{secrets.token_urlsafe(24)}"


@pytest.fixture
def store(tmp_path: Path, canary: str) -> Path:
    root = tmp_path / "store"
    plugin = LocalSecretsPlugin(path=root)
    plugin.create_secret("duckdb-dev-credentials", NAMESPACE, {"DUCKDB_ENCRYPTION_KEY": canary})
    plugin.create_secret("api-credentials", NAMESPACE, {"API_KEY": "api-key-value-1"})
    return root


def _instance_home(tmp_path: Path, config: dict[str, object]) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    document = {
        "secrets": {
            "custom": {
                "module": "floe_dagster_secrets.secrets_loader",
                "class": "FloeSecretsLoader",
                "config": config,
            }
        }
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(document))
    return home


def test_dagster_builds_the_loader_from_dagster_yaml_and_injects_env(
    tmp_path: Path, store: Path, canary: str, monkeypatch: pytest.MonkeyPatch, fresh_masker: None
) -> None:
    home = _instance_home(
        tmp_path,
        {
            "backend": "local",
            "backend_config": {"path": str(store)},
            "namespace": NAMESPACE,
            "secrets": ["duckdb-dev-credentials", "api-credentials"],
            "prefix": "DBT_ENV_SECRET_",
        },
    )
    monkeypatch.delenv("DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("DBT_ENV_SECRET_API_KEY", raising=False)

    with DagsterInstance.from_config(str(home)) as instance:
        instance.inject_env_vars("floe_demo")
        assert os.environ["DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY"] == canary
        assert os.environ["DBT_ENV_SECRET_API_KEY"] == "api-key-value-1"
        # The instance ref (serialised into run workers and Job pods) names, never holds, values.
        assert canary not in repr(instance.get_ref())
    assert get_masker().redact(canary) == "***"


def test_locations_limit_which_code_locations_get_secrets(store: Path, canary: str) -> None:
    loader = FloeSecretsLoader(
        backend_config={"path": str(store)},
        secrets=["duckdb-dev-credentials"],
        locations=["floe_demo"],
    )

    assert loader.get_secrets_for_environment("floe_demo") == {"DUCKDB_ENCRYPTION_KEY": canary}
    assert loader.get_secrets_for_environment("other") == {}
    assert loader.get_secrets_for_environment(None) == {}
    loader.dispose()


def test_no_secrets_configured_loads_nothing_and_touches_no_backend() -> None:
    loader = FloeSecretsLoader(backend="no-such-backend")

    assert loader.get_secrets_for_environment("floe_demo") == {}


def test_missing_secret_fails_the_load_with_our_error(store: Path) -> None:
    loader = FloeSecretsLoader(backend_config={"path": str(store)}, secrets=["gone-credentials"])

    with pytest.raises(SecretNotFoundError, match="gone-credentials"):
        loader.get_secrets_for_environment("floe_demo")
