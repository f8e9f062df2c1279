"""The Dagster resources fetch values at run time and keep them out of every snapshot."""

import secrets
from pathlib import Path

import pytest
from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    DagsterInstance,
    Definitions,
    asset,
    define_asset_job,
    serialize_value,
)

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import BackendNotInstalledError, SecretNotFoundError
from floe_dagster_secrets.masking import encoded_forms, get_masker
from floe_dagster_secrets.resources import (
    FloeSecretsResource,
    K8sSecretsResource,
    LocalSecretsResource,
)
from floe_dagster_secrets.types import SecretValue

NAMESPACE = "floe-jobs"


@pytest.fixture
def canary() -> str:
    return f"canary-{secrets.token_urlsafe(24)}"


@pytest.fixture
def store(tmp_path: Path, canary: str) -> Path:
    root = tmp_path / "store"
    plugin = LocalSecretsPlugin(path=root)
    plugin.create_secret("duckdb-dev-credentials", NAMESPACE, {"DUCKDB_ENCRYPTION_KEY": canary})
    plugin.create_secret("api-credentials", NAMESPACE, {"API_KEY": "api-key-value-1", "A": "one"})
    return root


def _hits(text: str, value: str) -> list[str]:
    return [form for form in encoded_forms(value) if form in text]


def test_get_secret_returns_masked_values(store: Path, canary: str, fresh_masker: None) -> None:
    resource = LocalSecretsResource(path=str(store), namespace=NAMESPACE)

    data = resource.get_secret("duckdb-dev-credentials")

    assert isinstance(data["DUCKDB_ENCRYPTION_KEY"], SecretValue)
    assert data["DUCKDB_ENCRYPTION_KEY"].reveal() == canary
    assert canary not in repr(data)
    assert get_masker().redact(f"key={canary}") == "key=***"


def test_env_for_merges_secrets_like_env_from(store: Path, canary: str) -> None:
    resource = LocalSecretsResource(path=str(store), namespace=NAMESPACE)

    env = resource.env_for(["duckdb-dev-credentials", "api-credentials"], prefix="X_")

    assert env == {"X_DUCKDB_ENCRYPTION_KEY": canary, "X_API_KEY": "api-key-value-1", "X_A": "one"}
    assert resource.env_for([]) == {}


def test_missing_secret_raises_our_error_with_a_fix(store: Path) -> None:
    resource = LocalSecretsResource(path=str(store), namespace=NAMESPACE)

    with pytest.raises(SecretNotFoundError) as info:
        resource.get_secret("nope-credentials")

    message = str(info.value)
    assert "nope-credentials" in message
    assert NAMESPACE in message
    assert "Fix:" in message


def test_plugin_is_created_lazily_and_once(store: Path) -> None:
    resource = LocalSecretsResource(path=str(store), namespace=NAMESPACE)

    assert resource._plugin is None
    assert resource.plugin() is resource.plugin()


def test_k8s_resource_passes_its_references_through_without_touching_a_cluster() -> None:
    resource = K8sSecretsResource(
        kubeconfig="/etc/floe/kubeconfig", context="dev", in_cluster=False, namespace="team-a"
    )

    assert resource.backend == "k8s"
    assert resource.backend_kwargs() == {
        "kubeconfig": "/etc/floe/kubeconfig",
        "context": "dev",
        "in_cluster": False,
    }
    assert resource.namespace == "team-a"
    assert resource._plugin is None


def test_unknown_backend_is_a_clear_error() -> None:
    class NoSuchBackend(FloeSecretsResource):
        backend = "no-such-backend"

        def backend_kwargs(self) -> dict[str, object]:
            return {}

    with pytest.raises(BackendNotInstalledError, match="no-such-backend"):
        NoSuchBackend().plugin()


def test_every_field_is_described() -> None:
    for resource_class in (LocalSecretsResource, K8sSecretsResource):
        for name, field in resource_class.model_fields.items():
            assert field.description, f"{resource_class.__name__}.{name} has no description"


def _definitions(resource: ConfigurableResource[object], secret: str) -> Definitions:
    @asset
    def uses_secret(context: AssetExecutionContext, secrets: FloeSecretsResource) -> int:
        env = secrets.env_for([secret])
        context.log.info(f"fetched {sorted(env)} with value {env[sorted(env)[0]]}")
        return len(env)

    return Definitions(
        assets=[uses_secret],
        jobs=[define_asset_job("uses_secret_job")],
        resources={"secrets": resource},
    )


def _snapshot_text(defs: Definitions) -> str:
    """The job snapshot: what run storage keeps and GraphQL serves, resource config included."""
    return serialize_value(defs.resolve_job_def("uses_secret_job").get_job_snapshot())


def test_job_snapshot_and_run_storage_hold_no_value(
    store: Path, canary: str, tmp_path: Path, fresh_masker: None
) -> None:
    defs = _definitions(
        LocalSecretsResource(path=str(store), namespace=NAMESPACE), "duckdb-dev-credentials"
    )

    assert str(store) in _snapshot_text(defs)  # the reference is there …
    assert _hits(_snapshot_text(defs), canary) == []  # … the value is not

    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        result = defs.resolve_job_def("uses_secret_job").execute_in_process(instance=instance)
        assert result.success
        logged = [
            record.user_message
            for record in instance.all_logs(result.run_id)
            if record.user_message.startswith("fetched")
        ]
    assert logged == ["fetched ['DUCKDB_ENCRYPTION_KEY'] with value ***"]
    leaks = [
        str(path)
        for path in home.rglob("*")
        if path.is_file()
        and any(form.encode() in path.read_bytes() for form in encoded_forms(canary))
    ]
    assert leaks == []


def test_the_snapshot_scan_does_catch_a_literal_value(canary: str) -> None:
    """Control: a resource holding the value itself shows up, so the scan above means something."""

    class LiteralResource(FloeSecretsResource):
        backend = "local"
        token: str

    defs = _definitions(LiteralResource(token=canary), "unused")

    assert _hits(_snapshot_text(defs), canary)
