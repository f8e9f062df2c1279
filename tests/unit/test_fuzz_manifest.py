"""Fuzzing manifests: whatever a hand-edited ``manifest.yaml`` holds, floe answers with our error.

Three sources of input: arbitrary YAML structures, arbitrary bytes, and the sample manifest with
one field replaced by an arbitrary value (the near misses a user actually writes). Hostile ones
too: YAML aliases and merge keys (bombs of any size, recursive anchors), and Jinja in any field.
The parser either accepts or raises ``InvalidManifestError``; the CLI exits 0, 1 (our error) or 2.
"""

from __future__ import annotations

import copy
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fuzz_strategies import FUZZ, jinja_strings, secret_names, yaml_alias_settings, yaml_values
from hypothesis import event, given
from hypothesis import strategies as st

from floe_dagster_secrets.cli.app import cli
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.manifest.naming import FloeNamingWarning, dotted_path

SAMPLE: dict[str, Any] = {
    "environment": "dev",
    "plugins": {
        "secrets": {"type": "local", "namespace": "floe-jobs", "config": {"path": ".floe/s"}},
        "compute": {
            "type": "duckdb",
            "connection_secret_ref": "duckdb-dev-credentials",
            "config": {"path": "w.duckdb"},
        },
    },
    "ingestion": {
        "pipelines": [
            {
                "name": "salesforce-sync",
                "source": {"type": "salesforce", "secret_refs": {"id": "salesforce-api-secret"}},
            }
        ]
    },
    "secrets": {"duckdb-dev-credentials": {"keys": ["DUCKDB_ENCRYPTION_KEY"], "max_age_days": 9}},
}

_PATHS: list[tuple[str | int, ...]] = [
    ("environment",),
    ("plugins",),
    ("plugins", "secrets"),
    ("plugins", "secrets", "type"),
    ("plugins", "secrets", "namespace"),
    ("plugins", "secrets", "config"),
    ("plugins", "compute", "type"),
    ("plugins", "compute", "connection_secret_ref"),
    ("plugins", "compute", "config"),
    ("ingestion", "pipelines"),
    ("ingestion", "pipelines", 0, "source", "secret_refs"),
    ("ingestion", "pipelines", 0, "source", "secret_refs", "id"),
    ("secrets",),
    ("secrets", "duckdb-dev-credentials", "keys"),
    ("secrets", "duckdb-dev-credentials", "max_age_days"),
    ("secrets", "duckdb-dev-credentials", "on_rotation"),
]
_SETTING_PATHS: list[tuple[str | int, ...]] = [
    ("plugins", "compute", "config", "path"),
    ("plugins", "compute", "config", "schema"),
    ("plugins", "compute", "config", "role"),
    ("plugins", "secrets", "config", "path"),
    ("ingestion", "pipelines", 0, "source", "type"),
]


def mutated(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The sample with the field at ``path`` set to ``value``."""
    document = copy.deepcopy(SAMPLE)
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


def parses_or_our_error(data: Any) -> None:
    """Accepted, or refused with our error; naming-convention warnings are expected output."""
    error: InvalidManifestError | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FloeNamingWarning)
        try:
            parse_manifest(data)
        except InvalidManifestError as e:
            error = e
    event("accepted" if error is None else "refused")
    if error is not None:
        assert "Fix: " in str(error)


@FUZZ
@given(data=yaml_values())
def test_any_structure_parses_or_is_our_error(data: Any) -> None:
    parses_or_our_error(data if isinstance(data, dict) else {"environment": data})
    parses_or_our_error(yaml.safe_dump(data))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_parse_or_are_our_error(raw: bytes) -> None:
    parses_or_our_error(raw)


@FUZZ
@given(path=st.sampled_from(_PATHS), value=st.one_of(yaml_values(), secret_names()))
def test_one_field_wrong_parses_or_is_our_error(path: tuple[str | int, ...], value: Any) -> None:
    parses_or_our_error(mutated(path, value))


@FUZZ
@given(path=st.sampled_from(_PATHS), value=st.one_of(yaml_values(), secret_names()))
def test_cli_validate_with_any_manifest(path: tuple[str | int, ...], value: Any) -> None:
    with tempfile.TemporaryDirectory() as directory:
        manifest = Path(directory) / "manifest.yaml"
        manifest.write_text(yaml.safe_dump(mutated(path, value)))
        for command in (["validate"], ["list"], ["status"]):
            result = CliRunner().invoke(
                cli, ["secrets", *command, "--manifest", str(manifest)], catch_exceptions=True
            )
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                f"{type(result.exception).__name__}: {result.exception}"
            )
            assert result.exit_code in (0, 1, 2)
            event(f"{command[0]} exit {result.exit_code}")
            assert "This is a bug in floe" not in result.stderr
            assert "Traceback" not in result.stdout + result.stderr
            if result.exit_code == 1 and command == ["list"]:
                assert "Fix:" in " ".join(result.stderr.split())


# -- hostile manifests (issue 17) -------------------------------------------------------------

ALIAS_BASE = """\
environment: dev
plugins:
  secrets: {type: local, namespace: floe-jobs, config: {path: .floe/s}}
  compute:
    type: duckdb
    connection_secret_ref: duckdb-dev-credentials
    config:
      path: w.duckdb
"""


@FUZZ
@given(settings=yaml_alias_settings())
def test_aliases_and_merge_keys_parse_or_are_refused_fast(settings: str) -> None:
    started = time.monotonic()
    parses_or_our_error(ALIAS_BASE + settings)
    assert time.monotonic() - started < 5.0  # a bomb of 12**12 values is refused, not expanded


@FUZZ
@given(path=st.sampled_from(_PATHS + _SETTING_PATHS), value=jinja_strings())
def test_jinja_anywhere_is_refused_naming_the_field(
    path: tuple[str | int, ...], value: str
) -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(mutated(path, value))
    message = str(info.value)
    assert "holds Jinja" in message
    assert dotted_path(path) in message
    if len(value) > 3:
        assert value not in message


@FUZZ
@given(settings=yaml_alias_settings(), command=st.sampled_from(["validate", "status"]))
def test_cli_with_alias_manifests(settings: str, command: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        manifest = Path(directory) / "manifest.yaml"
        manifest.write_text(ALIAS_BASE + settings)
        result = CliRunner().invoke(
            cli, ["secrets", command, "--manifest", str(manifest)], catch_exceptions=True
        )
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.exit_code in (0, 1, 2)
        assert "This is a bug in floe" not in result.stderr
        event(f"{command} exit {result.exit_code}")
