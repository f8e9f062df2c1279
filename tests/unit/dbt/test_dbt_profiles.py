"""Rendering: structure, the literal-credential guard, YAML, ConfigMap, atomic write, no values."""

from __future__ import annotations

import os
import stat
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from floe_dagster_secrets.dbt import (
    COMPUTE_TYPES,
    SPECS,
    find_literal_credentials,
    profile_env,
    render_profile,
    render_profiles_configmap,
    render_profiles_yml,
    required_secret_keys,
    write_profiles_yml,
)
from floe_dagster_secrets.dbt.spec import AdapterSpec
from floe_dagster_secrets.errors import InvalidManifestError, InvalidSecretReferenceError
from tests.unit.dbt.dbt_cases import MINIMAL

REF = "{{ env_var('DBT_ENV_SECRET_X') }}"


def _profile(output: dict[str, Any]) -> dict[str, Any]:
    return {"p": {"target": "t", "outputs": {"t": output}}}


def test_profile_structure_uses_profile_name_and_target() -> None:
    profile = render_profile("postgres", MINIMAL["postgres"], profile_name="jaffle", target="prod")
    assert list(profile) == ["jaffle"]
    assert profile["jaffle"]["target"] == "prod"
    assert list(profile["jaffle"]["outputs"]) == ["prod"]
    assert profile["jaffle"]["outputs"]["prod"]["type"] == "postgres"


@pytest.mark.parametrize("name", ["", "has space", "a/b", "{{ x }}"])
def test_profile_and_target_names_must_be_plain(name: str) -> None:
    with pytest.raises(InvalidManifestError):
        render_profile("postgres", MINIMAL["postgres"], profile_name=name)
    with pytest.raises(InvalidManifestError):
        render_profile("postgres", MINIMAL["postgres"], target=name)


@pytest.mark.parametrize("compute_type", COMPUTE_TYPES)
def test_yaml_round_trips_to_the_dict(compute_type: str) -> None:
    text = render_profiles_yml(compute_type, MINIMAL[compute_type])
    assert yaml.safe_load(text) == render_profile(compute_type, MINIMAL[compute_type])
    assert text == render_profiles_yml(compute_type, MINIMAL[compute_type])


def test_output_does_not_depend_on_the_order_of_settings() -> None:
    one = {"dbname": "db", "schema": "s", "b": 1, "a": 2, "sslmode": "require"}
    other = dict(reversed(list(one.items())))
    assert render_profiles_yml("postgres", one) == render_profiles_yml("postgres", other)


def test_references_are_double_quoted_in_yaml() -> None:
    text = render_profiles_yml("postgres", MINIMAL["postgres"])
    assert "password: \"{{ env_var('DBT_ENV_SECRET_POSTGRES_PASSWORD') }}\"\n" in text


# --- the guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "path"),
    [
        ({"type": "postgres", "password": "hunter2"}, "p.outputs.t.password"),
        ({"type": "postgres", "host": "db.internal"}, "p.outputs.t.host"),
        ({"type": "snowflake", "user": "{{ env_var('SNOWFLAKE_USER') }}"}, "p.outputs.t.user"),
        ({"type": "databricks", "token": "dapi123"}, "p.outputs.t.token"),
        (
            {"type": "bigquery", "keyfile_json": {"private_key": "k", "type": "service_account"}},
            "p.outputs.t.keyfile_json.private_key",
        ),
        (
            {"type": "duckdb", "attach": [{"path": "x", "options": {"encryption_key": "k"}}]},
            "p.outputs.t.attach[0].options.encryption_key",
        ),
        ({"type": "anything", "api_token": "t"}, "p.outputs.t.api_token"),
        ({"type": "anything", "note": "-----BEGIN PRIVATE KEY-----\nabc"}, "p.outputs.t.note"),
        (
            {"type": "postgres", "password": "prefix" + REF},
            "p.outputs.t.password",
        ),
    ],
)
def test_find_literal_credentials_reports_paths_not_values(
    output: dict[str, Any], path: str
) -> None:
    found = find_literal_credentials(_profile(output))
    assert found == [path]


