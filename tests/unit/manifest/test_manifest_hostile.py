"""Hostile manifests (issue 17): Jinja in settings, alias bombs, cycles, depth, odd files.

Each case ends in ``InvalidManifestError`` naming the field or file, quickly, without quoting
the offending text. Merge keys, which standard YAML allows, are accepted.
"""

from __future__ import annotations

import os
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from manifest_samples import base

from floe_dagster_secrets.env_names import non_portable_keys
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import load_manifest, parse_manifest
from floe_dagster_secrets.manifest.bounds import MAX_DEPTH, MAX_MANIFEST_BYTES, MAX_NODES
from floe_dagster_secrets.manifest.naming import FloeNamingWarning

BASE = textwrap.dedent(
    """\
    environment: dev
    plugins:
      secrets: {type: local, namespace: floe-jobs}
      compute:
        type: duckdb
        connection_secret_ref: duckdb-dev-credentials
        config:
          path: w.duckdb
    """
)


def parse(text: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FloeNamingWarning)
        return parse_manifest(text, source="m.yaml")


def refused(text: str) -> str:
    with pytest.raises(InvalidManifestError) as info:
        parse(text)
    return str(info.value)


# -- Jinja -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("      schema: \"{{ env_var('DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY') }}\"\n", "schema"),
        ("      role: \"{{ modules.os.system('id') }}\"\n", "role"),
        ('      s: {deep: [1, "{% raw %}x"]}\n', "s.deep[1]"),
        ('      c: "a {# comment #} b"\n', "c"),
    ],
)
def test_jinja_in_a_compute_setting_is_refused_naming_the_field(extra: str, path: str) -> None:
    message = refused(BASE + extra)
    assert f"plugins.compute.config.{path}: it holds Jinja ('{{{{', '{{%', '{{#')" in message
    assert "env_var(" not in message
    assert "os.system" not in message


def test_jinja_in_a_setting_key_is_refused_without_repeating_the_key() -> None:
    message = refused(BASE + "      \"{{ env_var('X') }}\": 1\n")
    assert "plugins.compute.config: a key under it holds Jinja" in message
    assert "env_var" not in message


@pytest.mark.parametrize(
    "text",
    [
        BASE.replace("namespace: floe-jobs}", "namespace: floe-jobs, config: {path: '{{x}}'}}"),
        BASE.replace(
            "environment: dev",
            "environment: dev\ningestion: {pipelines: [{name: p, source: {type: '{%x%}'}}]}",
        ),
    ],
)
def test_jinja_anywhere_else_is_refused_too(text: str) -> None:
    assert "holds Jinja" in refused(text)


# -- aliases, merge keys, depth --------------------------------------------------------------


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return BASE + "".join(f"      {line}\n" for line in lines)


def test_alias_bomb_is_refused_in_well_under_a_second() -> None:
    text = _bomb(9)  # ~660 bytes, 9**9 values once expanded
    started = time.monotonic()
    message = refused(text)
    assert time.monotonic() - started < 1.0
    assert f"(yaml): the document expands to more than {MAX_NODES} values" in message
    assert "Fix: a manifest is a few KiB of names" in message


def test_small_alias_use_is_fine() -> None:
    manifest = parse(_bomb(3))  # 9**3 values: a big but possible settings list
    assert len(manifest.plugins.compute.config["a2"]) == 9


def test_recursive_alias_is_refused() -> None:
    assert "alias that refers to a node containing it" in refused(BASE + "      r: &r [*r]\n")


def test_nesting_past_the_depth_limit_is_refused() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert f"more than {MAX_DEPTH} levels deep" in refused(BASE + f"      d: {deep}\n")
    very_deep = "[" * 5000 + "]" * 5000  # the YAML parser itself gives up first
    assert "nested too deeply" in refused(BASE + f"      d: {very_deep}\n")


def test_merge_keys_are_accepted_and_explicit_keys_win() -> None:
    text = textwrap.dedent(
        """\
        environment: dev
        plugins:
          secrets:
            <<: {type: local, namespace: other}
            namespace: floe-jobs
          compute:
            type: duckdb
            connection_secret_ref: duckdb-dev-credentials
            config: &c
              <<: [{path: w.duckdb, threads: 2}, {schema: s}]
              schema: main
        """
    )
    manifest = parse(text)
    assert manifest.plugins.secrets.namespace == "floe-jobs"
    assert manifest.plugins.secrets.type == "local"
    assert manifest.plugins.compute.config == {"path": "w.duckdb", "threads": 2, "schema": "main"}


