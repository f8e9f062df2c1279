"""Building a plugin from a manifest, with command-line overrides on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_dagster_secrets.backends.factory import (
    accepted_options,
    plugin_for,
    plugin_from_manifest,
)
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import BackendNotInstalledError, InvalidManifestError
from floe_dagster_secrets.manifest import Manifest, parse_manifest


def manifest(secrets_block: str) -> Manifest:
    text = (
        "environment: dev\n"
        f"plugins:\n  secrets:\n{secrets_block}"
        "  compute:\n    type: duckdb\n    connection_secret_ref: duckdb-dev-credentials\n"
    )
    return parse_manifest(text.encode(), source="test")


def test_local_plugin_from_manifest_config(tmp_path: Path) -> None:
    m = manifest(f"    type: local\n    config:\n      path: {tmp_path / 'store'}\n")
    plugin = plugin_from_manifest(m)
    assert isinstance(plugin, LocalSecretsPlugin)
    assert plugin.root == tmp_path / "store"


def test_overrides_win_and_none_means_not_given(tmp_path: Path) -> None:
    m = manifest(f"    type: local\n    config:\n      path: {tmp_path / 'store'}\n")
    plugin = plugin_from_manifest(m, path=str(tmp_path / "other"))
    assert isinstance(plugin, LocalSecretsPlugin)
    assert plugin.root == tmp_path / "other"
    same = plugin_from_manifest(m, path=None)
    assert isinstance(same, LocalSecretsPlugin)
    assert same.root == tmp_path / "store"


def test_default_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    plugin = plugin_from_manifest(manifest("    type: local\n"))
    assert isinstance(plugin, LocalSecretsPlugin)
    assert plugin.root == tmp_path / ".floe" / "secrets"


def test_option_the_backend_does_not_take_is_our_error() -> None:
    assert accepted_options(LocalSecretsPlugin) == {"path"}
    with pytest.raises(InvalidManifestError, match="does not take the option") as info:
        plugin_for("local", context="kind-dev")
    assert "it takes: path" in str(info.value)


def test_unknown_backend() -> None:
    with pytest.raises(BackendNotInstalledError):
        plugin_for("nope")
