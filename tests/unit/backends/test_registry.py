"""The entry-point registry, including a third-party backend installed as a real distribution."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.registry import available_backends, load_backend_class
from floe_dagster_secrets.errors import BackendNotInstalledError


@pytest.fixture
def third_party_backend(tmp_path: Path) -> Iterator[str]:
    """Install a tiny distribution that registers a backend, the way `pip install` would."""
    (tmp_path / "acme_secrets.py").write_text(
        textwrap.dedent(
            """
            from floe_dagster_secrets.backends.local import LocalSecretsPlugin

            class AcmeSecretsPlugin(LocalSecretsPlugin):
                name = "acme"

            class NotAPlugin:
                pass
            """
        )
    )
    dist = tmp_path / "acme_secrets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-secrets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[floe.secrets]\n"
        "acme = acme_secrets:AcmeSecretsPlugin\n"
        "broken = acme_secrets_missing_module:Plugin\n"
        "notaplugin = acme_secrets:NotAPlugin\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield "acme"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("acme_secrets", None)


def test_builtin_backends_are_registered() -> None:
    assert {"local", "k8s"} <= set(available_backends())


def test_third_party_backend_loads_through_its_entry_point(third_party_backend: str) -> None:
    cls = load_backend_class(third_party_backend)
    assert issubclass(cls, SecretsPlugin)
    assert cls.name == "acme"


def test_unknown_backend_lists_installed_ones() -> None:
    with pytest.raises(BackendNotInstalledError, match="No secrets backend named 'nope'") as info:
        load_backend_class("nope")
    assert "local" in str(info.value)
    assert info.value.backend == "nope"


def test_unimportable_backend_says_what_to_install(third_party_backend: str) -> None:
    with pytest.raises(BackendNotInstalledError, match="cannot be imported"):
        load_backend_class("broken")


def test_entry_point_that_is_not_a_plugin_is_refused(third_party_backend: str) -> None:
    with pytest.raises(BackendNotInstalledError, match="is not a SecretsPlugin subclass"):
        load_backend_class("notaplugin")


def test_builtin_backends_load_without_scanning_every_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`floe secrets list` on k8s or local must not read every installed package's metadata."""
    from floe_dagster_secrets.backends import registry

    def no_scan(**_: object) -> object:
        raise AssertionError("entry_points() scanned for a built-in backend")

    monkeypatch.setattr(registry, "entry_points", no_scan)
    for name in ("local", "k8s", "vault", "external-secrets"):
        assert load_backend_class(name).name == name


def test_builtin_backends_are_exactly_this_distributions_entry_points() -> None:
    from floe_dagster_secrets.backends.registry import builtin_backends

    builtin = builtin_backends()
    assert set(builtin) == {"local", "k8s", "vault", "external-secrets"}
    installed = available_backends()
    assert {name: installed[name].value for name in builtin} == {
        name: ep.value for name, ep in builtin.items()
    }


def test_unknown_name_still_scans_and_finds_a_third_party_backend(
    third_party_backend: str,
) -> None:
    from floe_dagster_secrets.backends.registry import builtin_backends

    assert third_party_backend not in builtin_backends()
    assert load_backend_class(third_party_backend).name == third_party_backend
