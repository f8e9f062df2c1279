"""Unit tests never reach a server: the variables that would point a client at one are blanked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from floe_dagster_secrets.masking import get_masker

_SERVER_VARIABLES = (
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "BAO_ADDR",
    "BAO_TOKEN",
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "FLOE_ENVIRONMENT",  # would say which environment every manifest of a test is for
)


@pytest.fixture(autouse=True)
def _no_servers(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in _SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # The kubernetes client falls back to ~/.kube/config when KUBECONFIG is unset.
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def fresh_masker() -> Iterator[None]:
    """Start from an empty masker and leave one behind."""
    get_masker().clear()
    yield
    get_masker().clear()
