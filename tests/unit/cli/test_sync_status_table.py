"""``floe secrets status`` with a ``ReportsSyncState`` backend (ESO): the sync table.

The ADR's NAME STORE SYNC STATUS LAST SYNC table.

The plugin here is an in-memory stand-in that returns fixed metadata (pure table logic); the
real backend is exercised against the real controller in tests/integration/eso.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.eso.objects import metadata_from_external_secret
from floe_dagster_secrets.cli.commands import RequiredSecret, secrets_status
from floe_dagster_secrets.types import SecretData, SecretMetadata

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def es(name: str, ready: str, reason: str, refresh: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "floe-jobs"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "aws-secrets-manager"},
            "data": [{"secretKey": "K"}],
        },
        "status": {
            "refreshTime": refresh,
            "conditions": [
                {"type": "Ready", "status": ready, "reason": reason, "message": "no such key"}
            ],
        },
    }


class Listed(SecretsPlugin):
    name = "external-secrets"
    version = "test"

    def __init__(self, found: list[SecretMetadata]) -> None:
        self.found = found

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        return self.found

    def sync_states(self, namespace: str) -> list[SecretMetadata]:
        """``ReportsSyncState``: what makes ``status`` show the sync table."""
        return self.found

    def get_secret(self, name: str, namespace: str) -> SecretData:
        raise NotImplementedError

    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        raise NotImplementedError

    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        raise NotImplementedError

    def delete_secret(self, name: str, namespace: str) -> None:
        raise NotImplementedError

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        raise NotImplementedError


PLUGIN = Listed(
    [
        metadata_from_external_secret(
            es("snowflake-credentials", "True", "SecretSynced", "2026-11-28T11:58:00Z"), "floe-jobs"
        ),
        metadata_from_external_secret(
            es("catalog-credentials", "False", "SecretSyncedError", "2026-11-28T11:00:00Z"),
            "floe-jobs",
        ),
    ]
)


def test_status_table_is_the_adrs() -> None:
    lines: list[str] = []
    required = [RequiredSecret("salesforce-credentials", "ingestion")]

    code = secrets_status(PLUGIN, "floe-jobs", required, emit=lines.append, now=NOW)

    assert code == 0
    assert lines[0].split() == ["NAME", "STORE", "SYNC", "STATUS", "LAST", "SYNC"]
    assert lines[1].split() == [
        "snowflake-credentials",
        "aws-secrets-manager",
        "Synced",
        "2m",
        "ago",
    ]
    assert lines[2].split() == [
        "catalog-credentials",
        "aws-secrets-manager",
        "SecretSyncedError",
        "1h",
        "ago",
    ]
    assert lines[3].split()[:3] == ["salesforce-credentials", "-", "<missing>"]
    assert "✗ catalog-credentials: SecretSyncedError: no such key" in lines
    assert "✗ salesforce-credentials: referenced by the manifest but NOT FOUND" in lines


def test_status_json() -> None:
    lines: list[str] = []
    secrets_status(PLUGIN, "floe-jobs", emit=lines.append, output="json", now=NOW)
    document = json.loads("\n".join(lines))
    by_name = {entry["name"]: entry for entry in document["secrets"]}
    assert by_name["snowflake-credentials"]["ready"] is True
    assert by_name["catalog-credentials"]["reason"] == "SecretSyncedError"
    assert by_name["catalog-credentials"]["store"] == "aws-secrets-manager"
