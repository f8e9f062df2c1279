"""The CLI's start-up imports only what every command needs (benchmarks/cli_latency.py times it).

Each check runs in a fresh interpreter, so modules other tests imported cannot hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from floe_dagster_secrets.cli.app import cli

HEAVY = [
    "dagster",
    "kubernetes",
    "hvac",
    "pydantic",
    "yaml",
    "floe_dagster_secrets.manifest",
    "floe_dagster_secrets.cli.project",
    "floe_dagster_secrets.cli.rbac",
    "floe_dagster_secrets.cli.rotation",
    "floe_dagster_secrets.kube.rollout",
]


def _loaded_after(statement: str) -> dict[str, bool]:
    probe = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_client_library_nor_unneeded_command_module() -> None:
    loaded = _loaded_after("import floe_dagster_secrets.cli.app")
    assert [m for m, present in loaded.items() if present] == []


def test_lazy_commands_are_listed_and_load_when_asked_for() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0, top.output
    for name in ("manifest", "profiles", "secrets"):
        assert f"  {name} " in top.output
    secrets_help = runner.invoke(cli, ["secrets", "--help"])
    assert secrets_help.exit_code == 0, secrets_help.output
    for name in ("create", "get", "list", "rbac", "rotate", "status", "validate"):
        assert f"  {name} " in secrets_help.output
    schema = runner.invoke(cli, ["manifest", "schema"])
    assert schema.exit_code == 0, schema.output
    assert json.loads(schema.output)["type"] == "object"


def test_an_unknown_command_is_still_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["secrets", "lst"])
    assert result.exit_code == 2
    assert "No such command 'lst'" in result.output
