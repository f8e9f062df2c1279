"""``floe secrets …`` through click's CliRunner on the local backend in a temporary directory."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_samples import CANARY, CANARY_2, Run

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.cli import output as output_module

NS = "floe-jobs"
DUCKDB = "duckdb-dev-credentials"
SALESFORCE = "salesforce-dev-credentials"


@pytest.fixture
def no_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn the masker off for CLI output, so a test sees any value the code itself prints."""
    monkeypatch.setattr(output_module, "redact", lambda text: text)


def store(workdir: Path) -> LocalSecretsPlugin:
    return LocalSecretsPlugin(path=workdir / ".floe" / "secrets")


def create_all(run: Run) -> None:
    assert run("secrets", "create", DUCKDB, "--from-literal", f"DUCKDB_ENCRYPTION_KEY={CANARY}")
    result = run(
        "secrets",
        "create",
        SALESFORCE,
        "--from-stdin",
        input=f"CLIENT_ID=client\nCLIENT_SECRET={CANARY}\n",
    )
    assert result.exit_code == 0, result.output


def everything(result: object) -> str:
    return f"{getattr(result, 'stdout', '')}{getattr(result, 'stderr', '')}"


# -- create ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_redaction")
def test_create_from_stdin_reports_keys_never_values(run: Run, workdir: Path) -> None:
    result = run(
        "secrets",
        "create",
        SALESFORCE,
        "--from-stdin",
        input=f'# comment\nexport CLIENT_ID=abc\nCLIENT_SECRET="{CANARY} #1"\n',
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"✓ Secret {SALESFORCE} created in local store (namespace {NS}, 2 keys)\n"
    )
    assert CANARY not in everything(result)
    data = store(workdir).get_secret(SALESFORCE, NS)
    assert data["CLIENT_SECRET"].reveal() == f"{CANARY} #1"
    path = workdir / ".floe" / "secrets" / NS / f"{SALESFORCE}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (workdir / ".floe" / "secrets" / ".gitignore").exists()


