"""ESO's ``refreshPolicy`` in the sync state: CreatedOnce and OnChange are never stale by age.

Pure decisions on ExternalSecret objects as the apiserver returns them; the real controller's
behaviour is tested in ``tests/integration/eso/test_eso_refresh_policy.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from floe_dagster_secrets.backends.eso.objects import metadata_from_external_secret, sync_state
from floe_dagster_secrets.backends.eso.preflight import sync_errors

SYNCED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATER = SYNCED + timedelta(hours=3)


def external_secret(
    policy: str | None, *, ready: bool = True, synced: bool = True
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "refreshInterval": "1h",
        "secretStoreRef": {"name": "vault"},
        "target": {"name": "db-target"},
        "data": [{"secretKey": "PASSWORD", "remoteRef": {"key": "db", "property": "PASSWORD"}}],
    }
    if policy is not None:
        spec["refreshPolicy"] = policy
    status: dict[str, Any] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "SecretSynced" if ready else "SecretSyncedError",
                "message": "synced" if ready else "could not get secret data from provider",
            }
        ]
    }
    if synced:
        status["refreshTime"] = SYNCED.isoformat().replace("+00:00", "Z")
        status["syncedResourceVersion"] = "1-abc"
    return {"metadata": {"name": "db", "namespace": "jobs"}, "spec": spec, "status": status}


@pytest.mark.parametrize("policy", ["CreatedOnce", "OnChange"])
def test_non_periodic_policies_are_fresh_however_old_the_sync(policy: str) -> None:
    state = sync_state(external_secret(policy))
    assert state.refresh_policy == policy
    assert not state.is_stale(LATER)
    meta = metadata_from_external_secret(external_secret(policy), "jobs")
    assert sync_errors([meta], now=LATER) == []


@pytest.mark.parametrize("policy", [None, "Periodic"])
def test_periodic_is_stale_past_its_interval(policy: str | None) -> None:
    state = sync_state(external_secret(policy))
    assert state.refresh_policy == "Periodic"
    assert state.is_stale(LATER)
    assert not state.is_stale(SYNCED + timedelta(minutes=30))


@pytest.mark.parametrize("policy", ["CreatedOnce", "OnChange"])
def test_never_synced_is_stale_under_every_policy(policy: str) -> None:
    assert sync_state(external_secret(policy, synced=False)).is_stale(LATER)


def test_created_once_not_ready_gives_a_fix_that_works_for_it() -> None:
    meta = metadata_from_external_secret(external_secret("CreatedOnce", ready=False), "jobs")
    (error,) = sync_errors([meta], now=LATER)
    assert "is not Ready (SecretSyncedError" in error.problem
    assert "refreshPolicy CreatedOnce ignores forced syncs" in error.fix
    assert "kubectl delete secret db-target -n jobs" in error.fix
    assert "floe secrets rotate" not in error.fix


def test_on_change_not_ready_keeps_the_force_sync_fix() -> None:
    meta = metadata_from_external_secret(external_secret("OnChange", ready=False), "jobs")
    (error,) = sync_errors([meta], now=LATER)
    assert "force-sync annotation" in error.fix
