"""``floe secrets list|status|create|validate|rotate`` with ``type: vault``, as real processes.

The CLI finds the Vault backend through the ``floe.secrets`` entry point, like any other backend;
what it reports is checked against OpenBao's own API, and no value or token reaches its output.
"""

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_samples import run_floe as floe
from tests.integration.cli_samples import write_sample_manifest
from tests.integration.vault_helpers import unique
from tests.servers import OpenBaoServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NS = "floe-jobs"


def write_manifest(directory: Path, address: str, prefix: str) -> None:
    """The sample project on OpenBao: token auth from $FLOE_TEST_VAULT_TOKEN, under ``prefix``."""
    config = {
        "address": address,
        "auth_method": "token",
        "token_env": "FLOE_TEST_VAULT_TOKEN",
        "secret_path_prefix": prefix,
    }
    write_sample_manifest(directory, {"type": "vault", "namespace": NS, "config": config})


def test_floe_secrets_commands_against_openbao(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    prefix = f"{unique('cli')}/"
    write_manifest(tmp_path, openbao_server.address, prefix)
    env = {"FLOE_TEST_VAULT_TOKEN": openbao_server.root_token}
    canary = f"canary{secrets.token_hex(12)}"
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = floe("secrets", *args, cwd=tmp_path, env=env)
        outputs.append(result.stdout + result.stderr)
        return result

    created = run(
        "create", "duckdb-dev-credentials", "--from-literal", f"DUCKDB_ENCRYPTION_KEY={canary}"
    )
    assert created.returncode == 0, created.stderr

    invalid = run("validate")
    assert invalid.returncode == 1
    assert "salesforce-dev-credentials" in invalid.stdout + invalid.stderr

    created = run(
        "create",
        "salesforce-dev-credentials",
        "--from-literal",
        f"CLIENT_ID=id-{canary}",
        "--from-literal",
        f"CLIENT_SECRET=s-{canary}",
    )
    assert created.returncode == 0, created.stderr
    valid = run("validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr

    rotated = run("rotate", "duckdb-dev-credentials", "--generate", "DUCKDB_ENCRYPTION_KEY")
    assert rotated.returncode == 0, rotated.stderr

    listed = run("list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    by_name = {item["name"]: item for item in json.loads(listed.stdout)}
    assert set(by_name) == {"duckdb-dev-credentials", "salesforce-dev-credentials"}
    for name, item in by_name.items():
        meta = openbao_server.request("GET", f"secret/metadata/{prefix}{NS}/{name}")["data"]
        assert item["version"] == str(meta["current_version"])
        assert item["backend"] == "vault"
    assert by_name["duckdb-dev-credentials"]["version"] == "2"
    assert by_name["salesforce-dev-credentials"]["keys"] == ["CLIENT_ID", "CLIENT_SECRET"]

    status = run("status")
    assert status.returncode == 0, status.stderr
    assert "duckdb-dev-credentials" in status.stdout

    rotated_value = openbao_server.request(
        "GET", f"secret/data/{prefix}{NS}/duckdb-dev-credentials"
    )["data"]["data"]["DUCKDB_ENCRYPTION_KEY"]
    for text in outputs:
        assert canary not in text
        assert rotated_value not in text
        assert openbao_server.root_token not in text


def test_floe_secrets_with_a_bad_token_is_a_clear_error(
    openbao_server: OpenBaoServer, tmp_path: Path
) -> None:
    write_manifest(tmp_path, openbao_server.address, f"{unique('cli')}/")
    bad = f"s.bad{secrets.token_hex(10)}"
    result = floe("secrets", "list", cwd=tmp_path, env={"FLOE_TEST_VAULT_TOKEN": bad})
    assert result.returncode == 1
    text = result.stdout + result.stderr
    assert "$FLOE_TEST_VAULT_TOKEN" in text
    assert bad not in text
    missing = floe("secrets", "list", cwd=tmp_path, env={})
    assert missing.returncode == 1
    assert "FLOE_TEST_VAULT_TOKEN" in missing.stdout + missing.stderr
