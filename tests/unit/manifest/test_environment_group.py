"""Manifests of several environments side by side: which are found, and what sharing is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest import FloeNamingWarning, load_manifest
from floe_dagster_secrets.manifest.group import check_environment_group, sibling_manifests


def _write(path: Path, ref: str, environment: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = f"environment: {environment}\n" if environment else ""
    path.write_text(
        head + "plugins:\n  compute: {type: duckdb, connection_secret_ref: " + ref + "}\n"
    )
    return path


def test_siblings_are_the_manifest_files_beside_it(tmp_path: Path) -> None:
    for name in (
        "manifest.yaml",
        "manifest.dev.yaml",
        "manifest-prod.yml",
        "manifest.staging.yml",
        "other.yaml",
        "manifest.prod.json",
        "manifest.Prod.yaml",
    ):
        (tmp_path / name).write_text("{}")
    (tmp_path / "manifest.qa.yaml").mkdir()
    found = [p.name for p in sibling_manifests(tmp_path / "manifest.dev.yaml")]
    assert found == ["manifest-prod.yml", "manifest.staging.yml", "manifest.yaml"]
    assert sibling_manifests(tmp_path / "missing" / "manifest.yaml") == []


def test_alone_or_one_environment_may_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOE_ENVIRONMENT", raising=False)
    prod = _write(tmp_path / "manifest.prod.yaml", "duckdb-prod-credentials")
    manifest = load_manifest(prod)
    assert check_environment_group(manifest, prod, []) == [(prod, manifest)]
    # production is prod: the same environment, so the same secret is fine
    other = _write(tmp_path / "b" / "manifest.yaml", "duckdb-prod-credentials", "production")
    group = check_environment_group(manifest, prod, [other, prod])
    assert [f for f, _ in group] == [prod, other]


def test_two_environments_sharing_a_secret_name_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_ENVIRONMENT", "dev")  # speaks for the validated manifest only
    dev = _write(tmp_path / "manifest.yaml", "warehouse-key")
    prod = _write(tmp_path / "manifest.prod.yaml", "warehouse-key")
    with pytest.warns(FloeNamingWarning):
        manifest = load_manifest(dev)
    assert manifest.environment == "dev"
    with pytest.raises(InvalidManifestError) as info:
        check_environment_group(manifest, dev, sibling_manifests(dev))
    assert info.value.problem == (
        f"secrets shared across environments: 'warehouse-key' in dev ({dev}: "
        f"plugins.compute.connection_secret_ref) and prod ({prod}: "
        "plugins.compute.connection_secret_ref)"
    )


def test_a_member_without_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOE_ENVIRONMENT", "dev")  # not applied to the other manifest
    dev = _write(tmp_path / "dev" / "manifest.yaml", "duckdb-dev-credentials")
    other = _write(tmp_path / "x" / "manifest.yaml", "duckdb-credentials")
    manifest = load_manifest(dev)
    with pytest.raises(InvalidManifestError) as info:
        check_environment_group(manifest, dev, [other])
    assert info.value.problem.startswith(f"{other} names no environment")
    assert "`environment: <name>`" in info.value.fix
