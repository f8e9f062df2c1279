"""Which version read the sensor makes per backend (pure dispatch; plugins are stand-in objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from floe_dagster_secrets.backends.base import ReportsSelectedVersions
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.backends.vault import VaultSecretsPlugin
from floe_dagster_secrets.errors import BackendUnavailableError, SecretNotFoundError
from floe_dagster_secrets.sensors.versions import read_versions, tick_error


class _Recorder:
    """Records which read was asked for."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[Any, ...]] = []

    def secret_versions(self, namespace: str) -> dict[str, str]:
        self.calls.append(("secret_versions", namespace))
        return {"a": "1", "b": "2", "unrelated": "9"}


class _Selective(_Recorder):
    def secret_versions_of(self, names: list[str], namespace: str) -> dict[str, str]:
        self.calls.append(("secret_versions_of", tuple(names), namespace))
        return {"a": "7", "extra": "1"}


def test_default_is_one_listing_filtered_to_the_watched_names() -> None:
    plugin = _Recorder("k8s")
    assert read_versions(plugin, "ns", ["b", "a", "missing"]) == {"a": "1", "b": "2"}  # type: ignore[arg-type]
    assert plugin.calls == [("secret_versions", "ns")]


def test_vault_reads_only_the_referenced_paths_and_skips_missing_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Vault answers ``ReportsSelectedVersions``: one KV metadata read per watched path."""
    plugin = VaultSecretsPlugin(address="https://vault.invalid", auth_method="token")
    calls: list[tuple[str, str]] = []

    def read_metadata(name: str, namespace: str) -> dict[str, Any]:
        calls.append((name, namespace))
        if name == "gone":
            raise SecretNotFoundError("no such secret", fix="create it")
        return {"current_version": 4, "versions": {}}

    monkeypatch.setattr(plugin, "read_metadata", read_metadata)
    assert isinstance(plugin, ReportsSelectedVersions)
    assert read_versions(plugin, "ns", ["gone", "a"]) == {"a": "4"}
    assert calls == [("a", "ns"), ("gone", "ns")]


def test_a_backend_with_secret_versions_of_is_asked_for_exactly_the_names() -> None:
    plugin = _Selective("external-secrets")
    assert read_versions(plugin, "ns", ["b", "a"]) == {"a": "7"}  # type: ignore[arg-type]
    assert plugin.calls == [("secret_versions_of", ("a", "b"), "ns")]


def test_nothing_watched_reads_nothing() -> None:
    plugin = _Recorder("k8s")
    assert read_versions(plugin, "ns", []) == {}  # type: ignore[arg-type]
    assert plugin.calls == []


def test_local_backend_versions(tmp_path: Path) -> None:
    plugin = LocalSecretsPlugin(path=str(tmp_path))
    plugin.create_secret("a-secret", "ns", {"K": "value-one"})
    plugin.update_secret("a-secret", "ns", {"K": "value-two"})
    assert read_versions(plugin, "ns", ["a-secret", "b-secret"]) == {"a-secret": "2"}


def test_tick_error_keeps_the_class_and_names_sensor_secrets_and_cursor() -> None:
    cause = BackendUnavailableError(
        "Cannot reach Vault", fix="check the address", backend="vault", path="secret/x"
    )
    error = tick_error("floe_secret_rotation", "floe-jobs", ["b", "a"], cause)
    assert isinstance(error, BackendUnavailableError)
    text = str(error)
    assert text.startswith(
        "Rotation sensor 'floe_secret_rotation' could not read the versions of a, b: "
        "Cannot reach Vault"
    )
    assert "namespace 'floe-jobs'" in text
    assert "backend 'vault'" in text
    assert "Fix: check the address. No run was requested and the cursor is kept" in text
