"""The floe_secrets check's numeric metadata: what the UI's Plots panel draws over time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from tests.unit.checks.test_checks_dagster import CANARY, NS, PG, SF, run_checks
from tests.unit.checks.test_checks_dagster import store as store  # the fixture


def test_age_and_max_age_are_numbers_for_the_plots_panel(
    store: LocalSecretsPlugin, tmp_path: Path
) -> None:
    store.create_secret(
        PG, NS, {"POSTGRES_HOST": "db", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": CANARY}
    )
    store.create_secret(SF, NS, {"CLIENT_ID": "id", "CLIENT_SECRET": CANARY})
    root = tmp_path / "store"
    [record_file] = [p for p in root.rglob("*") if p.is_file() and SF in p.name]
    record = json.loads(record_file.read_text())
    record["updated"] = record["created"] = (datetime.now(UTC) - timedelta(days=12)).isoformat()
    record_file.write_text(json.dumps(record))

    found = run_checks(root)
    orders, accounts = found["orders"].metadata, found["accounts"].metadata
    # orders: one secret without a limit; accounts: the oldest secret against the strictest limit.
    assert orders["age_days"] == dg.MetadataValue.int(0)
    assert "max_age_days" not in orders
    assert accounts["age_days"] == dg.MetadataValue.int(12)
    assert accounts["max_age_days"] == dg.MetadataValue.int(30)
    assert accounts[f"age_days/{SF}"] == dg.MetadataValue.int(12)
    assert accounts[f"age_days/{PG}"] == dg.MetadataValue.int(0)
