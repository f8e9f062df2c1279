"""``floe secrets status --assets --definitions``: assets, jobs and schedules per secret."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cli_samples import Run
from dagster import Definitions

from floe_dagster_secrets.errors import InvalidSecretReferenceError
from floe_dagster_secrets.sensors.dependents import consumers_by_secret, load_definitions

DUCKDB = "duckdb-dev-credentials"
SALESFORCE = "salesforce-dev-credentials"

CODE = textwrap.dedent(
    f"""\
    from dagster import Definitions, ScheduleDefinition, asset, define_asset_job
    from floe_dagster_secrets.asset_metadata import secrets_metadata

    @asset(metadata=secrets_metadata(["{DUCKDB}"]))
    def orders() -> int:
        return 1

    @asset(metadata=secrets_metadata(["{DUCKDB}", "{SALESFORCE}"]))
    def accounts() -> int:
        return 2

    @asset
    def plain() -> int:
        return 3

    orders_job = define_asset_job("orders_job", selection=[orders])
    everything = define_asset_job("everything", selection="*")
    plain_job = define_asset_job("plain_job", selection=[plain])

    defs = Definitions(
        assets=[orders, accounts, plain],
        jobs=[orders_job, everything, plain_job],
        schedules=[
            ScheduleDefinition(name="hourly_orders", job=orders_job, cron_schedule="0 * * * *"),
            ScheduleDefinition(name="nightly", job=everything, cron_schedule="0 2 * * *"),
            ScheduleDefinition(name="plain_daily", job=plain_job, cron_schedule="0 3 * * *"),
        ],
    )
    """
)


@pytest.fixture
def code(workdir: Path) -> Path:
    path = workdir / "code_location.py"
    path.write_text(CODE)
    return path


def test_consumers_follow_metadata_manifest_jobs_and_schedules(code: Path, workdir: Path) -> None:
    defs = load_definitions("code_location.py", workdir)
    found = consumers_by_secret(
        defs, [SALESFORCE, DUCKDB, "unused-dev-secret"], {SALESFORCE: ["plain"]}
    )
    assert found[DUCKDB].assets == ("accounts", "orders")
    assert found[DUCKDB].jobs == ("everything", "orders_job")
    assert found[DUCKDB].schedules == ("hourly_orders", "nightly")
    # the manifest's secrets.<name>.assets adds plain, so plain_job and its schedule count too
    assert found[SALESFORCE].assets == ("accounts", "plain")
    assert found[SALESFORCE].jobs == ("everything", "plain_job")
    assert found[SALESFORCE].schedules == ("nightly", "plain_daily")
    assert found["unused-dev-secret"].to_json() == {"assets": [], "jobs": [], "schedules": []}


def test_status_assets_with_definitions_table_and_json(run: Run, code: Path) -> None:
    result = run("secrets", "status", "--assets", "--definitions", "code_location.py:defs")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("Dependents by secret (code location code_location.py:defs):")
    assert lines[start + 1 :] == [
        f"  {DUCKDB}",
        "    assets:    accounts, orders",
        "    jobs:      everything, orders_job",
        "    schedules: hourly_orders, nightly",
        f"  {SALESFORCE}",
        "    assets:    accounts",
        "    jobs:      everything",
        "    schedules: nightly",
    ]

    out = run("secrets", "status", "--assets", "--definitions", "code_location.py", "-o", "json")
    document = json.loads(out.stdout)
    assert document["assets"] == {DUCKDB: ["accounts", "orders"], SALESFORCE: ["accounts"]}
    assert document["dependents"][DUCKDB]["schedules"] == ["hourly_orders", "nightly"]


def test_bad_definitions_are_our_errors_or_usage_errors(run: Run, code: Path) -> None:
    missing = run("secrets", "status", "--assets", "--definitions", "no_such_module")
    assert missing.exit_code == 1
    assert "Cannot load the code location 'no_such_module': ModuleNotFoundError" in missing.stderr
    assert "Fix: pass --definitions" in missing.stderr

    not_defs = run("secrets", "status", "--assets", "--definitions", "code_location.py:orders")
    assert not_defs.exit_code == 1
    assert "attribute 'orders' is not a Definitions" in not_defs.stderr

    usage = run("secrets", "status", "--definitions", "code_location.py")
    assert usage.exit_code == 2
    assert "--definitions only makes sense with --assets" in usage.stderr


def test_a_module_with_two_definitions_needs_a_name(workdir: Path) -> None:
    (workdir / "two_defs.py").write_text(
        "from dagster import Definitions\na = Definitions()\nb = Definitions()\n"
    )
    with pytest.raises(InvalidSecretReferenceError, match=r"2 Definitions objects \(a, b\)"):
        load_definitions("two_defs.py", workdir)
    assert isinstance(load_definitions("two_defs.py:b", workdir), Definitions)
