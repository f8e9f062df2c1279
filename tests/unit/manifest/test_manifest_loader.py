"""Loading files, YAML failures, the JSON Schema, and arbitrary input never escaping our error."""

from __future__ import annotations

import contextlib
import io
import json
import runpy
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from manifest_samples import ADR_EXAMPLE, GOOD, base

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import (
    FloeNamingWarning,
    load_manifest,
    manifest_json_schema,
    parse_manifest,
    write_json_schema,
)

YAML_FIX = "Fix: correct the YAML syntax of {source} at the line and column given"


def test_load_manifest_from_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(base()))
    manifest = load_manifest(path)
    assert manifest == parse_manifest(base())
    assert load_manifest(str(path), strict=True) == manifest


def test_load_manifest_strict_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(ADR_EXAMPLE)
    with pytest.raises(InvalidManifestError) as info:
        load_manifest(path, strict=True)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path} is not a valid manifest, 3 problems:")


def test_warnings_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "team" / "manifest.yaml"
    path.parent.mkdir()
    path.write_text(ADR_EXAMPLE)
    with pytest.warns(FloeNamingWarning) as record:
        load_manifest(path)
    assert len(record) == 3
    assert all(str(w.message).startswith(f"{path}: ") for w in record)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(InvalidManifestError) as info:
        load_manifest(path)
    assert str(info.value) == (
        f"manifest file not found (path '{path}'). Fix: create it (see ADR-0023's configuration "
        "schema) or pass the right path"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidManifestError, match=r"not a regular file \(it is a directory\)"):
        load_manifest(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_bytes(b"environment: \xff\xfe\n")
    with pytest.raises(InvalidManifestError) as info:
        load_manifest(path)
    assert (
        info.value.problem
        == f"{path} is not a valid manifest, 1 problem:\n  (top level): not UTF-8 text\n"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "environment: dev\nplugins: [1\n  password: hunter2\n",
            "(yaml): line 3, column 11: expected ',' or ']', but got ':' (while parsing a flow "
            "sequence)",
        ),
        (
            "environment: dev\nenvironment: prod\n",
            "(yaml): line 2, column 1: found duplicate key 'environment' (while constructing a "
            "mapping)",
        ),
        ("environment: !vault hunter2\n", None),
        ("\tenvironment: dev\n", None),
    ],
)
def test_bad_yaml_reports_line_not_content(text: str, problem: str | None) -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(text, source="m.yaml")
    lines = info.value.problem.splitlines()
    assert lines[0] == "m.yaml is not a valid manifest, 1 problem:"
    assert lines[1].startswith("  (yaml): line ")
    if problem is not None:
        assert lines[1] == f"  {problem}"
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert YAML_FIX.format(source="m.yaml") in str(info.value)


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("", "the manifest is empty"),
        ("# only a comment\n", "the manifest is empty"),
        (
            "- environment: dev\n",
            "must be a mapping with environment, plugins, ingestion and secrets, not a list",
        ),
        (
            "just text",
            "must be a mapping with environment, plugins, ingestion and secrets, not a str",
        ),
        ("42", "must be a mapping with environment, plugins, ingestion and secrets, not a int"),
    ],
)
def test_not_a_mapping(doc: str, problem: str) -> None:
    with pytest.raises(InvalidManifestError) as info:
        parse_manifest(doc)
    assert info.value.problem.splitlines()[1] == f"  (top level): {problem}"


def test_bytes_and_mappings_are_accepted() -> None:
    text = yaml.safe_dump(base())
    assert parse_manifest(text.encode()) == parse_manifest(base()) == parse_manifest(text)


# --- JSON Schema -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = manifest_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("doc", [*GOOD.values(), ADR_EXAMPLE], ids=[*GOOD.keys(), "adr-example"])
def test_json_schema_accepts_good_manifests(
    validator: jsonschema.Draft202012Validator, doc: dict[str, Any] | str
) -> None:
    data = yaml.safe_load(doc) if isinstance(doc, str) else doc
    assert list(validator.iter_errors(data)) == []


