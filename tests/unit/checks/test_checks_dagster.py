"""The floe_secrets asset checks executed by Dagster against a real local store (tmp dir)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from floe_dagster_secrets.asset_metadata import secrets_metadata
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.checks import CHECK_NAME, secret_asset_checks
from floe_dagster_secrets.manifest import Manifest, parse_manifest
from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.resources.local import LocalSecretsResource

NS = "floe-jobs"
PG = "postgres-dev-credentials"
SF = "salesforce-dev-credentials"
CANARY = "canary-checks-7d1e0b"


def manifest() -> Manifest:
    return parse_manifest(
        {
            "environment": "dev",
            "plugins": {
                "secrets": {"type": "local", "namespace": NS},
                "compute": {
                    "type": "postgres",
                    "connection_secret_ref": PG,
                    "config": {"host": "db", "database": "analytics"},
                },
            },
            "ingestion": {
                "pipelines": [
                    {
                        "name": "salesforce-sync",
                        "source": {"type": "salesforce", "secret_refs": {"client_id": SF}},
                    }
                ]
            },
            "secrets": {SF: {"keys": ["CLIENT_ID", "CLIENT_SECRET"], "max_age_days": 30}},
        }
    )


@dg.asset(metadata=secrets_metadata([PG]))
def orders() -> None:
    """Needs the warehouse connection."""


@dg.asset(metadata=secrets_metadata([PG, SF]))
def accounts() -> None:
    """Needs the warehouse and Salesforce."""


PLAIN = dg.AssetSpec("plain")  # no floe/secrets: no check


@pytest.fixture
def store(tmp_path: Path) -> LocalSecretsPlugin:
    get_masker().clear()
    return LocalSecretsPlugin(path=tmp_path / "store")


def run_checks(store_path: Path) -> dict[str, dg.AssetCheckEvaluation]:
    checks = secret_asset_checks([orders, accounts, PLAIN], manifest=manifest())
    assert len(checks) == 1
    check_keys = {dg.AssetCheckKey(dg.AssetKey(a), CHECK_NAME) for a in ("orders", "accounts")}
    assert set(checks[0].check_keys) == check_keys
    result = dg.materialize(
        [orders, accounts, *checks],
        resources={"secrets": LocalSecretsResource(path=str(store_path), namespace=NS)},
    )
    assert result.success
    return {
        evaluation.asset_key.to_user_string(): evaluation
        for evaluation in result.get_asset_check_evaluations()
    }


def test_missing_secret_errors_and_missing_key_errors(store: LocalSecretsPlugin) -> None:
    store.create_secret(PG, NS, {"POSTGRES_HOST": "db", "POSTGRES_USER": "u"})
    found = run_checks(store.root)
    orders_check, accounts_check = found["orders"], found["accounts"]
    assert not orders_check.passed
    assert orders_check.severity == dg.AssetCheckSeverity.ERROR
    findings = orders_check.metadata["findings"].value
    assert findings[0]["missing_keys"] == ["POSTGRES_PASSWORD"]
    assert findings[0]["version"] == "1"
    accounts_findings = {f["secret"]: f for f in accounts_check.metadata["findings"].value}
    assert accounts_findings[SF]["status"] == "missing"
    assert accounts_check.severity == dg.AssetCheckSeverity.ERROR
    assert accounts_check.metadata["secrets"].value == f"{PG}, {SF}"


def test_complete_secrets_pass_and_overdue_warns(store: LocalSecretsPlugin, tmp_path: Path) -> None:
    store.create_secret(
        PG, NS, {"POSTGRES_HOST": "db", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": CANARY}
    )
    store.create_secret(SF, NS, {"CLIENT_ID": "id", "CLIENT_SECRET": CANARY})
    root = tmp_path / "store"
    found = run_checks(root)
    assert found["orders"].passed
    assert found["accounts"].passed
    assert found["accounts"].metadata["findings"].value[1]["age_days"] == 0

    # Backdate Salesforce's last write by 40 days in the store's own record.
    [record_file] = [p for p in root.rglob("*") if p.is_file() and SF in p.name]
    record = json.loads(record_file.read_text())
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    record["updated"] = record["created"] = old
    record_file.write_text(json.dumps(record))
    found = run_checks(root)
    assert found["orders"].passed
    warned = found["accounts"]
    assert not warned.passed
    assert warned.severity == dg.AssetCheckSeverity.WARN
    overdue = {f["secret"]: f for f in warned.metadata["findings"].value}[SF]
    assert (overdue["status"], overdue["age_days"], overdue["max_age_days"]) == ("overdue", 40, 30)
    assert CANARY not in json.dumps([e.metadata["findings"].value for e in found.values()])


def test_no_secrets_metadata_no_checks() -> None:
    assert secret_asset_checks([PLAIN], manifest=manifest()) == []


def test_an_unreadable_secret_fails_its_own_finding_and_the_other_checks_still_run(
    store: LocalSecretsPlugin, tmp_path: Path
) -> None:
    """A corrupt store file is this secret's problem: the other assets' checks still report."""
    store.create_secret(
        PG, NS, {"POSTGRES_HOST": "db", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": CANARY}
    )
    store.create_secret(SF, NS, {"CLIENT_ID": "id", "CLIENT_SECRET": CANARY})
    root = tmp_path / "store"
    [record_file] = [p for p in root.rglob("*") if p.is_file() and SF in p.name]
    record_file.write_text("{not json")
    found = run_checks(root)
    assert found["orders"].passed
    broken = found["accounts"]
    assert not broken.passed
    assert broken.severity == dg.AssetCheckSeverity.ERROR
    finding = {f["secret"]: f for f in broken.metadata["findings"].value}[SF]
    assert finding["status"] == "unreadable"
    assert "Fix: " in finding["detail"]
    assert SF in (broken.description or "")
