"""Fuzzing ``floe secrets`` through click's CliRunner on the local backend (real files).

Whatever the name, keys and values, the CLI ends in one of three ways: success (and then the value
reads back exactly), our error (exit 1, ``Error: … Fix: …`` on stderr), or a usage error (exit 2).
Never a traceback, never the "unexpected … this is a bug" line of the last-resort handler, and
never a value in the output of a command that does not reveal.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from click.testing import CliRunner, Result
from fuzz_strategies import (
    FUZZ,
    bare_tokens,
    hostile_store_contents,
    hostile_store_file_kinds,
    payloads,
    secret_keys,
    secret_names,
    secret_values,
)
from hypothesis import event, given
from hypothesis import strategies as st

from floe_dagster_secrets.backends import validation
from floe_dagster_secrets.cli.app import cli
from floe_dagster_secrets.cli.values import parse_literals
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.masking import get_masker

MANIFEST = textwrap.dedent(
    """\
    environment: dev
    plugins:
      secrets:
        type: local
        namespace: floe-jobs
        config: {path: .floe/secrets}
      compute:
        type: duckdb
        connection_secret_ref: duckdb-dev-credentials
        config: {path: warehouse.duckdb}
    """
)
BUG = "This is a bug in floe"


@contextmanager
def project() -> Iterator[Path]:
    """A fresh project directory with a manifest on the local backend (per example)."""
    get_masker().clear()
    with tempfile.TemporaryDirectory() as directory:
        manifest = Path(directory) / "manifest.yaml"
        manifest.write_text(MANIFEST)
        yield manifest
    get_masker().clear()


def floe(manifest: Path, command: str, *args: str, stdin: bytes | None = None) -> Result:
    """``floe secrets <command> <args>`` in-process; exceptions are captured, not raised."""
    return CliRunner().invoke(
        cli,
        ["secrets", command, "--manifest", str(manifest), *args],
        input=stdin,
        catch_exceptions=True,
    )


def acceptable(name: str, literal: str) -> bool:
    """Whether the backend's own rules accept this secret (the oracle for the round trip)."""
    try:
        data = parse_literals([literal])
        validation.check_secret_name(name, "floe-jobs", backend="local")
        validation.check_secret_data(name, "floe-jobs", data, backend="local")
    except (FloeSecretsError, click.ClickException):
        return False
    return True