@pytest.mark.parametrize(
    "output",
    [
        {"type": "postgres", "password": REF, "host": REF, "user": REF, "port": 5432},
        {"type": "snowflake", "private_key_passphrase": "{{ env_var('DBT_ENV_SECRET_P', '') }}"},
        {"type": "bigquery", "keyfile_json": {"type": "service_account", "token_uri": "https://t"}},
        {"type": "duckdb", "attach": [{"path": "x", "options": {"encryption_key": REF}}]},
    ],
)
def test_find_literal_credentials_accepts_references(output: dict[str, Any]) -> None:
    assert find_literal_credentials(_profile(output)) == []


def test_find_literal_credentials_ignores_what_is_not_a_profile() -> None:
    assert find_literal_credentials({"config": {"send_anonymous_usage_stats": False}}) == []
    assert find_literal_credentials({"p": {"outputs": ["x"]}}) == []


def test_a_renderer_that_writes_a_literal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SPECS["postgres"]

    def leaky(settings: Any, ref: Any) -> dict[str, Any]:
        return {**spec.build(settings, ref), "password": "leaked-literal"}

    broken = AdapterSpec(spec.compute_type, spec.auth_methods, spec.settings, leaky, spec.managed)
    monkeypatch.setitem(SPECS, "postgres", broken)
    with pytest.raises(InvalidSecretReferenceError) as caught:
        render_profiles_yml("postgres", MINIMAL["postgres"])
    assert "floe.outputs.dev.password" in str(caught.value)
    assert "leaked-literal" not in str(caught.value)


# --- ConfigMap and file ------------------------------------------------------------------------


def test_configmap_shape() -> None:
    document = render_profiles_configmap(
        "duckdb", MINIMAL["duckdb"], namespace="floe-jobs", target="prod"
    )
    assert document["apiVersion"] == "v1"
    assert document["kind"] == "ConfigMap"
    assert document["metadata"] == {
        "name": "dbt-profiles",
        "namespace": "floe-jobs",
        "labels": {
            "app.kubernetes.io/managed-by": "floe",
            "app.kubernetes.io/component": "dbt-profiles",
        },
    }
    assert list(document["data"]) == ["profiles.yml"]
    assert document["data"]["profiles.yml"] == render_profiles_yml(
        "duckdb", MINIMAL["duckdb"], target="prod"
    )


def test_configmap_default_namespace_and_custom_name() -> None:
    document = render_profiles_configmap("postgres", MINIMAL["postgres"], name="profiles-a")
    assert document["metadata"]["name"] == "profiles-a"
    assert document["metadata"]["namespace"] == "floe-jobs"


@pytest.mark.parametrize(("name", "namespace"), [("Bad_Name", "ns"), ("ok", "UPPER"), ("-x", "n")])
def test_configmap_names_must_be_kubernetes_names(name: str, namespace: str) -> None:
    with pytest.raises(InvalidManifestError, match="Kubernetes name"):
        render_profiles_configmap("postgres", MINIMAL["postgres"], name=name, namespace=namespace)


def test_write_into_a_profiles_dir(tmp_path: Path) -> None:
    written = write_profiles_yml(tmp_path, "postgres", MINIMAL["postgres"], target="prod")
    assert written == tmp_path / "profiles.yml"
    assert written.read_text() == render_profiles_yml(
        "postgres", MINIMAL["postgres"], target="prod"
    )
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profiles.yml"]


def test_write_creates_a_missing_profiles_dir(tmp_path: Path) -> None:
    written = write_profiles_yml(tmp_path / "profiles", "postgres", MINIMAL["postgres"])
    assert written == tmp_path / "profiles" / "profiles.yml"
    assert written.is_file()


