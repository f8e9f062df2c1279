"""``floe profiles render`` and ``floe manifest schema``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_samples import Run

from floe_dagster_secrets.manifest import manifest_json_schema


def test_manifest_schema_prints_the_json_schema(run: Run) -> None:
    result = run("manifest", "schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == manifest_json_schema()


def test_profiles_render_writes_env_var_references_only(run: Run, workdir: Path) -> None:
    result = run("profiles", "render", "--output-dir", "out")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("✓ Wrote out/profiles.yml (profile floe, target dev")
    text = (workdir / "out" / "profiles.yml").read_text()
    profiles = yaml.safe_load(text)
    assert "floe" in profiles
    assert "DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY" in text
    assert not (workdir / "out" / "dbt-profiles-configmap.yaml").exists()


def test_profiles_render_configmap(run: Run, workdir: Path) -> None:
    result = run("profiles", "render", "--output-dir", "out", "--configmap", "-n", "jobs")
    assert result.exit_code == 0, result.output
    document = yaml.safe_load((workdir / "out" / "dbt-profiles-configmap.yaml").read_text())
    assert document["kind"] == "ConfigMap"
    assert document["metadata"]["namespace"] == "jobs"
    assert "profiles.yml" in document["data"]


def test_profiles_render_without_manifest_is_exit_1(run: Run, workdir: Path) -> None:
    (workdir / "manifest.yaml").unlink()
    result = run("profiles", "render")
    assert result.exit_code == 1
    assert "manifest.yaml" in result.stderr


def test_profiles_render_into_a_file_is_our_error_naming_the_path(run: Run, workdir: Path) -> None:
    (workdir / "afile").write_text("")
    result = run("profiles", "render", "--output-dir", "afile/sub")
    assert result.exit_code == 1
    assert "Cannot write the dbt profile into --output-dir 'afile/sub': Not a directory" in (
        result.stderr
    )
    assert "Fix: pass a directory you may write to" in result.stderr
    assert "bug in floe" not in result.stderr


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (("--configmap", "-n", "Bad_NS"), 1),  # checked before profiles.yml is written
        (("--configmap", "-n", ""), 2),  # an empty option is refused, not ignored
        (("--target", "a b"), 1),
    ],
)
def test_profiles_render_writes_nothing_when_any_input_is_bad(
    run: Run, workdir: Path, args: tuple[str, ...], exit_code: int
) -> None:
    result = run("profiles", "render", "--output-dir", "out", *args)
    assert result.exit_code == exit_code, result.output
    assert not (workdir / "out").exists()