def _schema_doc(*path_value: tuple[tuple[str, ...], Any]) -> dict[str, Any]:
    doc = base()
    for path, value in path_value:
        target = doc
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (_schema_doc((("plugins", "compute", "type"), "mysql")), ["plugins", "compute", "type"]),
        (_schema_doc((("surprise",), 1)), []),
        (
            _schema_doc((("plugins", "compute", "connection_secret_ref"), "Bad_Name")),
            ["plugins", "compute", "connection_secret_ref"],
        ),
        (
            # the config model follows `type`: a k8s config under vault is wrong
            _schema_doc((("plugins", "secrets"), {"type": "vault", "config": {"context": "x"}})),
            ["plugins", "secrets", "config"],
        ),
        (
            _schema_doc((("plugins", "secrets"), {"type": "external-secrets"})),
            ["plugins", "secrets"],
        ),
        (
            _schema_doc(
                (("plugins", "secrets"), {"config": {"address": "https://vault.example.com"}})
            ),
            ["plugins", "secrets", "config"],
        ),
        (
            _schema_doc((("secrets", "snowflake-dev-credentials", "max_age_days"), 0)),
            ["secrets", "snowflake-dev-credentials", "max_age_days"],
        ),
        (_schema_doc((("secrets", "Bad_Name"), {})), ["secrets"]),
        (
            _schema_doc((("plugins", "compute", "config", "password"), "x")),
            ["plugins", "compute", "config"],
        ),
        (
            _schema_doc((("plugins", "compute", "config", "clientSecret"), "x")),
            ["plugins", "compute", "config"],
        ),
    ],
    ids=[
        "compute-type",
        "extra-key",
        "secret-name",
        "config-by-type",
        "eso-needs-config",
        "k8s-default",
        "max-age",
        "policy-name",
        "config-password",
        "config-camel-secret",
    ],
)
def test_json_schema_rejects_bad_manifests(
    validator: jsonschema.Draft202012Validator, doc: dict[str, Any], where: list[str]
) -> None:
    errors = list(validator.iter_errors(doc))
    assert errors
    assert any(list(e.absolute_path)[: len(where)] == where for e in errors)
    # The loader agrees.
    with pytest.raises(InvalidManifestError):
        parse_manifest(doc)


def test_json_schema_cli(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_module("floe_dagster_secrets.manifest", run_name="__main__")
    printed = json.loads(capsys.readouterr().out)
    assert printed == manifest_json_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    stream = io.StringIO()
    write_json_schema(stream)
    assert json.loads(stream.getvalue()) == printed


# --- arbitrary input only ever raises InvalidManifestError -----------------------------------

_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
)
_keys = st.sampled_from(
    [
        "environment",
        "plugins",
        "secrets",
        "compute",
        "type",
        "config",
        "ingestion",
        "pipelines",
        "source",
        "secret_refs",
        "connection_secret_ref",
        "keys",
        "assets",
        "max_age_days",
        "namespace",
        "address",
        "store",
    ]
) | st.text(max_size=10)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


def _parse_quietly(doc: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FloeNamingWarning)
        with contextlib.suppress(InvalidManifestError):
            parse_manifest(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=6))
def test_arbitrary_mappings_only_raise_our_error(doc: dict[str, Any]) -> None:
    _parse_quietly(doc)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_our_error(text: str) -> None:
    _parse_quietly(text)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_arbitrary_yaml_documents_only_raise_our_error(value: Any) -> None:
    _parse_quietly(yaml.safe_dump(value))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(GOOD)),
    st.lists(st.tuples(st.integers(0, 2), _keys, _values), max_size=3),
)
def test_mutated_good_manifests_only_raise_our_error(
    name: str, changes: list[tuple[int, str, Any]]
) -> None:
    doc = json.loads(json.dumps(GOOD[name]))
    # Change keys at the top, in plugins, or in plugins.compute (resolved before any change).
    targets = [doc, doc["plugins"], doc["plugins"]["compute"]]
    for depth, key, value in changes:
        targets[depth][key] = value
    _parse_quietly(doc)
