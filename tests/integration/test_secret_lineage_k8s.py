"""Secret assets against a real kube-apiserver, through the sensor daemon: what a tick costs.

The rotation sensor reports the ``secrets/<name>`` observations from the version read it already
makes. A TLS proxy in front of the apiserver counts every request a tick sends: the code location
with the secret assets must cost exactly what the one without them costs — one metadata-only
LIST of the namespace. The observations land in the instance with the Secret's
``resourceVersion`` as data version, and declarative automation sees a rotation as an update of
the secret asset (docs/lineage.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.assets import secret_asset_key, secret_assets, with_secret_lineage
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.resources.kubernetes import K8sSecretsResource
from floe_dagster_secrets.sensors import make_secret_rotation_sensor
from tests.integration.fault_helpers import apiserver_proxy, kubeconfig_via
from tests.integration.sensor_daemon import sensor_daemon
from tests.servers import KubeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SECRET_A = "warehouse-db-credentials"
SECRET_B = "reporting-api-key"
KUBECONFIG_VAR = "FLOE_LINEAGE_TEST_KUBECONFIG"
NAMESPACE_VAR = "FLOE_LINEAGE_TEST_NAMESPACE"
SENSOR = "floe_secret_rotation"

MANIFEST = parse_manifest(
    {
        "environment": "dev",
        "plugins": {
            "secrets": {"type": "k8s", "namespace": "floe-jobs"},
            "compute": {
                "type": "postgres",
                "connection_secret_ref": SECRET_A,
                "config": {"host": "db.internal"},
            },
        },
        "ingestion": {
            "pipelines": [
                {"name": "reports", "source": {"type": "rest", "secret_refs": {"t": SECRET_B}}}
            ]
        },
        "secrets": {SECRET_B: {"assets": ["report"]}},
    }
)


@dg.asset(metadata=secrets_metadata([SECRET_A]))
def orders() -> int:
    return 1


@dg.asset(deps=[orders], automation_condition=dg.AutomationCondition.any_deps_updated())
def report() -> int:
    return 2


RESOURCES = {
    "secrets": K8sSecretsResource(
        kubeconfig=dg.EnvVar(KUBECONFIG_VAR), namespace=dg.EnvVar(NAMESPACE_VAR)
    )
}


def _sensor(target: list[dg.AssetsDefinition]) -> dg.SensorDefinition:
    return make_secret_rotation_sensor(
        target=target,
        manifest=MANIFEST,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


LINEAGE = with_secret_lineage([orders, report], MANIFEST)
# Today's code location (no secret assets) and the one with them: same sensor, same reads.
plain_defs = dg.Definitions(
    assets=[orders, report], sensors=[_sensor([orders, report])], resources=RESOURCES
)
lineage_defs = dg.Definitions(
    assets=[*LINEAGE, secret_assets(MANIFEST, assets=LINEAGE)],
    sensors=[_sensor(LINEAGE)],
    resources=RESOURCES,
)


@pytest.fixture
def proxied(
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[object, K8sSecretsPlugin]]:
    proxy = apiserver_proxy(kube_apiserver)
    monkeypatch.setenv(KUBECONFIG_VAR, str(kubeconfig_via(kube_apiserver, proxy.url, tmp_path)))
    monkeypatch.setenv(NAMESPACE_VAR, k8s_namespace)
    plugin = K8sSecretsPlugin(kubeconfig=str(kube_apiserver.admin_kubeconfig))  # not proxied
    plugin.create_secret(SECRET_A, k8s_namespace, {"PASSWORD": "canary-lineage-a1"})
    plugin.create_secret(SECRET_B, k8s_namespace, {"TOKEN": "canary-lineage-b1"})
    try:
        yield proxy, plugin
    finally:
        plugin.close()
        proxy.stop()


def _requests_per_tick(proxy, attribute: str, rotate) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The requests of three ticks (baseline, idle, after a rotation), one list per tick."""
    per_tick: list[list[str]] = []
    with sensor_daemon(__file__, attribute, location="lineage") as daemon:
        for step in range(3):
            if step == 2:
                rotate()
            before = len(proxy.requests())  # the proxy keeps every request it has seen
            daemon.tick()
            per_tick.append([f"{s.method} {s.path}" for s in proxy.requests()[before:]])
    return per_tick


def test_observing_secret_assets_adds_no_request_per_tick(
    proxied: tuple[object, K8sSecretsPlugin], k8s_namespace: str
) -> None:
    proxy, plugin = proxied
    counter = iter(range(100))

    def rotate() -> None:
        plugin.update_secret(SECRET_A, k8s_namespace, {"PASSWORD": f"canary-{next(counter)}"})

    plain = _requests_per_tick(proxy, "plain_defs", rotate)
    lineage = _requests_per_tick(proxy, "lineage_defs", rotate)
    logging.getLogger("test").warning("requests per tick: plain %s, lineage %s", plain, lineage)
    assert [len(t) for t in lineage] == [len(t) for t in plain] == [1, 1, 1]
    for (request,) in lineage:
        assert request.startswith(f"GET /api/v1/namespaces/{k8s_namespace}/secrets")


# evaluate_automation_conditions uses a beta parameter of AssetSelection.all internally.
@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_observations_carry_the_resource_version_and_drive_automation(
    proxied: tuple[object, K8sSecretsPlugin], k8s_namespace: str
) -> None:
    _, plugin = proxied
    key = secret_asset_key(SECRET_A)
    with sensor_daemon(__file__, "lineage_defs", location="lineage") as daemon:
        instance = daemon.instance
        daemon.tick()
        first = instance.get_latest_data_version_record(key)
        assert first is not None
        version = plugin.describe_secret(SECRET_A, k8s_namespace).version
        assert first.asset_observation is not None
        assert first.asset_observation.tags["dagster/data_version"] == version

        daemon.tick()  # nothing changed: no new observation
        assert instance.get_latest_data_version_record(key).storage_id == first.storage_id

        # Declarative automation on the direct edge secrets/B -> report (any_deps_updated):
        # nothing to do before a rotation...
        result = dg.evaluate_automation_conditions(defs=lineage_defs, instance=instance)
        assert result.get_num_requested(dg.AssetKey("report")) == 0

        plugin.update_secret(SECRET_A, k8s_namespace, {"PASSWORD": "canary-lineage-a2"})
        plugin.update_secret(SECRET_B, k8s_namespace, {"TOKEN": "canary-lineage-b2"})
        daemon.tick()
        rotated = instance.get_latest_data_version_record(key)
        assert rotated is not None
        assert rotated.asset_observation is not None
        new_version = plugin.describe_secret(SECRET_A, k8s_namespace).version
        assert rotated.asset_observation.tags["dagster/data_version"] == new_version
        assert new_version != version

        # ...and the observation of B's new version is an update of a dep of report.
        result = dg.evaluate_automation_conditions(
            defs=lineage_defs, instance=instance, cursor=result.cursor
        )
        assert result.get_num_requested(dg.AssetKey("report")) == 1
