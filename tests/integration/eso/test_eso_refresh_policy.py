"""ESO's ``refreshPolicy``: an ExternalSecret that ESO never refreshes on the interval is not
judged stale by it (real ESO controller, real apiserver, test OpenBao).

Under ``CreatedOnce`` (and ``OnChange``) ESO ignores ``refreshInterval``: its last sync stays as
old as it is, and that is what the user asked for. Judged by the interval, the pre-flight would
refuse every run an interval after the sync, with a fix (a forced sync) ESO ignores too.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.objects import GROUP, PLURAL, sync_state
from floe_dagster_secrets.backends.eso.preflight import sync_errors
from floe_dagster_secrets.errors import InvalidManifestError
from tests.servers import KubeApiServer
from tests.servers.eso import EsoController

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAME = "warehouse-dev-credentials"
LATER = timedelta(hours=3)
"""How long after the last sync the pre-flight judges (the interval is the default 1h)."""


def test_created_once_external_secret_is_fresh_past_its_interval(
    eso_controller: EsoController,
    kube_apiserver: KubeApiServer,
    vault_store_env: dict[str, str],
    k8s_namespace: str,
) -> None:
    del eso_controller  # running: it syncs and (not) refreshes the ExternalSecret
    eso = ESOSecretsPlugin(**vault_store_env)  # type: ignore[arg-type]
    custom = k8s.CustomObjectsApi(kube_apiserver.api_client())
    try:
        eso.apply_cluster_secret_store()
        eso.create_secret(NAME, k8s_namespace, {"WAREHOUSE_PASSWORD": "pw-refresh-policy"})

        # Periodic (ESO's default), interval 1h: three hours after the sync it is stale
        periodic = eso.describe_secret(NAME, k8s_namespace)
        assert periodic.sync is not None
        assert periodic.sync.ready
        assert periodic.sync.refresh_time is not None
        synced_at = periodic.sync.refresh_time
        (stale,) = sync_errors([periodic], now=synced_at + LATER)
        assert "longer ago than its refresh interval" in stale.problem

        # The user switches it to CreatedOnce (the field is in the CRD the suite installs)
        custom.patch_namespaced_custom_object(
            GROUP, "v1", k8s_namespace, PLURAL, NAME, {"spec": {"refreshPolicy": "CreatedOnce"}}
        )
        # ESO really does not refresh it: a shorter interval changes nothing
        custom.patch_namespaced_custom_object(
            GROUP, "v1", k8s_namespace, PLURAL, NAME, {"spec": {"refreshInterval": "1s"}}
        )
        time.sleep(4)
        raw = eso.read_external_secret(NAME, k8s_namespace)
        state = sync_state(raw)
        assert state.ready, state
        assert state.refresh_time == synced_at, "ESO refreshed a CreatedOnce ExternalSecret"

        # so the pre-flight judges it fresh hours later: Ready and synced once is enough
        created_once = eso.describe_secret(NAME, k8s_namespace)
        assert created_once.sync is not None
        assert sync_errors([created_once], now=synced_at + LATER) == []
        assert not created_once.sync.is_stale(synced_at + LATER)
        assert created_once.sync.refresh_policy == "CreatedOnce"  # read from the real object
        assert created_once.extra["refresh_policy"] == "CreatedOnce"

        # and a rotation, whose forced sync ESO would ignore, is refused before the store is
        # written, with the two ways out
        with pytest.raises(InvalidManifestError, match="refreshPolicy CreatedOnce") as refused:
            eso.update_secret(NAME, k8s_namespace, {"WAREHOUSE_PASSWORD": "pw-never-synced"})
        assert f"kubectl delete secret {NAME} -n {k8s_namespace}" in refused.value.fix
        assert eso.describe_secret(NAME, k8s_namespace).sync.refresh_time == synced_at
    finally:
        eso.close()
