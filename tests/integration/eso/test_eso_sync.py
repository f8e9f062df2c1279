"""The real ESO controller syncs a real value from the test OpenBao through a Vault store.

The ClusterSecretStore is the one floe generates (KV v2, Kubernetes auth with a
``serviceAccountRef``: ESO mints that account's token with TokenRequest and OpenBao reviews it
against the same apiserver). ``create`` writes the value into OpenBao, creates the ExternalSecret
and waits for ESO; ``rotate`` writes a new version into OpenBao, forces a sync and waits.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dagster import asset, materialize
from kubernetes import client as k8s

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.preflight import sync_errors
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.errors import (
    BackendUnavailableError,
    InvalidManifestError,
    SecretNotFoundError,
)
from floe_dagster_secrets.launcher.preflight import PreflightReader
from floe_dagster_secrets.resources import ESOSecretsResource
from tests.servers import KubeApiServer, OpenBaoServer
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def external_secret(api: KubeApiServer, namespace: str, name: str) -> dict[str, Any]:
    answer = k8s.CustomObjectsApi(api.api_client()).get_namespaced_custom_object(
        "external-secrets.io", "v1", namespace, "externalsecrets", name
    )
    return dict(answer)


@pytest.fixture
def eso(eso_controller: EsoController, vault_store_env: dict[str, str]) -> Any:
    plugin = ESOSecretsPlugin(**vault_store_env, sync_timeout=90)  # type: ignore[arg-type]
    plugin.apply_cluster_secret_store()
    yield plugin
    plugin.close()


def test_external_secret_syncs_a_real_value_and_rotate_delivers_the_new_one(
    eso: ESOSecretsPlugin,
    kube_apiserver: KubeApiServer,
    openbao_server: OpenBaoServer,
    k8s_namespace: str,
) -> None:
    name = "warehouse-credentials"
    first = f"canary{secrets.token_hex(12)}"

    created = eso.create_secret(name, k8s_namespace, {"PASSWORD": first, "USER": "dbt"})

    assert created.keys == ("PASSWORD", "USER")
    assert created.sync.ready is True
    assert created.sync.reason == "SecretSynced"
    assert created.version  # the synced Secret's resourceVersion
    assert eso.get_secret(name, k8s_namespace)["PASSWORD"].reveal() == first
    # the value is in OpenBao at the path the ExternalSecret names
    kv = openbao_server.request("GET", f"secret/data/floe/{k8s_namespace}/{name}")["data"]
    assert kv["data"]["PASSWORD"] == first
    # the Secret is ESO's, owned by the ExternalSecret
    synced = k8s.CoreV1Api(kube_apiserver.api_client()).read_namespaced_secret(name, k8s_namespace)
    assert synced.metadata.owner_references[0].kind == "ExternalSecret"

    second = f"canary{secrets.token_hex(12)}"
    rotated = eso.update_secret(name, k8s_namespace, {"PASSWORD": second}, merge=True)

    kv = openbao_server.request("GET", f"secret/data/floe/{k8s_namespace}/{name}")["data"]
    assert (kv["metadata"]["version"], kv["data"]["PASSWORD"], kv["data"]["USER"]) == (
        2,
        second,
        "dbt",
    )
    values = eso.get_secret(name, k8s_namespace)
    assert (values["PASSWORD"].reveal(), values["USER"].reveal()) == (second, "dbt")
    assert rotated.version != created.version
    # a new key joins the mapping; the others stay mapped
    with_host = eso.update_secret(name, k8s_namespace, {"HOST": "db.internal"}, merge=True)
    assert with_host.keys == ("HOST", "PASSWORD", "USER")
    assert sorted(eso.get_secret(name, k8s_namespace)) == ["HOST", "PASSWORD", "USER"]
    # canary: the ExternalSecret objects carry key names and locations, never a value
    stored = json.dumps(external_secret(kube_apiserver, k8s_namespace, name))
    assert first not in stored
    assert second not in stored


def test_not_ready_external_secret_reports_esos_reason_and_fails_preflight(
    eso: ESOSecretsPlugin, k8s_namespace: str
) -> None:
    """A remote key that does not exist: ESO says why, status shows it, pre-flight refuses."""
    eso.apply_external_secret("missing-credentials", k8s_namespace, ["TOKEN"])
    eso.sync_wait = type(eso.sync_wait)(timeout=20)
    with pytest.raises(BackendUnavailableError) as raised:
        eso.wait_synced("missing-credentials", k8s_namespace)
    assert "did not sync" in str(raised.value)

    meta = eso.describe_secret("missing-credentials", k8s_namespace)
    assert meta.sync.ready is False
    assert meta.sync.reason == "SecretSyncedError"
    with pytest.raises(SecretNotFoundError, match="has not synced"):
        eso.get_secret("missing-credentials", k8s_namespace)
    with pytest.raises(BackendUnavailableError, match="is not Ready") as refused:
        PreflightReader(eso).secrets_metadata(k8s_namespace, {"missing-credentials": ["TOKEN"]})
    assert "no Job was created" in str(refused.value)


def test_preflight_accepts_a_fresh_sync_and_refuses_a_stale_one(
    eso: ESOSecretsPlugin, k8s_namespace: str
) -> None:
    eso.create_secret("fresh-credentials", k8s_namespace, {"KEY": secrets.token_hex(8)})

    found = PreflightReader(eso).secrets_metadata(k8s_namespace, {"fresh-credentials": ["KEY"]})
    assert found["fresh-credentials"].keys == ("KEY",)
    # the same sync seen two hours later is older than its 1h refresh interval
    later = datetime.now(UTC) + timedelta(hours=2)
    errors = sync_errors(found.values(), now=later)
    assert len(errors) == 1
    assert "longer ago than its refresh interval" in str(errors[0])


def test_run_launchers_k8s_reader_refuses_a_synced_secret_whose_external_secret_failed(
    eso: ESOSecretsPlugin,
    kube_apiserver: KubeApiServer,
    openbao_server: OpenBaoServer,
    k8s_namespace: str,
) -> None:
    """The launcher reads Secrets with the k8s backend: ESO's label on the Secret makes it
    judge the ExternalSecret too, so a Secret left behind by a failing sync is refused."""
    name = "lost-credentials"
    eso.create_secret(name, k8s_namespace, {"KEY": secrets.token_hex(8)})
    reader = PreflightReader.for_plugin(
        K8sSecretsPlugin(kubeconfig=str(kube_apiserver.admin_kubeconfig))
    )
    try:
        synced = reader.secrets_metadata(k8s_namespace, {name: ["KEY"]})[name]
        assert (synced.keys_known, synced.key_count) == (False, 1)  # no value read

        # the value disappears from the store; ESO's next sync fails, the old Secret stays
        openbao_server.request("DELETE", f"secret/metadata/floe/{k8s_namespace}/{name}")
        eso.sync_wait = type(eso.sync_wait)(timeout=15)
        with pytest.raises(BackendUnavailableError, match="did not sync"):
            eso.force_sync(name, k8s_namespace)
        assert eso.get_secret(name, k8s_namespace)["KEY"]  # still there, stale

        with pytest.raises(BackendUnavailableError, match="is not Ready") as refused:
            reader.secrets_metadata(k8s_namespace, {name: ["KEY"]})
        assert "SecretSyncedError" in str(refused.value)
        assert f"secret '{name}'" in str(refused.value)
    finally:
        reader.close()
        reader.plugin.close()


def test_forced_sync_is_refused_when_eso_never_refreshes(
    eso_controller: EsoController, vault_store_env: dict[str, str], k8s_namespace: str
) -> None:
    never = ESOSecretsPlugin(**vault_store_env, refresh_interval="0")  # type: ignore[arg-type]
    try:
        never.apply_cluster_secret_store()
        never.create_secret("once-credentials", k8s_namespace, {"K": secrets.token_hex(8)})
        with pytest.raises(InvalidManifestError, match="refreshInterval 0"):
            never.update_secret("once-credentials", k8s_namespace, {"K": "next-value"})
        # refused before anything was written: OpenBao still has the first version only
        assert never.get_secret("once-credentials", k8s_namespace)["K"].reveal() != "next-value"
        source = never._source("once-credentials", k8s_namespace)
        assert source.describe_secret("once-credentials", k8s_namespace).version == "1"
    finally:
        never.close()


def test_dagster_resource_reads_the_synced_secret_in_an_asset(
    eso: ESOSecretsPlugin, vault_store_env: dict[str, str], k8s_namespace: str
) -> None:
    """``ESOSecretsResource`` holds references only and reads ESO's Secret when the step runs."""
    value = f"canary{secrets.token_hex(12)}"
    eso.create_secret("asset-credentials", k8s_namespace, {"TOKEN": value})
    seen: list[bool] = []

    @asset
    def uses_secret(context, secrets_eso: ESOSecretsResource) -> None:  # type: ignore[no-untyped-def]
        data = secrets_eso.get_secret("asset-credentials")
        seen.append(data["TOKEN"].reveal() == value)
        context.log.info(f"token is {data['TOKEN'].reveal()}")  # the masker redacts it

    resource = ESOSecretsResource(namespace=k8s_namespace, **vault_store_env)
    result = materialize([uses_secret], resources={"secrets_eso": resource})

    assert result.success
    assert seen == [True]
    logged = [
        str(event.message)
        for event in result.all_events
        if event.event_type_value == "ENGINE_EVENT" or event.message
    ]
    assert all(value not in message for message in logged)
    assert value not in json.dumps(resource.model_dump())
