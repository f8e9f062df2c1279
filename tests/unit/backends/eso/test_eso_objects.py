"""Pure parts of the ESO backend: object generation, sync state, durations, the stale rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from floe_dagster_secrets.backends.eso import ESOSecretsPlugin
from floe_dagster_secrets.backends.eso.objects import (
    external_secret_body,
    metadata_from_external_secret,
    parse_go_duration,
    sync_state,
)
from floe_dagster_secrets.backends.eso.preflight import sync_errors
from floe_dagster_secrets.backends.eso.stores import StoreSettings, cluster_secret_store_body
from floe_dagster_secrets.errors import (
    InvalidManifestError,
    InvalidSecretReferenceError,
    InvalidSecretValueError,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("1h30m", 5400), ("0", 0), ("1.5s", 1.5), ("250ms", 0.25)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1d", "h", "1h 30m", "-1h"])
def test_not_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a Go duration"):
        parse_go_duration(text)


def test_external_secret_is_the_adrs_shape_in_v1() -> None:
    body = external_secret_body(
        "snowflake-credentials",
        "floe-jobs",
        ["SNOWFLAKE_USER", "SNOWFLAKE_ACCOUNT"],
        store="aws-secrets-manager",
        remote="floe/floe-jobs/snowflake-credentials",
    )

    assert body["apiVersion"] == "external-secrets.io/v1"
    assert body["kind"] == "ExternalSecret"
    assert body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "floe"}
    assert body["spec"] == {
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "aws-secrets-manager", "kind": "ClusterSecretStore"},
        "target": {"name": "snowflake-credentials", "creationPolicy": "Owner"},
        "data": [
            {
                "secretKey": "SNOWFLAKE_ACCOUNT",
                "remoteRef": {
                    "key": "floe/floe-jobs/snowflake-credentials",
                    "property": "SNOWFLAKE_ACCOUNT",
                },
            },
            {
                "secretKey": "SNOWFLAKE_USER",
                "remoteRef": {
                    "key": "floe/floe-jobs/snowflake-credentials",
                    "property": "SNOWFLAKE_USER",
                },
            },
        ],
    }


def test_v1beta1_only_when_asked() -> None:
    plugin = ESOSecretsPlugin(store="s", api_version="v1beta1")
    assert plugin.external_secret("a-b", "ns", ["K"])["apiVersion"] == (
        "external-secrets.io/v1beta1"
    )
    with pytest.raises(InvalidManifestError, match="api_version"):
        ESOSecretsPlugin(store="s", api_version="v2")  # type: ignore[arg-type]


def test_external_secret_refuses_a_bad_name() -> None:
    with pytest.raises(InvalidSecretReferenceError):
        external_secret_body("Bad_Name", "ns", ["K"], store="s", remote="r")


@pytest.mark.parametrize(
    ("settings", "provider"),
    [
        (
            StoreSettings("aws", region="us-east-1"),
            {
                "aws": {
                    "service": "SecretsManager",
                    "region": "us-east-1",
                    "auth": {
                        "jwt": {
                            "serviceAccountRef": {
                                "name": "external-secrets",
                                "namespace": "external-secrets",
                            }
                        }
                    },
                }
            },
        ),
        (
            StoreSettings("gcp", project="p", cluster_location="us-central1", cluster_name="c"),
            {
                "gcpsm": {
                    "projectID": "p",
                    "auth": {
                        "workloadIdentity": {
                            "serviceAccountRef": {
                                "name": "external-secrets",
                                "namespace": "external-secrets",
                            },
                            "clusterLocation": "us-central1",
                            "clusterName": "c",
                        }
                    },
                }
            },
        ),
        (
            StoreSettings("azure", vault_url="https://v.vault.azure.net"),
            {"azurekv": {"vaultUrl": "https://v.vault.azure.net", "authType": "ManagedIdentity"}},
        ),
        (
            StoreSettings(
                "vault",
                vault_address="https://vault",
                vault_role="floe",
                service_account="eso",
                service_account_namespace="ops",
            ),
            {
                "vault": {
                    "server": "https://vault",
                    "path": "secret",
                    "version": "v2",
                    "auth": {
                        "kubernetes": {
                            "mountPath": "kubernetes",
                            "role": "floe",
                            "serviceAccountRef": {"name": "eso", "namespace": "ops"},
                        }
                    },
                }
            },
        ),
    ],
)
def test_cluster_secret_stores(settings: StoreSettings, provider: dict[str, Any]) -> None:
    body = cluster_secret_store_body("store", settings)
    assert body["kind"] == "ClusterSecretStore"
    assert body["apiVersion"] == "external-secrets.io/v1"
    assert body["spec"] == {"provider": provider}


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (StoreSettings("aws"), "region"),
        (StoreSettings("gcp"), "project"),
        (StoreSettings("azure"), "vault_url"),
        (StoreSettings("vault", vault_role="r"), "vault_address"),
        (StoreSettings("vault", vault_address="https://v"), "vault_role"),
    ],
)
def test_store_needs_its_fields(settings: StoreSettings, field: str) -> None:
    with pytest.raises(InvalidManifestError, match=f"plugins.secrets.config.{field}"):
        cluster_secret_store_body("store", settings)


def es(
    *,
    ready: str | None = "True",
    reason: str = "SecretSynced",
    refresh: str | None = "2026-11-28T11:58:00Z",
    interval: str = "1h",
) -> dict[str, Any]:
    status: dict[str, Any] = {"syncedResourceVersion": "1-abc"}
    if refresh:
        status["refreshTime"] = refresh
    if ready is not None:
        status["conditions"] = [
            {"type": "Ready", "status": ready, "reason": reason, "message": "msg"}
        ]
    return {
        "metadata": {
            "name": "a-credentials",
            "namespace": "ns",
            "creationTimestamp": "2026-11-28T10:00:00Z",
            "labels": {"app.kubernetes.io/managed-by": "floe"},
        },
        "spec": {
            "refreshInterval": interval,
            "secretStoreRef": {"name": "store", "kind": "ClusterSecretStore"},
            "target": {"name": "a-credentials"},
            "data": [{"secretKey": "B"}, {"secretKey": "A"}],
        },
        "status": status,
    }


def test_metadata_from_an_external_secret() -> None:
    meta = metadata_from_external_secret(es(), "ns", target_version="42")

    assert (meta.name, meta.keys, meta.version, meta.type, meta.backend) == (
        "a-credentials",
        ("A", "B"),
        "42",
        "ExternalSecret",
        "external-secrets",
    )
    assert meta.updated == datetime(2026, 11, 28, 11, 58, tzinfo=UTC)
    assert meta.managed_by_floe
    assert meta.extra["store"] == "store"
    assert meta.sync.ready is True


def test_sync_state_of_a_pending_and_a_failing_external_secret() -> None:
    pending = sync_state(es(ready=None, refresh=None))
    assert (pending.ready, pending.label(), pending.is_stale(NOW)) == (False, "Pending", True)
    failing = sync_state(es(ready="False", reason="SecretSyncedError"))
    assert (failing.ready, failing.label()) == (False, "SecretSyncedError")


def test_stale_after_one_refresh_interval_plus_grace() -> None:
    state = sync_state(es(refresh="2026-11-28T10:58:00Z"))
    assert state.is_stale(NOW)
    assert not state.is_stale(NOW - timedelta(minutes=1, seconds=30))
    never = sync_state(es(interval="0", refresh="2020-01-01T00:00:00Z"))
    assert not never.is_stale(NOW)


def test_preflight_sync_errors() -> None:
    fresh = metadata_from_external_secret(es(), "ns")
    failing = metadata_from_external_secret(es(ready="False", reason="SecretSyncedError"), "ns")
    stale = metadata_from_external_secret(es(refresh="2026-11-28T09:00:00Z"), "ns")

    assert sync_errors([fresh], now=NOW) == []
    (not_ready,) = sync_errors([failing], now=NOW)
    assert "is not Ready (SecretSyncedError: msg)" in str(not_ready)
    assert "backend 'external-secrets'" in str(not_ready)
    (old,) = sync_errors([stale], now=NOW)
    assert "longer ago than its refresh interval" in str(old)


def test_create_refuses_stores_floe_does_not_write() -> None:
    plugin = ESOSecretsPlugin(store="aws-sm", provider="aws", region="eu-west-1")
    with pytest.raises(InvalidSecretValueError) as raised:
        plugin.create_secret("a-credentials", "ns", {"K": "value-value"})
    message = str(raised.value)
    assert "aws secretsmanager put-secret-value --secret-id floe/ns/a-credentials" in message
    assert "value-value" not in message
