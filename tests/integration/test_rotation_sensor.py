"""The rotation sensor through the daemon's own sensor iteration, against a real kube-apiserver.

The code location below is loaded in-process by a real ``WorkspaceProcessContext``; each tick is
one ``execute_sensor_iteration`` of the sensor daemon with a real (temporary) instance, so run-key
de-duplication, cursor storage and tick failure handling are Dagster's own (the shared harness:
``tests/integration/sensor_daemon.py``). The secrets resource reads its kubeconfig and namespace
from environment variables at each tick (``EnvVar``), which is how a test points the same code
location at a fresh namespace or at a closed port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetKey,
    DefaultSensorStatus,
    Definitions,
    EnvVar,
    asset,
    asset_check,
)
from dagster._core.scheduler.instigation import TickStatus

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.resources.kubernetes import K8sSecretsResource
from floe_dagster_secrets.sensors import ROTATED_SECRET_TAG, make_secret_rotation_sensor
from tests.integration.sensor_daemon import SENSOR, SensorDaemon, sensor_daemon
from tests.integration.vault_helpers import put_policy, unique
from tests.servers import KubeApiServer, OpenBaoServer
from tests.servers._process import free_port
from tests.servers.openbao import OpenBaoError

SECRET_A = "warehouse-db-credentials"
SECRET_B = "reporting-api-key"
SECRET_C = "crm-api-key"
KUBECONFIG_VAR = "FLOE_ROTATION_TEST_KUBECONFIG"
NAMESPACE_VAR = "FLOE_ROTATION_TEST_NAMESPACE"


@asset(metadata=secrets_metadata([SECRET_A]))
def orders() -> int:
    return 1


@asset(metadata=secrets_metadata([SECRET_A]))
def customers() -> int:
    return 2


@asset(metadata=secrets_metadata([SECRET_B]))
def report() -> int:
    return 3


rotation_sensor = make_secret_rotation_sensor(
    target=[orders, customers, report],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
)

defs = Definitions(
    assets=[orders, customers, report],
    sensors=[rotation_sensor],
    resources={
        "secrets": K8sSecretsResource(
            kubeconfig=EnvVar(KUBECONFIG_VAR), namespace=EnvVar(NAMESPACE_VAR)
        )
    },
)


VAULT_ADDRESS_VAR = "FLOE_ROTATION_TEST_VAULT_ADDR"
VAULT_TOKEN_FILE_VAR = "FLOE_ROTATION_TEST_VAULT_TOKEN_FILE"
VAULT_PREFIX_VAR = "FLOE_ROTATION_TEST_VAULT_PREFIX"
VAULT_NAMESPACE = "floe-jobs"


def _vault_plugin() -> VaultSecretsPlugin:
    return VaultSecretsPlugin(
        address=os.environ[VAULT_ADDRESS_VAR],
        auth_method="token",
        token_file=os.environ[VAULT_TOKEN_FILE_VAR],
        secret_path_prefix=os.environ[VAULT_PREFIX_VAR],
        timeout=5.0,
    )


vault_defs = Definitions(
    assets=[orders, customers, report],
    sensors=[
        make_secret_rotation_sensor(
            target=[orders, customers, report],
            namespace=VAULT_NAMESPACE,
            plugin_factory=_vault_plugin,
            minimum_interval_seconds=30,
            default_status=DefaultSensorStatus.RUNNING,
        )
    ],
)


@asset(metadata=secrets_metadata([SECRET_C]))
def leads() -> int:
    return 4


@asset_check(asset=orders)
def orders_not_empty() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


# The manifest says what a rotation of each secret triggers.
POLICY_MANIFEST = parse_manifest(
    {
        "environment": "dev",
        "plugins": {
            "compute": {
                "type": "postgres",
                "connection_secret_ref": "postgres-dev-credentials",
                "config": {"host": "db.internal"},
            }
        },
        "ingestion": {
            "pipelines": [
                {
                    "name": "warehouse",
                    "source": {
                        "type": "postgres",
                        "secret_refs": {"a": SECRET_A, "b": SECRET_B, "c": SECRET_C},
                    },
                }
            ]
        },
        "secrets": {
            SECRET_A: {"on_rotation": "checks"},
            SECRET_B: {"on_rotation": "none"},
            SECRET_C: {"on_rotation": "rematerialize"},
        },
    }
)
POLICY_TARGET = [orders, customers, report, leads, orders_not_empty]

policy_defs = Definitions(
    assets=[orders, customers, report, leads],
    asset_checks=[orders_not_empty],
    sensors=[
        make_secret_rotation_sensor(
            target=POLICY_TARGET,
            manifest=POLICY_MANIFEST,
            minimum_interval_seconds=30,
            default_status=DefaultSensorStatus.RUNNING,
        )
    ],
    resources={
        "secrets": K8sSecretsResource(
            kubeconfig=EnvVar(KUBECONFIG_VAR), namespace=EnvVar(NAMESPACE_VAR)
        )
    },
)


@pytest.fixture
def plugin(kube_apiserver: KubeApiServer) -> Iterator[K8sSecretsPlugin]:
    p = K8sSecretsPlugin(kubeconfig=str(kube_apiserver.admin_kubeconfig))
    yield p
    p.close()


@pytest.fixture
def daemon(
    kube_apiserver: KubeApiServer, k8s_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SensorDaemon]:
    monkeypatch.setenv(KUBECONFIG_VAR, str(kube_apiserver.admin_kubeconfig))
    monkeypatch.setenv(NAMESPACE_VAR, k8s_namespace)
    with sensor_daemon(__file__, "defs", location="rotation") as running:
        yield running


def _selection(run) -> set[AssetKey]:  # type: ignore[no-untyped-def]
    return set(run.asset_selection or ())


def test_rotation_launches_exactly_the_dependent_assets(
    daemon: SensorDaemon, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    plugin.create_secret(SECRET_A, k8s_namespace, {"PASSWORD": "first-a"})
    plugin.create_secret(SECRET_B, k8s_namespace, {"TOKEN": "first-b"})

    daemon.tick()
    assert daemon.last_tick().status == TickStatus.SKIPPED
    assert daemon.runs() == []
    baseline = daemon.cursor()
    assert baseline
    assert SECRET_A in baseline

    plugin.update_secret(SECRET_A, k8s_namespace, {"PASSWORD": "second-a"})
    daemon.tick()
    runs = daemon.runs()
    assert len(runs) == 1
    assert _selection(runs[0]) == {AssetKey("orders"), AssetKey("customers")}
    assert runs[0].tags[ROTATED_SECRET_TAG] == SECRET_A
    assert "second-a" not in str(runs[0].tags)
    assert "second-a" not in (daemon.cursor() or "")

    daemon.tick()
    assert len(daemon.runs()) == 1

    plugin.update_secret(SECRET_A, k8s_namespace, {"PASSWORD": "third-a"})
    daemon.tick()
    runs = daemon.runs()
    assert len(runs) == 2
    assert _selection(runs[1]) == {AssetKey("orders"), AssetKey("customers")}
    assert runs[0].tags["dagster/run_key"] != runs[1].tags["dagster/run_key"]

    plugin.update_secret(SECRET_B, k8s_namespace, {"TOKEN": "second-b"})
    daemon.tick()
    runs = daemon.runs()
    assert len(runs) == 3
    assert _selection(runs[2]) == {AssetKey("report")}


def test_deleted_secret_launches_nothing(
    daemon: SensorDaemon, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    plugin.create_secret(SECRET_A, k8s_namespace, {"PASSWORD": "first-a"})
    daemon.tick()
    plugin.delete_secret(SECRET_A, k8s_namespace)
    daemon.tick()
    assert daemon.runs() == []
    assert daemon.last_tick().status == TickStatus.SKIPPED


def test_unreachable_apiserver_fails_the_tick_and_keeps_the_cursor(
    daemon: SensorDaemon,
    plugin: K8sSecretsPlugin,
    k8s_namespace: str,
    kube_apiserver: KubeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    plugin.create_secret(SECRET_A, k8s_namespace, {"PASSWORD": "first-a"})
    daemon.tick()
    baseline = daemon.cursor()

    text = Path(kube_apiserver.admin_kubeconfig).read_text()
    closed = tmp_path / "closed.kubeconfig"
    closed.write_text(text.replace(kube_apiserver.url, f"https://127.0.0.1:{free_port()}"))
    assert closed.read_text() != text
    monkeypatch.setenv(KUBECONFIG_VAR, str(closed))
    plugin.update_secret(SECRET_A, k8s_namespace, {"PASSWORD": "second-a"})
    daemon.tick()
    tick = daemon.last_tick()
    assert tick.status == TickStatus.FAILURE
    assert tick.error is not None
    error = tick.error.to_string()
    assert (
        f"BackendUnavailableError: Rotation sensor '{SENSOR}' could not read the versions of "
        f"{SECRET_B}, {SECRET_A}: Cannot reach the Kubernetes API"
    ) in error
    assert "No run was requested and the cursor is kept" in error
    assert k8s_namespace in error
    assert "second-a" not in error
    assert daemon.cursor() == baseline
    assert daemon.runs() == []

    monkeypatch.setenv(KUBECONFIG_VAR, str(kube_apiserver.admin_kubeconfig))
    daemon.tick()
    runs = daemon.runs()
    assert len(runs) == 1
    assert _selection(runs[0]) == {AssetKey("orders"), AssetKey("customers")}
    assert os.environ[KUBECONFIG_VAR] == str(kube_apiserver.admin_kubeconfig)


def _sensor_token(server: OpenBaoServer, plugin: VaultSecretsPlugin) -> str:
    """A token that may read the two secrets' KV metadata and nothing else (no list, no data)."""
    name = unique("rotation-sensor-")
    hcl = "".join(
        f'path "{plugin.metadata_path(secret, VAULT_NAMESPACE)}" {{ capabilities = ["read"] }}\n'
        for secret in (SECRET_A, SECRET_B)
    )
    put_policy(server, name, hcl)
    answer = server.request("POST", "auth/token/create", {"policies": [name], "ttl": "1h"})
    return str(answer["auth"]["client_token"])


