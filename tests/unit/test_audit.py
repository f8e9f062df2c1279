"""The audit trail with the real local backend: one event per access, outcome, actor, no values."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from floe_dagster_secrets.audit import AUDIT_LOGGER, acting_as, audited
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.errors import SecretAccessDeniedError, SecretNotFoundError
from floe_dagster_secrets.types import SecretData, SecretMetadata

NS = "floe-jobs"
CANARY = "canary-audit-Zq9xW2vB"


class Trail(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self) -> list[dict[str, Any]]:
        return [dict(r.floe_audit) for r in self.records]  # type: ignore[attr-defined]


@pytest.fixture
def trail() -> Iterator[Trail]:
    handler = Trail()
    logger = logging.getLogger(AUDIT_LOGGER)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _short(event: dict[str, Any]) -> tuple[Any, ...]:
    return (
        event["backend"],
        event["operation"],
        event["namespace"],
        event["name"],
        event["keys"],
        event["outcome"],
        event["error"],
    )


def test_every_local_access_logs_exactly_one_event_without_the_value(
    tmp_path: Path, trail: Trail
) -> None:
    plugin = LocalSecretsPlugin(path=tmp_path / "store")
    with acting_as("tester"):
        plugin.create_secret("app-dev-credentials", NS, {"PASSWORD": CANARY})
        plugin.get_secret("app-dev-credentials", NS)
        plugin.update_secret("app-dev-credentials", NS, {"USER": "someone-x"}, merge=True)
        plugin.describe_secret("app-dev-credentials", NS)
        plugin.list_secrets(NS)
        plugin.secret_versions(NS)
        with pytest.raises(SecretNotFoundError):
            plugin.get_secret("missing-dev-credentials", NS)
        plugin.delete_secret("app-dev-credentials", NS)

    assert [_short(e) for e in trail.events()] == [
        ("local", "create", NS, "app-dev-credentials", ["PASSWORD"], "ok", None),
        ("local", "get", NS, "app-dev-credentials", ["PASSWORD"], "ok", None),
        ("local", "update", NS, "app-dev-credentials", ["USER"], "ok", None),
        ("local", "describe", NS, "app-dev-credentials", ["PASSWORD", "USER"], "ok", None),
        ("local", "list", NS, None, [], "ok", None),
        ("local", "versions", NS, None, [], "ok", None),
        ("local", "get", NS, "missing-dev-credentials", [], "not_found", "SecretNotFoundError"),
        ("local", "delete", NS, "app-dev-credentials", [], "ok", None),
    ]
    for record, event in zip(trail.records, trail.events(), strict=True):
        assert record.levelno == logging.INFO
        assert json.loads(record.getMessage()) == event  # the message is the JSON event itself
        assert event["actor"] == "tester"
        assert event["event"] == "secret_access"
        assert event["duration_ms"] >= 0
        assert event["time"].endswith("+00:00")
        assert CANARY not in record.getMessage()
        assert "someone-x" not in record.getMessage()


class _Nested(SecretsPlugin):
    """A backend whose methods call each other, like Vault's secret_versions → list_secrets."""

    name: ClassVar[str] = "nested"
    version: ClassVar[str] = "0"

    def get_secret(self, name: str, namespace: str) -> SecretData:
        self.describe_secret(name, namespace)
        raise SecretAccessDeniedError("no", fix="grant it", backend="nested", secret=name)

    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        raise NotImplementedError

    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        raise NotImplementedError

    def delete_secret(self, name: str, namespace: str) -> None:
        raise RuntimeError("boom")

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        return [self.describe_secret("a-secret", namespace)]

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        return SecretMetadata(name, namespace, "nested", ("K",), "1")


def test_nested_calls_are_one_event_and_outcomes_are_named(trail: Trail) -> None:
    plugin = _Nested()
    plugin.secret_versions(NS)  # the base default, audited as "versions", calls list → describe
    with pytest.raises(SecretAccessDeniedError):
        plugin.get_secret("x-secret", NS)
    with pytest.raises(RuntimeError):
        plugin.delete_secret("x-secret", NS)
    assert [(e["operation"], e["outcome"], e["error"]) for e in trail.events()] == [
        ("versions", "ok", None),
        ("get", "denied", "SecretAccessDeniedError"),
        ("delete", "error", "RuntimeError"),
    ]


def test_the_hook_for_other_access_paths_and_actor_sources(
    trail: Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FLOE_AUDIT_ACTOR", "DAGSTER_RUN_JOB_NAME", "DAGSTER_RUN_STEP_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_RUN_ID", "run-1234")
    with audited("create", backend="external-secrets", namespace=NS, name="n-secret") as event:
        event.keys = ["K"]
        event.path = "ExternalSecret/n-secret"
    monkeypatch.setenv("FLOE_AUDIT_ACTOR", "ci-bot")
    with audited("get", backend="x", namespace=NS):
        pass
    monkeypatch.delenv("FLOE_AUDIT_ACTOR")
    monkeypatch.delenv("DAGSTER_RUN_ID")
    monkeypatch.setenv("DAGSTER_RUN_JOB_NAME", "dagster-run-abc")
    monkeypatch.setenv("DAGSTER_RUN_STEP_KEY", "orders")
    with audited("get", backend="x", namespace=NS):
        pass
    monkeypatch.delenv("DAGSTER_RUN_JOB_NAME")
    monkeypatch.delenv("DAGSTER_RUN_STEP_KEY")
    with audited("get", backend="x", namespace=NS):
        pass
    first, second, in_pod, third = trail.events()
    assert in_pod["actor"] == "k8s-job:dagster-run-abc/orders"
    assert first["actor"] == "dagster-run:run-1234"
    assert first["keys"] == ["K"]
    assert first["path"] == "ExternalSecret/n-secret"
    assert second["actor"] == "ci-bot"
    assert "@" in third["actor"]


def test_a_failing_audit_handler_does_not_fail_the_access(tmp_path: Path) -> None:
    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise OSError("disk full")

        def handleError(self, record: logging.LogRecord) -> None:
            raise OSError("disk full")

    logger = logging.getLogger(AUDIT_LOGGER)
    handler = Broken()
    logger.addHandler(handler)
    try:
        plugin = LocalSecretsPlugin(path=tmp_path / "store")
        plugin.create_secret("app-dev-credentials", NS, {"PASSWORD": CANARY})
        assert plugin.get_secret("app-dev-credentials", NS)["PASSWORD"].reveal() == CANARY
    finally:
        logger.removeHandler(handler)
