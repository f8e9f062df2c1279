"""pyproject.toml as a Dagster library's: what the package needs and nothing more, ranges that
move together, one version, the files a release carries.

The build itself (wheel + sdist, `twine check`, a clean venv with the core dependencies only,
`floe --help`) is `tools/check-dist.sh`, a step of the test command; the lowest versions of the
ranges run in `tools/test-dagster-range.sh`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PACKAGE = ROOT / "floe_dagster_secrets"

# What only the demo, dbt or the UI use: never a core dependency.
DEMO_ONLY = {
    "dagster-webserver",
    "dagster-dbt",
    "dbt-core",
    "dbt-duckdb",
    "dbt-postgres",
    "duckdb",
    "duckdb-ext-httpfs",
    "dagster-postgres",
    "psycopg2-binary",
    "hvac",
}
# Import name → distribution, for the imports the package makes.
DISTRIBUTION = {
    "yaml": "pyyaml",
    "dagster_k8s": "dagster-k8s",
    "hvac": "hvac",
    "requests": "hvac",
    "pydantic_core": "pydantic",
}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _spec(requirements: list[str], name: str) -> str:
    found = [r for r in requirements if _name(r) == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def _bounds(requirement: str) -> tuple[str, str]:
    lower = re.search(r">=\s*([0-9.]+)", requirement)
    upper = re.search(r"<\s*([0-9.]+)", requirement)
    assert lower, f"{requirement}: needs a tested lower bound"
    assert upper, f"{requirement}: needs an upper bound"
    return lower.group(1), upper.group(1)


def test_core_dependencies_are_what_the_library_imports_and_no_demo_package() -> None:
    core = {_name(r) for r in PROJECT["dependencies"]}
    assert not core & DEMO_ONLY, core & DEMO_ONLY
    assert {"dagster", "dagster-k8s", "kubernetes", "pydantic", "pyyaml", "click"} <= core


def test_every_third_party_import_of_the_package_is_declared() -> None:
    stdlib = set(sys.stdlib_module_names)
    declared = {_name(r) for r in PROJECT["dependencies"]}
    declared |= {_name(r) for r in PROJECT["optional-dependencies"]["vault"]}
    missing = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "floe_dagster_secrets":
                    continue
                if DISTRIBUTION.get(top, top.replace("_", "-")) not in declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, sorted(missing)


def test_dagster_and_its_integration_libraries_move_together() -> None:
    """dagster 1.X.Y pairs with dagster-k8s/-dbt/-postgres 0.(X+16).Y: the ranges must match."""
    extras = PROJECT["optional-dependencies"]
    everything = PROJECT["dependencies"] + [r for reqs in extras.values() for r in reqs]
    low, high = _bounds(_spec(everything, "dagster"))
    major, minor, patch = (int(p) for p in low.split("."))
    assert major == 1
    for library in ("dagster-k8s", "dagster-dbt", "dagster-postgres"):
        lib_low, lib_high = _bounds(_spec(everything, library))
        assert lib_low == f"0.{minor + 16}.{patch}", (library, lib_low)
        assert lib_high == f"0.{int(high.split('.')[1]) + 16}", (library, lib_high)
    assert _bounds(_spec(everything, "dagster-webserver")) == (low, high)
    assert _bounds(_spec(PROJECT["dependencies"], "kubernetes"))[1] == "37"
    assert _bounds(_spec(extras["dbt"], "dbt-core"))[1] == "1.12"


def test_extras_split_the_demo_and_the_dbt_adapters_from_the_library() -> None:
    extras = PROJECT["optional-dependencies"]
    assert {"vault", "postgres", "dbt", "dbt-duckdb", "dbt-postgres", "demo", "test", "dev"} <= set(
        extras
    )
    demo = {_name(r) for r in extras["demo"]}
    assert {"dagster-webserver", "duckdb", "duckdb-ext-httpfs"} <= demo
    assert "floe-dagster-secrets[dbt-duckdb]" in extras["demo"]
    assert {_name(r) for r in extras["postgres"]} == {"dagster-postgres", "psycopg2-binary"}


def test_one_version_source() -> None:
    assert "version" not in PROJECT
    assert PROJECT["dynamic"] == ["version"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "floe_dagster_secrets.__version__"
    }
    import floe_dagster_secrets

    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{floe_dagster_secrets.__version__}]" in changelog


def test_release_files_and_metadata() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (PACKAGE / "py.typed").is_file()
    assert "Typing :: Typed" in PROJECT["classifiers"]
    from trove_classifiers import classifiers as known  # PyPI refuses an upload with others

    assert not set(PROJECT["classifiers"]) - known, set(PROJECT["classifiers"]) - known
    assert {"Source", "Changelog", "Issues"} <= set(PROJECT["urls"])
    assert PROJECT["scripts"]["floe"] == "floe_dagster_secrets.cli.app:main"


@pytest.mark.parametrize(
    ("extras", "present", "absent"),
    [
        (
            "vault,postgres,demo,dbt-postgres",
            {
                "dagster-webserver",
                "dagster-postgres",
                "hvac",
                "dbt-duckdb",
                "dbt-postgres",
                "dagster-dbt",
            },
            set(),
        ),
        ("vault,postgres", {"hvac", "dagster-postgres"}, {"dagster-webserver", "dbt-core"}),
    ],
)
def test_the_image_installs_the_core_and_the_extras_it_names(
    extras: str, present: set[str], absent: set[str]
) -> None:
    sys.path.insert(0, str(ROOT / "tools" / "image"))
    try:
        import requirements as image_requirements
    finally:
        sys.path.pop(0)
    found = image_requirements.requirements(ROOT / "pyproject.toml", extras.split(","))
    names = {_name(r) for r in found}
    assert "floe-dagster-secrets" not in names  # self-references expanded
    assert {_name(r) for r in PROJECT["dependencies"]} <= names
    assert present <= names
    assert not absent & names
    assert len(found) == len(set(found))


def test_the_dockerfile_default_extras_are_the_demo_deployment() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG FLOE_EXTRAS=vault,postgres,demo,dbt-postgres" in dockerfile
    assert "-c /tmp/floe-deps/constraints.txt" in dockerfile


def test_the_constraints_pin_the_highest_tested_dagster_within_the_ranges() -> None:
    from floe_dagster_secrets.launcher import _dagster_k8s_internals as internals

    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["dagster-k8s"] == internals.PINNED_VERSION
    low, high = _bounds(_spec(PROJECT["dependencies"], "dagster"))
    pinned = tuple(int(p) for p in pins["dagster"].split("."))
    assert tuple(int(p) for p in low.split(".")) <= pinned < tuple(int(p) for p in high.split("."))
