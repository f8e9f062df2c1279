"""``rotate --dry-run`` / ``--restart-deployments`` option handling and ``status --assets``.

Local backend only (a tmp store); Kubernetes is in tests/integration/test_rotate_restart.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_samples import CANARY, CANARY_2, MANIFEST, Run

from floe_dagster_secrets.backends.local import LocalSecretsPlugin

NS = "floe-jobs"
SALESFORCE = "salesforce-dev-credentials"
DUCKDB = "duckdb-dev-credentials"

WITH_ASSETS = MANIFEST + "    assets: [raw/accounts, marts/pipeline]\n"


def setup(run: Run, workdir: Path) -> LocalSecretsPlugin:
    (workdir / "manifest.yaml").write_text(WITH_ASSETS)
    made = run(
        "secrets", "create", SALESFORCE, "--from-stdin",
        input=f"CLIENT_ID=client\nCLIENT_SECRET={CANARY}\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    return LocalSecretsPlugin(path=workdir / ".floe/secrets")


def test_dry_run_writes_nothing_and_lists_the_assets(run: Run, workdir: Path) -> None:
    store = setup(run, workdir)
    before = store.describe_secret(SALESFORCE, NS)
    result = run("secrets", "rotate", SALESFORCE, "--from-stdin", "--dry-run",
                 input=f"CLIENT_SECRET={CANARY_2}\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert store.describe_secret(SALESFORCE, NS).version == before.version
    assert store.get_secret(SALESFORCE, NS)["CLIENT_SECRET"].reveal() == CANARY
    assert result.stdout == (
        f"Dry run: rotating secret {SALESFORCE} (nothing is changed)\n"
        f"- Would update 1 key (CLIENT_SECRET) in local store; current version {before.version}\n"
        "- Would re-materialize: raw/accounts, marts/pipeline\n"
    )
    assert CANARY_2 not in result.output


def test_dry_run_json_and_missing_secret(run: Run, workdir: Path) -> None:
    setup(run, workdir)
    result = run("secrets", "rotate", SALESFORCE, "--generate", "CLIENT_SECRET", "--dry-run",
                 "-o", "json")  # fmt: skip
    document = json.loads(result.stdout)
    assert document["dry_run"] is True
    assert document["changed_keys"] == ["CLIENT_SECRET"]
    assert document["assets"] == ["raw/accounts", "marts/pipeline"]
    missing = run("secrets", "rotate", DUCKDB, "--generate", "K", "--dry-run")
    assert missing.exit_code == 1
    assert "floe secrets create" in missing.stderr


def test_restart_deployments_is_a_usage_error_off_kubernetes(run: Run, workdir: Path) -> None:
    store = setup(run, workdir)
    version = store.describe_secret(SALESFORCE, NS).version
    result = run("secrets", "rotate", SALESFORCE, "--generate", "CLIENT_SECRET",
                 "--restart-deployments")  # fmt: skip
    assert result.exit_code == 2
    assert "restarts the workloads that read a rotated Kubernetes Secret" in result.stderr
    assert "the local store is files on this machine" in result.stderr
    assert store.describe_secret(SALESFORCE, NS).version == version


def test_rotate_without_restart_still_names_the_assets(run: Run, workdir: Path) -> None:
    setup(run, workdir)
    result = run("secrets", "rotate", SALESFORCE, "--generate", "CLIENT_SECRET", "--dry-run")
    assert "raw/accounts" in result.stdout
    plain = run("secrets", "rotate", SALESFORCE, "--generate", "CLIENT_SECRET")
    assert plain.exit_code == 0
    assert plain.stdout.endswith("Rotation complete.\n")


def test_status_assets_table_and_json(run: Run, workdir: Path) -> None:
    setup(run, workdir)
    result = run("secrets", "status", "--assets")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("Assets by secret (manifest secrets.<name>.assets):")
    assert lines[start + 1 :] == [
        f"  {DUCKDB}: (none declared in secrets.{DUCKDB}.assets)",
        f"  {SALESFORCE}: raw/accounts, marts/pipeline",
    ]
    assert f"✗ {DUCKDB}: referenced by the manifest but NOT FOUND" in result.stdout

    document = json.loads(run("secrets", "status", "--assets", "-o", "json").stdout)
    assert document["assets"] == {SALESFORCE: ["raw/accounts", "marts/pipeline"], DUCKDB: []}
    assert document["missing"] == [DUCKDB]
    assert "Assets by secret" not in run("secrets", "status").stdout


def test_status_row_marks_an_overdue_secret(run: Run, workdir: Path) -> None:
    store = setup(run, workdir)
    path = store.root / NS / f"{SALESFORCE}.json"
    document = json.loads(path.read_text())
    document["updated"] = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    path.write_text(json.dumps(document))
    rows = {line.split()[0]: line for line in run("secrets", "status").stdout.splitlines() if line}
    assert rows[SALESFORCE].split()[-2:] == ["31d", "(overdue)"]
    assert "overdue" not in rows[DUCKDB]