def test_duplicate_keys_are_still_refused_but_merged_ones_are_not_duplicates() -> None:
    assert "found duplicate key 'path'" in refused(BASE + "      path: again\n")
    shared = textwrap.dedent(
        """\
        environment: dev
        plugins:
          secrets: &s {<<: {type: local}, type: local, namespace: floe-jobs}
          compute:
            type: duckdb
            connection_secret_ref: duckdb-dev-credentials
            config: {path: w.duckdb, copy: {<<: *s, namespace: x}}
        """
    )
    assert parse(shared).plugins.compute.config["copy"]["namespace"] == "x"


def test_python_data_that_shares_or_cycles_is_bounded() -> None:
    row: list[Any] = ["x"] * 9
    for _ in range(8):
        row = [row] * 9  # what an alias bomb loads to: 9**9 values, 80 objects
    data = parse_data_with(settings={"bomb": row})
    assert f"more than {MAX_NODES} values" in data
    cycle: list[Any] = []
    cycle.append(cycle)
    assert "the data" in parse_data_with(settings={"cycle": cycle})


def parse_data_with(settings: dict[str, Any]) -> str:
    document = {
        "environment": "dev",
        "plugins": {
            "compute": {
                "type": "duckdb",
                "connection_secret_ref": "duckdb-dev-credentials",
                "config": {"path": "w.duckdb", **settings},
            }
        },
    }
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(document, source="m")
    return str(info.value)


# -- files -----------------------------------------------------------------------------------


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # nobody writes: opening it for reading would block
    for path, kind in (
        (fifo, "a named pipe"),
        (Path("/dev/zero"), "a character device"),
        (tmp_path, "a directory"),
    ):
        with pytest.raises(InvalidManifestError) as info:
            load_manifest(path)
        assert f"not a regular file (it is {kind})" in str(info.value)
        assert str(path) in str(info.value)


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.write(BASE.encode())
        f.truncate(50 * 1000 * 1000)
    with pytest.raises(InvalidManifestError) as info:
        load_manifest(path)
    assert f"over {MAX_MANIFEST_BYTES} bytes (1 MiB)" in str(info.value)
    assert str(path) in str(info.value)
    with pytest.raises(InvalidManifestError, match="over 1048576 bytes"):
        parse_manifest("#" * (MAX_MANIFEST_BYTES + 1))


# -- Trailing newlines -----------------------------------------------------------------------
# A YAML block scalar (`key: |`) ends in a newline; Python's `$` matches just before one, so a
# pattern checked with `re.match` let such a value through to the backend or the pod spec.


def _vault(**config: str) -> dict[str, Any]:
    doc = base()
    doc["plugins"]["secrets"] = {
        "type": "vault",
        "config": {"address": "https://vault.example.com", "role": "floe", **config},
    }
    return doc


def _eso(**config: str) -> dict[str, Any]:
    doc = base()
    doc["plugins"]["secrets"] = {
        "type": "external-secrets",
        "config": {"store": "aws-secrets-manager", "region": "us-east-1", **config},
    }
    return doc


_PROPERTIES = {"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PASSWORD": "p"}


def _secret_policy(**policy: Any) -> dict[str, Any]:
    doc = base()
    doc["secrets"]["snowflake-dev-credentials"].update(policy)
    return doc


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_secret_policy(keys=["SNOWFLAKE_USER\n"]), "keys[0]"),
        (_secret_policy(assets=["marts/orders\n"]), "assets[0]"),
        (
            _secret_policy(remote={"key": "floe/prod/snowflake\n", "properties": _PROPERTIES}),
            "remote.key",
        ),
        (_vault(address="https://vault.example.com\n"), "address"),
        (_vault(mount_path="kubernetes\n"), "mount_path"),
        (_vault(secret_path_prefix="floe\n/"), "secret_path_prefix"),
        (_eso(refresh_interval="1h\n"), "refresh_interval"),
    ],
)
def test_a_value_with_a_trailing_newline_is_refused(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse(doc)
    assert f"{field}: " in str(info.value)


def test_a_key_with_a_trailing_newline_is_not_a_portable_env_name() -> None:
    assert non_portable_keys(["PASSWORD", "USER\n"]) == ["USER\n"]