@pytest.mark.usefixtures("no_redaction")
def test_create_from_env_file_and_literals_combined(run: Run, workdir: Path) -> None:
    env_file = workdir / "creds.env"
    env_file.write_text(f"CLIENT_SECRET={CANARY}\n")
    result = run(
        "secrets",
        "create",
        SALESFORCE,
        "--from-env-file",
        str(env_file),
        "--from-literal",
        "CLIENT_ID=abc",
        "--output",
        "json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["keys"] == ["CLIENT_ID", "CLIENT_SECRET"]
    assert document["version"] == "1"
    assert CANARY not in everything(result)


def test_create_needs_values_and_refuses_duplicates(run: Run) -> None:
    result = run("secrets", "create", SALESFORCE)
    assert result.exit_code == 2
    assert "no values given" in result.stderr
    result = run(
        "secrets",
        "create",
        SALESFORCE,
        "--from-literal",
        "A=1",
        "--from-stdin",
        input="A=2\n",
    )
    assert result.exit_code == 2
    assert "A is given by both" in result.stderr
    result = run("secrets", "create", SALESFORCE, "--from-stdin", input="# nothing here\n\n")
    assert result.exit_code == 2
    assert "--from-stdin gave no KEY=VALUE line (only blank lines or comments)" in result.stderr


@pytest.mark.usefixtures("no_redaction")
def test_malformed_literal_is_a_usage_error_that_does_not_echo_it(run: Run) -> None:
    result = run("secrets", "create", SALESFORCE, "--from-literal", CANARY)
    assert result.exit_code == 2
    assert "not KEY=VALUE" in result.stderr
    assert CANARY not in everything(result)


@pytest.mark.usefixtures("no_redaction")
def test_malformed_env_file_names_the_line_not_its_content(run: Run, workdir: Path) -> None:
    env_file = workdir / "bad.env"
    env_file.write_text(f"GOOD=1\n{CANARY}\n")
    result = run("secrets", "create", SALESFORCE, "--from-env-file", str(env_file))
    assert result.exit_code == 1
    assert "Line 2 of" in result.stderr
    assert str(env_file) in result.stderr
    assert CANARY not in everything(result)
    assert "Traceback" not in everything(result)


def test_create_existing_secret_is_exit_1_with_fix(run: Run) -> None:
    create_all(run)
    result = run("secrets", "create", DUCKDB, "--from-literal", "X=1")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "already exists" in result.stderr
    assert f"floe secrets rotate {DUCKDB}" in result.stderr


@pytest.mark.usefixtures("no_redaction")
def test_invalid_values_and_names_are_clear_errors(run: Run, workdir: Path) -> None:
    env_file = workdir / "binary.env"
    env_file.write_bytes(b"BLOB=" + CANARY.encode() + b"\xff\xfe\n")
    result = run("secrets", "create", "bin", "--from-env-file", str(env_file))
    assert result.exit_code == 1
    assert "key 'BLOB' is not valid UTF-8" in result.stderr
    assert CANARY not in everything(result)
    result = run("secrets", "create", "Bad_Name", "--from-literal", "A=1")
    assert result.exit_code == 1
    assert "not a valid secret name" in result.stderr
    result = run("secrets", "create", "big", "--from-stdin", input="K=" + "x" * (1024 * 1024 + 1))
    assert result.exit_code == 1
    assert "1 MiB" in result.stderr
    assert not (workdir / ".floe" / "secrets" / NS / "bin.json").exists()


# -- list -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_redaction")
def test_list_is_a_name_type_age_table(run: Run) -> None:
    create_all(run)
    result = run("secrets", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "AGE"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [DUCKDB, "Opaque"],
        [SALESFORCE, "Opaque"],
    ]
    assert all(line.split()[2].endswith("s") for line in lines[1:])
    # Columns are aligned: TYPE starts at the same offset on every line.
    assert len({line.index("TYPE" if i == 0 else "Opaque") for i, line in enumerate(lines)}) == 1
    assert CANARY not in everything(result)


@pytest.mark.usefixtures("no_redaction")
def test_list_json_is_metadata(run: Run) -> None:
    create_all(run)
    result = run("secrets", "list", "--output", "json")
    assert result.exit_code == 0
    documents = json.loads(result.stdout)
    assert [d["name"] for d in documents] == [DUCKDB, SALESFORCE]
    assert documents[1]["keys"] == ["CLIENT_ID", "CLIENT_SECRET"]
    assert {"namespace", "backend", "type", "version", "created", "updated"} <= set(documents[0])
    assert CANARY not in result.stdout


def test_list_empty_namespace_and_other_namespace(run: Run) -> None:
    result = run("secrets", "list")
    assert result.stdout == f"No secrets found in namespace {NS}.\n"
    assert run("secrets", "create", "x", "-n", "other", "--from-literal", "A=1").exit_code == 0
    assert "No secrets found" in run("secrets", "list").stdout
    assert run("secrets", "list", "--namespace", "other").stdout.splitlines()[1].startswith("x ")
    assert json.loads(run("secrets", "list", "-o", "json").stdout) == []


def test_without_manifest_backend_option_is_enough(run: Run, workdir: Path) -> None:
    (workdir / "manifest.yaml").unlink()
    result = run("secrets", "list")
    assert result.exit_code == 1
    assert "no --backend given" in result.stderr
    result = run(
        "secrets", "create", "x", "--backend", "local", "--store-path", "s", "--from-literal", "A=1"
    )
    assert result.exit_code == 0, result.output
    assert (workdir / "s" / "floe-jobs" / "x.json").exists()
    assert "x " in run("secrets", "list", "--backend", "local", "--store-path", "s").stdout


def test_store_path_overrides_the_manifest(run: Run, workdir: Path) -> None:
    result = run("secrets", "create", "x", "--store-path", "elsewhere", "--from-literal", "A=1")
    assert result.exit_code == 0
    assert (workdir / "elsewhere" / NS / "x.json").exists()
    assert not (workdir / ".floe").exists()


def test_option_for_another_backend_is_a_usage_error(run: Run) -> None:
    result = run("secrets", "list", "--context", "kind-dev")
    assert result.exit_code == 2
    assert "--context does not apply to the 'local' backend" in result.stderr


def test_unknown_backend_is_exit_1_naming_installed_ones(run: Run) -> None:
    result = run("secrets", "list", "--backend", "nope")
    assert result.exit_code == 1
    assert "No secrets backend named 'nope'" in result.stderr
    assert "local" in result.stderr


def test_invalid_manifest_is_exit_1_naming_the_file(run: Run, workdir: Path) -> None:
    (workdir / "broken.yaml").write_text("environment: [\n")
    result = run("secrets", "list", "--manifest", "broken.yaml")
    assert result.exit_code == 1
    assert "broken.yaml" in result.stderr
    assert "Traceback" not in everything(result)
    result = run("secrets", "list", "--manifest", "missing.yaml")
    assert result.exit_code == 1
    assert "missing.yaml" in result.stderr


def test_usage_errors_exit_2(run: Run) -> None:
    assert run("secrets", "list", "--output", "yaml").exit_code == 2
    assert run("secrets", "nope").exit_code == 2
    assert run("secrets", "get").exit_code == 2


# -- validate -------------------------------------------------------------------------------


def test_validate_reports_missing_secret_like_the_adr(run: Run) -> None:
    run("secrets", "create", DUCKDB, "--from-literal", f"DUCKDB_ENCRYPTION_KEY={CANARY}")
    result = run("secrets", "validate")
    assert result.exit_code == 1
    assert result.stdout == (
        "Validating secret references in manifest.yaml...\n"
        f"✓ {DUCKDB}: exists, 1 key\n"
        f"✗ {SALESFORCE}: NOT FOUND\n"
        "\n"
        f"1 error found. Run 'floe secrets create {SALESFORCE}' to fix.\n"
    )


def test_validate_all_good_exits_0(run: Run) -> None:
    create_all(run)
    result = run("secrets", "validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "All 2 secret references are valid."
    assert CANARY not in everything(result)


def test_validate_missing_keys_and_plural_errors(run: Run) -> None:
    run("secrets", "create", DUCKDB, "--from-literal", "OTHER=1")
    run("secrets", "create", SALESFORCE, "--from-literal", "CLIENT_ID=1")
    result = run("secrets", "validate", "--namespace", NS)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"✗ {DUCKDB}: missing key DUCKDB_ENCRYPTION_KEY" in lines
    assert f"✗ {SALESFORCE}: missing key CLIENT_SECRET" in lines
    assert lines[-1].startswith("2 errors found. Run 'floe secrets rotate ")
    assert f"--namespace {NS}" in lines[-1]


def test_validate_json(run: Run) -> None:
    run("secrets", "create", SALESFORCE, "--from-literal", "CLIENT_ID=1")
    result = run("secrets", "validate", "-o", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert document["errors"] == 2
    by_name = {ref["name"]: ref for ref in document["references"]}
    assert by_name[DUCKDB]["status"] == "NOT FOUND"
    assert by_name[DUCKDB]["required_keys"] == ["DUCKDB_ENCRYPTION_KEY"]
    assert by_name[SALESFORCE]["missing_keys"] == ["CLIENT_SECRET"]
    assert by_name[SALESFORCE]["field_path"].startswith("ingestion.pipelines[0]")


def test_validate_reports_loose_permissions_as_error(run: Run, workdir: Path) -> None:
    create_all(run)
    os.chmod(workdir / ".floe" / "secrets" / NS / f"{DUCKDB}.json", 0o644)
    result = run("secrets", "validate")
    assert result.exit_code == 1
    assert "chmod 600" in result.stdout


# -- status ---------------------------------------------------------------------------------


def test_status_table_marks_missing_references(run: Run) -> None:
    run("secrets", "create", DUCKDB, "--from-literal", "DUCKDB_ENCRYPTION_KEY=1")
    run("secrets", "rotate", DUCKDB, "--from-literal", "DUCKDB_ENCRYPTION_KEY=2")
    result = run("secrets", "status")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "VERSION", "AGE"]
    assert lines[1].split()[:3] == [DUCKDB, "Opaque", "2"]
    assert lines[2].split() == [SALESFORCE, "<missing>", "-", "-"]
    assert f"✗ {SALESFORCE}: referenced by the manifest but NOT FOUND" in lines


def test_status_flags_secrets_older_than_their_policy(run: Run, workdir: Path) -> None:
    create_all(run)
    path = workdir / ".floe" / "secrets" / NS / f"{SALESFORCE}.json"
    document = json.loads(path.read_text())
    document["updated"] = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    path.write_text(json.dumps(document))
    result = run("secrets", "status", "-o", "json")
    assert json.loads(result.stdout)["stale"] == [SALESFORCE]
    result = run("secrets", "status")
    assert f"! {SALESFORCE}: current version is 40d old, over its max_age_days of 30" in (
        result.stdout
    )


# -- rotate ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_redaction")
def test_rotate_prints_the_adr_lines_and_merges(run: Run, workdir: Path) -> None:
    create_all(run)
    result = run("secrets", "rotate", SALESFORCE, "--from-stdin", input=f"CLIENT_SECRET={CANARY_2}")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Rotating secret: {SALESFORCE}\n"
        "✓ Secret updated in local store (version 2)\n"
        "Rotation complete.\n"
    )
    data = store(workdir).get_secret(SALESFORCE, NS)
    assert data["CLIENT_SECRET"].reveal() == CANARY_2
    assert data["CLIENT_ID"].reveal() == "client"
    assert CANARY_2 not in everything(result)


@pytest.mark.usefixtures("no_redaction")
def test_rotate_generate_makes_random_values_of_the_asked_length(run: Run, workdir: Path) -> None:
    create_all(run)
    result = run("secrets", "rotate", DUCKDB, "--generate", "DUCKDB_ENCRYPTION_KEY:48")
    assert result.exit_code == 0, result.output
    value = store(workdir).get_secret(DUCKDB, NS)["DUCKDB_ENCRYPTION_KEY"].reveal()
    assert len(value) == 48
    assert value != CANARY
    assert value not in everything(result)
    assert "Generated new values for DUCKDB_ENCRYPTION_KEY" in result.stdout
    again = run("secrets", "rotate", DUCKDB, "--generate", "DUCKDB_ENCRYPTION_KEY", "-o", "json")
    document = json.loads(again.stdout)
    assert document["version"] == "3"
    assert document["generated_keys"] == ["DUCKDB_ENCRYPTION_KEY"]
    new_value = store(workdir).get_secret(DUCKDB, NS)["DUCKDB_ENCRYPTION_KEY"].reveal()
    assert len(new_value) == 32
    assert new_value != value


def test_rotate_missing_secret_and_bad_generate(run: Run) -> None:
    result = run("secrets", "rotate", "nope", "--generate", "K")
    assert result.exit_code == 1
    assert "floe secrets create nope" in result.stderr
    assert run("secrets", "rotate", "nope", "--generate", "K:3").exit_code == 2
    assert run("secrets", "rotate", "nope", "--generate", "K:x").exit_code == 2
    assert run("secrets", "rotate", "nope").exit_code == 2


# -- get ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_redaction")
def test_get_without_reveal_shows_keys_only(run: Run) -> None:
    create_all(run)
    result = run("secrets", "get", SALESFORCE)
    assert result.exit_code == 0
    assert "Keys:      CLIENT_ID, CLIENT_SECRET" in result.stdout
    assert "Version:   1" in result.stdout
    assert CANARY not in everything(result)
    document = json.loads(run("secrets", "get", SALESFORCE, "-o", "json").stdout)
    assert "data" not in document
    assert CANARY not in json.dumps(document)


def test_get_reveal_refuses_a_pipe_without_force(run: Run) -> None:
    create_all(run)
    result = run("secrets", "get", SALESFORCE, "--reveal")
    assert result.exit_code == 2
    assert "not a terminal" in result.stderr
    assert CANARY not in everything(result)
    assert run("secrets", "get", SALESFORCE, "--force").exit_code == 2


def test_get_reveal_force_prints_dotenv_that_reads_back(run: Run, workdir: Path) -> None:
    tricky = f'{CANARY} "quoted" #hash\nsecond line'
    run("secrets", "create", "tricky", "--from-literal", f"A={tricky}", "--from-literal", "B=x")
    result = run("secrets", "get", "tricky", "--reveal", "--force")
    assert result.exit_code == 0
    assert CANARY in result.stdout  # the one command that prints values
    (workdir / "copy.env").write_text(result.stdout)
    assert run("secrets", "create", "copy", "--from-env-file", "copy.env").exit_code == 0
    assert store(workdir).get_secret("copy", NS)["A"].reveal() == tricky
    raw = run("secrets", "get", "tricky", "--reveal", "--force", "--key", "A")
    assert raw.stdout == tricky + "\n"
    revealed = json.loads(
        run("secrets", "get", "tricky", "--reveal", "--force", "-o", "json").stdout
    )
    assert revealed["data"] == {"A": tricky, "B": "x"}


def test_get_unknown_key_and_unknown_secret(run: Run) -> None:
    create_all(run)
    result = run("secrets", "get", SALESFORCE, "--key", "NOPE")
    assert result.exit_code == 1
    assert "has no key 'NOPE' (it has: CLIENT_ID, CLIENT_SECRET)" in result.stderr
    result = run("secrets", "get", "nope")
    assert result.exit_code == 1
    assert "Secret 'nope' does not exist" in result.stderr


# -- masking and the last line of defence --------------------------------------------------


def test_unexpected_exception_is_one_redacted_line(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from floe_dagster_secrets.masking import get_masker

    get_masker().register(CANARY)

    def boom(self: object, namespace: str) -> list[object]:
        raise RuntimeError(f"backend said\n{CANARY}")

    monkeypatch.setattr(LocalSecretsPlugin, "list_secrets", boom)
    result = run("secrets", "list")
    assert result.exit_code == 1
    assert "Traceback" not in everything(result)
    assert CANARY not in everything(result)
    assert result.stderr.count("\n") == 1
    assert "unexpected RuntimeError: backend said ***" in result.stderr


def test_manifest_warnings_go_to_stderr_and_strict_makes_them_errors(
    run: Run, workdir: Path
) -> None:
    text = (workdir / "manifest.yaml").read_text().replace(DUCKDB, "duckdb-creds")
    (workdir / "m2.yaml").write_text(text)
    result = run("secrets", "validate", "--manifest", "m2.yaml")
    assert result.exit_code == 1
    assert "Warning: m2.yaml: plugins.compute.connection_secret_ref" in result.stderr
    assert "✗ duckdb-creds: NOT FOUND" in result.stdout
    assert "'floe secrets create duckdb-creds --manifest m2.yaml'" in result.stdout
    result = run("secrets", "validate", "--manifest", "m2.yaml", "--strict")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Error: m2.yaml is not a valid manifest" in result.stderr


def test_plugin_is_closed_after_the_command(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    monkeypatch.setattr(LocalSecretsPlugin, "close", lambda self: closed.append(self.name))
    assert run("secrets", "list").exit_code == 0
    assert run("secrets", "get", "nope").exit_code == 1
    assert closed == ["local", "local"]


def test_manifest_store_path_is_relative_to_the_manifest(
    run: Run, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run(
        "secrets", "create", "x", "--manifest", "../manifest.yaml", "--from-literal", "A=1"
    )
    assert result.exit_code == 0, result.output
    assert (workdir / ".floe" / "secrets" / NS / "x.json").exists()
    assert not (elsewhere / ".floe").exists()