def _point_sensor_at(
    server: OpenBaoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> VaultSecretsPlugin:
    """Root plugin for the test's writes; the sensor gets a metadata-read-only token."""
    root_token = tmp_path / "root-token"
    root_token.write_text(server.root_token)
    monkeypatch.setenv(VAULT_ADDRESS_VAR, server.address)
    monkeypatch.setenv(VAULT_TOKEN_FILE_VAR, str(root_token))
    monkeypatch.setenv(VAULT_PREFIX_VAR, f"{unique('rot')}/")
    plugin = _vault_plugin()
    sensor_token = tmp_path / "sensor-token"
    sensor_token.write_text(_sensor_token(server, plugin))
    monkeypatch.setenv(VAULT_TOKEN_FILE_VAR, str(sensor_token))
    return plugin


def test_vault_kv_rotation_and_unreachable_vault(
    openbao_server: OpenBaoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = _point_sensor_at(openbao_server, tmp_path, monkeypatch)
    plugin.create_secret(SECRET_A, VAULT_NAMESPACE, {"PASSWORD": "first-a"})
    plugin.create_secret(SECRET_B, VAULT_NAMESPACE, {"TOKEN": "first-b"})
    with sensor_daemon(__file__, "vault_defs", location="rotation") as daemon:
        daemon.tick()
        assert daemon.last_tick().status == TickStatus.SKIPPED
        assert daemon.runs() == []
        plugin.update_secret(SECRET_A, VAULT_NAMESPACE, {"PASSWORD": "second-a"})
        daemon.tick()
        runs = daemon.runs()
        assert len(runs) == 1
        assert _selection(runs[0]) == {AssetKey("orders"), AssetKey("customers")}
        assert runs[0].tags["dagster/run_key"].startswith(f"{SECRET_A}@{VAULT_NAMESPACE}:2#")
        daemon.tick()
        assert len(daemon.runs()) == 1

        plugin.update_secret(SECRET_A, VAULT_NAMESPACE, {"PASSWORD": "third-a"})
        daemon.tick()
        runs = daemon.runs()
        assert len(runs) == 2
        assert _selection(runs[1]) == {AssetKey("orders"), AssetKey("customers")}
        assert runs[1].tags["dagster/run_key"].startswith(f"{SECRET_A}@{VAULT_NAMESPACE}:3#")

        cursor = daemon.cursor()
        monkeypatch.setenv(VAULT_ADDRESS_VAR, f"http://127.0.0.1:{free_port()}")
        plugin.update_secret(SECRET_B, VAULT_NAMESPACE, {"TOKEN": "second-b"})
        daemon.tick()
        tick = daemon.last_tick()
        assert tick.status == TickStatus.FAILURE
        assert tick.error is not None
        assert (
            f"Rotation sensor '{SENSOR}' could not read the versions of {SECRET_B}, {SECRET_A}: "
            "Cannot reach Vault"
        ) in tick.error.to_string()
        assert "second-b" not in tick.error.to_string()
        assert daemon.cursor() == cursor
        assert len(daemon.runs()) == 2

        monkeypatch.setenv(VAULT_ADDRESS_VAR, openbao_server.address)
        daemon.tick()
        runs = daemon.runs()
        assert len(runs) == 3
        assert _selection(runs[2]) == {AssetKey("report")}
        for value in ("second-a", "third-a", "second-b"):
            assert value not in str([run.tags for run in runs]) + (daemon.cursor() or "")
    plugin.close()


@pytest.fixture
def private_openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """An OpenBao of this test's own: sealing the shared one would break the other tests."""
    server = OpenBaoServer(tmp_path_factory.mktemp("rotation_openbao"))
    server.start()
    yield server
    server.stop()


def _unseal_key(server: OpenBaoServer) -> str:
    """The dev server prints its single unseal key at start-up."""
    for line in server.log_file.read_text(errors="replace").splitlines():
        if line.startswith("Unseal Key:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no unseal key in {server.log_file}")


def test_sealed_vault_fails_the_tick_and_keeps_the_cursor(
    private_openbao: OpenBaoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = _point_sensor_at(private_openbao, tmp_path, monkeypatch)
    plugin.create_secret(SECRET_A, VAULT_NAMESPACE, {"PASSWORD": "first-a"})
    plugin.create_secret(SECRET_B, VAULT_NAMESPACE, {"TOKEN": "first-b"})
    with sensor_daemon(__file__, "vault_defs", location="rotation") as daemon:
        daemon.tick()
        baseline = daemon.cursor()
        plugin.update_secret(SECRET_B, VAULT_NAMESPACE, {"TOKEN": "second-b"})

        private_openbao.request("PUT", "sys/seal")
        daemon.tick()
        tick = daemon.last_tick()
        assert tick.status == TickStatus.FAILURE
        assert tick.error is not None
        error = tick.error.to_string()
        assert (
            f"BackendUnavailableError: Rotation sensor '{SENSOR}' could not read the versions "
            f"of {SECRET_B}, {SECRET_A}: Vault at {private_openbao.address} is sealed"
        ) in error
        assert "Fix: unseal it" in error
        assert "the cursor is kept" in error
        assert "second-b" not in error
        assert daemon.cursor() == baseline
        assert daemon.runs() == []

        with pytest.raises(OpenBaoError):  # still sealed: the tick above did not lie
            private_openbao.request("GET", plugin.metadata_path(SECRET_B, VAULT_NAMESPACE))
        private_openbao.request("PUT", "sys/unseal", {"key": _unseal_key(private_openbao)})
        daemon.tick()
        (run,) = daemon.runs()
        assert _selection(run) == {AssetKey("report")}
    plugin.close()


def test_policy_per_secret_through_real_ticks(
    kube_apiserver: KubeApiServer,
    k8s_namespace: str,
    plugin: K8sSecretsPlugin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KUBECONFIG_VAR, str(kube_apiserver.admin_kubeconfig))
    monkeypatch.setenv(NAMESPACE_VAR, k8s_namespace)
    for name in (SECRET_A, SECRET_B, SECRET_C):
        plugin.create_secret(name, k8s_namespace, {"TOKEN": "first"})
    with sensor_daemon(__file__, "policy_defs", location="rotation") as daemon:
        daemon.tick()
        for name in (SECRET_A, SECRET_B, SECRET_C):
            plugin.update_secret(name, k8s_namespace, {"TOKEN": "second"})
        daemon.tick()
        by_secret = {run.tags[ROTATED_SECRET_TAG]: run for run in daemon.runs()}
        assert set(by_secret) == {SECRET_A, SECRET_C}  # B's policy is "none"
        checks_only = by_secret[SECRET_A]
        assert _selection(checks_only) == set()
        assert set(checks_only.asset_check_selection or ()) == {
            AssetCheckKey(AssetKey("orders"), "orders_not_empty")
        }
        assert _selection(by_secret[SECRET_C]) == {AssetKey("leads")}

        cursor = daemon.cursor()
        daemon.tick()
        assert len(daemon.runs()) == 2
        assert daemon.cursor() == cursor  # B's rotation was recorded, not left pending

        plugin.update_secret(SECRET_B, k8s_namespace, {"TOKEN": "third"})
        daemon.tick()
        assert len(daemon.runs()) == 2
        assert daemon.cursor() != cursor
