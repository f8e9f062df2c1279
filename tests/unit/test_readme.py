"""The README's code runs as written: the quick-start commands exist, the manifest validates, and
the `Definitions` example loads against that manifest (no server: clients are created lazily)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_quick_start_commands_are_at_the_top_and_exist() -> None:
    first = _blocks(README, "bash")[0]
    assert README.index(first) < README.index("\n## Why\n")
    commands = [line.split("#")[0].split() for line in first.strip().splitlines()]
    assert commands == [["bash", "tools/demo.sh"], ["bash", "tools/test.sh"]]
    for _, script in commands:
        assert (ROOT / script).is_file()


def test_the_install_command_names_an_extra_that_exists() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert 'pip install "floe-dagster-secrets[vault]"' in _section("Install")
    for extra in re.findall(r"^\| `([a-z-]+)`", _section("Install"), flags=re.MULTILINE):
        assert extra in extras, extra


def test_the_definitions_example_loads_with_the_readme_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import Definitions

    (manifest,) = _blocks(_section("The manifest"), "yaml")
    (code,) = _blocks(_section("Use it in Dagster"), "python")
    (tmp_path / "manifest.yaml").write_text(manifest)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec", dont_inherit=True), namespace)  # noqa: S102 - the README's own code
    defs = namespace["defs"]
    assert isinstance(defs, Definitions)
    repository = defs.get_repository_def()
    assert repository.get_job("orders_job")
    assert repository.get_sensor_def("floe_secret_rotation")
    assert repository.asset_checks_defs_by_key


def test_the_readme_manifest_renders_its_dbt_profile(tmp_path: Path) -> None:
    from floe_dagster_secrets.dbt import render_profiles_yml
    from floe_dagster_secrets.manifest import parse_manifest

    (text,) = _blocks(_section("The manifest"), "yaml")
    manifest = parse_manifest(text)
    compute = manifest.require_compute("render a dbt profile")
    profile = render_profiles_yml(compute.type, compute.config, target=manifest.environment)
    assert "env_var('DBT_ENV_SECRET_SNOWFLAKE_PASSWORD')" in profile