def assert_clean_exit(result: Result, *, secrets: Sequence[str] = ()) -> None:
    """Exit 0, 1 with our error, or 2 (usage); no traceback; no secret in the output."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert result.exit_code in (0, 1, 2), result.exit_code
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert BUG not in output, result.stderr
    if result.exit_code == 1:
        assert "Error: " in result.stderr
        assert "Fix: " in result.stderr or "Fix:" in " ".join(result.stderr.split())
    for value in secrets:
        if len(value) >= 12 and value.strip() and value not in MANIFEST:
            assert value not in output


@FUZZ
@given(name=secret_names(), key=secret_keys(), value=secret_values())
def test_create_get_round_trip_or_our_error(name: str, key: str, value: str) -> None:
    with project() as manifest:
        literal = f"{key}={value}"
        created = floe(manifest, "create", "--from-literal", literal, "--", name)
        assert_clean_exit(created, secrets=[value] if value not in name + key else [])
        assert (created.exit_code == 0) == acceptable(name, literal), created.stderr
        event(f"create exit {created.exit_code}")
        if created.exit_code != 0 or "=" in key:
            return
        read = floe(manifest, "get", "--key", key, "--reveal", "--force", "--", name)
        assert_clean_exit(read)
        assert read.exit_code == 0
        assert read.stdout == f"{value}\n"
        listed = floe(manifest, "list")
        assert_clean_exit(listed, secrets=[value] if value not in name + key else [])
        if not value.strip() or value not in name:  # a name holding the value is masked too
            assert name in listed.stdout


@FUZZ
@given(name=secret_names(), key=secret_keys(), old=secret_values(), new=secret_values())
def test_rotate_keeps_other_keys_or_fails_with_our_error(
    name: str, key: str, old: str, new: str
) -> None:
    with project() as manifest:
        created = floe(manifest, "create", "--from-literal", f"KEEP={old}", "--", name)
        assert_clean_exit(created)
        rotated = floe(manifest, "rotate", "--from-literal", f"{key}={new}", "--", name)
        event(f"create {created.exit_code} rotate {rotated.exit_code}")
        shown = [v for v in (old, new) if v not in name + key]
        assert_clean_exit(rotated, secrets=shown)
        if created.exit_code == 0 and rotated.exit_code == 0:
            kept = floe(manifest, "get", "--key", "KEEP", "--reveal", "--force", "--", name)
            assert kept.stdout == f"{old if key != 'KEEP' else new}\n"


@FUZZ
@given(name=st.sampled_from(["stdin-secret", "bad name"]), payload=payloads())
def test_create_from_stdin_any_bytes(name: str, payload: bytes) -> None:
    with project() as manifest:
        result = floe(manifest, "create", "--from-stdin", "--", name, stdin=payload)
        assert_clean_exit(result)
        event(f"exit {result.exit_code}")


@FUZZ
@given(payload=payloads())
def test_create_from_env_file_any_bytes(payload: bytes) -> None:
    with project() as manifest:
        env_file = manifest.parent / "creds.env"
        env_file.write_bytes(payload)
        result = floe(manifest, "create", "--from-env-file", str(env_file), "--", "file-secret")
        assert_clean_exit(result)
        event(f"exit {result.exit_code}")


@FUZZ
@given(name=secret_names(), key=secret_keys())
def test_reading_what_does_not_exist_is_our_error(name: str, key: str) -> None:
    with project() as manifest:
        for args in (
            ("get", "--", name),
            ("get", "--key", key, "--reveal", "--force", "--", name),
            ("rotate", "--from-literal", f"{key}=x", "--", name),
        ):
            result = floe(manifest, *args)
            assert_clean_exit(result)
            assert result.exit_code != 0


def test_keys_that_envfrom_may_skip_are_written_with_a_warning() -> None:
    with project() as manifest:
        result = floe(
            manifest,
            "create",
            "--from-literal",
            "db.password=s3cr3t-value-1234",
            "--from-literal",
            "1KEY=x",
            "--from-literal",
            "GOOD_KEY=y",
            "--",
            "odd-keys",
        )
        assert result.exit_code == 0, result.stderr
        warning = " ".join(result.stderr.split())
        assert "Warning: Secret 'odd-keys' in namespace 'floe-jobs' has key(s) '1KEY', " in warning
        assert "'db.password' that are not portable environment variable names" in warning
        assert "GOOD_KEY" not in warning
        assert "Fix: rename them" in warning
        assert "s3cr3t-value-1234" not in result.stdout + result.stderr
        assert "Warning" not in result.stdout  # stdout stays parseable

        rotated = floe(manifest, "rotate", "--from-literal", "api-key=z", "--", "odd-keys")
        assert rotated.exit_code == 0, rotated.stderr
        assert "'api-key'" in rotated.stderr


# -- hostile store files (issue 17) -----------------------------------------------------------

GOOD_VALUE = "good-value-7c1e9a3b5d"


def plant(ns_dir: Path, kind: str, contents: bytes) -> None:
    """Put ``contents`` at ``bad-secret.json`` the hostile way ``kind`` names."""
    target = ns_dir / "bad-secret.json"
    target.unlink(missing_ok=True)
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target, 0o600)
    elif kind == "symlink":
        (ns_dir.parent / "elsewhere.json").write_bytes(contents)
        target.symlink_to(ns_dir.parent / "elsewhere.json")
    elif kind == "stale-tmp":  # a crash between fsync and rename: the value sits in a .tmp file
        (ns_dir / ".floe-crashed.tmp").write_bytes(contents)
        os.chmod(ns_dir / ".floe-crashed.tmp", 0o600)
    else:
        target.write_bytes(contents)
        os.chmod(target, 0o600 if kind in ("other-owner", "0600") else int(kind, 8))
        if kind == "other-owner" and os.geteuid() == 0:  # only root can give a file away
            os.chown(target, 4242, 4242)


@FUZZ
@given(contents=hostile_store_contents(), kind=hostile_store_file_kinds())
def test_hostile_store_file_never_breaks_the_namespace(contents: bytes, kind: str) -> None:
    with project() as manifest:
        created = floe(manifest, "create", "--from-literal", f"A={GOOD_VALUE}", "--", "good")
        assert created.exit_code == 0, created.stderr
        ns_dir = manifest.parent / ".floe" / "secrets" / "floe-jobs"
        plant(ns_dir, kind, contents)
        event(kind)

        for command in ("list", "status"):
            result = floe(manifest, command)
            assert_clean_exit(result, secrets=[GOOD_VALUE])
            assert result.exit_code == 0, result.stderr
            assert "good" in result.stdout
        if kind == "stale-tmp":
            assert not (ns_dir / ".floe-crashed.tmp").exists()
        for args in (
            ("get", "--", "bad-secret"),
            ("get", "--reveal", "--force", "--", "bad-secret"),
            ("rotate", "--from-literal", "B=x", "--", "bad-secret"),
        ):
            assert_clean_exit(floe(manifest, *args))
        read = floe(manifest, "get", "--key", "A", "--reveal", "--force", "--", "good")
        assert read.stdout == f"{GOOD_VALUE}\n"


@FUZZ
@given(token=bare_tokens(), source=st.sampled_from(["--from-stdin", "--from-env-file"]))
def test_a_bare_token_never_becomes_a_key_name_and_is_never_echoed(token: str, source: str) -> None:
    with project() as manifest:
        args: tuple[str, ...] = (source,)
        if source == "--from-env-file":
            (manifest.parent / "token.env").write_text(token + "\n")
            args = (source, str(manifest.parent / "token.env"))
        result = floe(manifest, "create", *args, "--", "tok", stdin=(token + "\n").encode())
        assert_clean_exit(result)
        assert result.exit_code == 1  # a token alone is never KEY=VALUE
        for part in {token, token.rstrip("="), token.partition("=")[0]} - {""}:
            if len(part) >= 6:
                assert part not in result.stdout + result.stderr
        assert "tok" not in floe(manifest, "list").stdout
