"""Operations that change two things (the value in the store, then the ExternalSecret) on the
real apiserver, OpenBao and ESO controller: a failed second step either undoes the first or says
exactly what state it left and what finishes the job.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.sync import SyncWait
from floe_dagster_secrets.errors import BackendUnavailableError, SecretAlreadyExistsError
from tests.servers import OpenBaoServer
from tests.servers.eso import EsoController
from tests.servers.openbao import OpenBaoError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def eso(
    eso_controller: EsoController, vault_store_env: dict[str, str]
) -> Iterator[ESOSecretsPlugin]:
    plugin = ESOSecretsPlugin(**vault_store_env, sync_timeout=90)  # type: ignore[arg-type]
    plugin.apply_cluster_secret_store()
    yield plugin
    plugin.close()


def test_create_whose_external_secret_fails_removes_the_value_it_wrote(
    eso: ESOSecretsPlugin, openbao_server: OpenBaoServer, k8s_namespace: str
) -> None:
    name = "taken-credentials"
    eso.apply_external_secret(name, k8s_namespace, ["KEY"])  # someone else's, no value behind it
    value = f"canary{secrets.token_hex(12)}"

    with pytest.raises(SecretAlreadyExistsError) as failed:
        eso.create_secret(name, k8s_namespace, {"KEY": value})

    message = str(failed.value)
    assert f"floe/{k8s_namespace}/{name}' was removed again" in message
    assert f"run 'floe secrets create {name}' again" in message
    assert value not in message
    with pytest.raises(OpenBaoError) as absent:
        openbao_server.request("GET", f"secret/metadata/floe/{k8s_namespace}/{name}")
    assert absent.value.status == 404


def test_rotation_whose_sync_fails_says_the_value_is_already_in_the_store(
    eso: ESOSecretsPlugin, openbao_server: OpenBaoServer, k8s_namespace: str
) -> None:
    name = "slow-credentials"
    eso.create_secret(name, k8s_namespace, {"KEY": secrets.token_hex(12)})
    eso.sync_wait = SyncWait(timeout=0)  # the forced sync cannot have arrived yet
    rotated = f"canary{secrets.token_hex(12)}"

    with pytest.raises(BackendUnavailableError) as failed:
        eso.update_secret(name, k8s_namespace, {"KEY": rotated})

    message = str(failed.value)
    assert "did not sync" in message
    assert f"the new value is already in the store at 'floe/{k8s_namespace}/{name}'" in message
    assert f"run 'floe secrets rotate {name}' again" in message
    assert rotated not in message
    stored = openbao_server.request("GET", f"secret/data/floe/{k8s_namespace}/{name}")["data"]
    assert (stored["metadata"]["version"], stored["data"]["KEY"]) == (2, rotated)