def test_write_replaces_a_file_and_creates_parents(tmp_path: Path) -> None:
    destination = tmp_path / "a" / "b" / "profiles.yml"
    write_profiles_yml(destination, "postgres", MINIMAL["postgres"])
    first = os.stat(destination).st_ino
    write_profiles_yml(destination, "duckdb", MINIMAL["duckdb"])
    assert "type: duckdb" in destination.read_text()
    assert os.stat(destination).st_ino != first  # replaced by rename, never rewritten in place
    assert sorted(p.name for p in destination.parent.iterdir()) == ["profiles.yml"]


def test_a_failed_render_leaves_the_old_file(tmp_path: Path) -> None:
    destination = write_profiles_yml(tmp_path, "postgres", MINIMAL["postgres"])
    before = destination.read_text()
    with pytest.raises(InvalidManifestError):
        write_profiles_yml(tmp_path, "postgres", {"schema": "s"})
    assert destination.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profiles.yml"]


# --- values never reach a renderer -----------------------------------------------------------

_VALUE = st.text(alphabet=string.printable, min_size=1, max_size=40).map(lambda v: "s3cr3t:" + v)
_EXTRA_KEY = st.from_regex(r"\A[A-Z][A-Z0-9_]{0,15}\Z")


@settings(max_examples=60, deadline=None)
@given(
    compute_type=st.sampled_from(COMPUTE_TYPES),
    values=st.lists(_VALUE, min_size=4, max_size=4),
    extra=st.dictionaries(_EXTRA_KEY, _VALUE, max_size=3),
)
def test_secret_values_never_reach_the_rendered_output(
    compute_type: str, values: list[str], extra: dict[str, str]
) -> None:
    secret = dict(extra)
    for key, value in zip(required_secret_keys(compute_type), values, strict=False):
        secret[key] = value
    env = profile_env(compute_type, secret)
    # Values go to the process environment only; the renderers take settings, never a secret.
    assert sorted(env.values()) == sorted(secret.values())
    text = render_profiles_yml(compute_type, MINIMAL[compute_type])
    document = str(render_profiles_configmap(compute_type, MINIMAL[compute_type]))
    assert "s3cr3t:" not in text
    assert "s3cr3t:" not in document
    for key in required_secret_keys(compute_type):
        assert f"env_var('DBT_ENV_SECRET_{key}')" in text


_SETTING_VALUE = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + " ./-_", max_size=30),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.booleans(),
)
_CREDENTIAL_NAME = st.sampled_from(
    ["password", "db_password", "token", "access_token", "client_secret", "private_key", "api_key"]
)


@settings(max_examples=60, deadline=None)
@given(
    compute_type=st.sampled_from(COMPUTE_TYPES),
    name=_CREDENTIAL_NAME,
    value=_SETTING_VALUE,
    nested=st.booleans(),
)
def test_credential_named_settings_are_always_refused_and_never_echoed(
    compute_type: str, name: str, value: Any, nested: bool
) -> None:
    extra: dict[str, Any] = {"session": {name: value}} if nested else {name: value}
    with pytest.raises(InvalidSecretReferenceError) as caught:
        render_profiles_yml(compute_type, MINIMAL[compute_type] | extra)
    if isinstance(value, str) and len(value) > 3:
        assert value not in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(
    compute_type=st.sampled_from(COMPUTE_TYPES),
    extra=st.dictionaries(st.from_regex(r"\Ax_[a-z]{1,8}\Z"), _SETTING_VALUE, max_size=4),
)
def test_plain_settings_render_and_pass_the_guard(compute_type: str, extra: dict[str, Any]) -> None:
    profile = render_profile(compute_type, MINIMAL[compute_type] | extra)
    assert find_literal_credentials(profile) == []
    assert (
        yaml.safe_load(render_profiles_yml(compute_type, MINIMAL[compute_type] | extra)) == profile
    )
