"""evaluate(): missing → ERROR-class, missing keys → ERROR-class, overdue → WARN-class, else ok."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from floe_dagster_secrets.checks import SecretRequirement, evaluate, requirement_for
from floe_dagster_secrets.checks.evaluate import summarize
from floe_dagster_secrets.manifest import parse_manifest
from floe_dagster_secrets.types import SecretMetadata

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NAME = "salesforce-dev-credentials"


def meta(keys: tuple[str, ...], days_old: int, *, updated: bool = True) -> SecretMetadata:
    moment = NOW - timedelta(days=days_old, hours=1)
    return SecretMetadata(
        name=NAME,
        namespace="floe-jobs",
        backend="local",
        keys=keys,
        version="4",
        created=moment - timedelta(days=100),
        updated=moment if updated else None,
    )


REQ = SecretRequirement(NAME, ("CLIENT_ID", "CLIENT_SECRET"), max_age_days=30)


def test_missing_secret_is_an_error() -> None:
    finding = evaluate(REQ, None, now=NOW)
    assert (finding.status, finding.is_error) == ("missing", True)
    assert finding.to_json()["max_age_days"] == 30


def test_missing_keys_is_an_error_listing_them() -> None:
    finding = evaluate(REQ, meta(("CLIENT_ID",), 1), now=NOW)
    assert finding.status == "missing_keys"
    assert finding.missing_keys == ("CLIENT_SECRET",)
    assert finding.is_error


def test_overdue_is_a_warning_not_an_error() -> None:
    finding = evaluate(REQ, meta(("CLIENT_ID", "CLIENT_SECRET"), 30), now=NOW)
    assert (finding.status, finding.is_error, finding.age_days) == ("overdue", False, 30)
    assert "over max_age_days 30" in summarize([finding])


def test_fresh_and_complete_is_ok_and_age_falls_back_to_created() -> None:
    finding = evaluate(REQ, meta(("CLIENT_ID", "CLIENT_SECRET", "EXTRA"), 29), now=NOW)
    assert finding.status == "ok"
    assert finding.to_json() == {
        "secret": NAME,
        "status": "ok",
        "version": "4",
        "age_days": 29,
        "max_age_days": 30,
        "required_keys": ["CLIENT_ID", "CLIENT_SECRET"],
        "missing_keys": [],
        "key_names_checked": True,
        "detail": "",
    }
    no_updated = evaluate(REQ, meta(("CLIENT_ID", "CLIENT_SECRET"), 1, updated=False), now=NOW)
    assert (no_updated.status, no_updated.age_days) == ("overdue", 101)
    unlimited = SecretRequirement(NAME)
    assert evaluate(unlimited, meta((), 999), now=NOW).status == "ok"


def unnamed(count: int | None) -> SecretMetadata:
    """A Kubernetes Secret floe did not write: key names unknown, the Table's count known."""
    return dataclasses.replace(meta((), 1), keys_known=False, key_count=count)


def test_unnamed_keys_too_few_is_an_error_by_count() -> None:
    finding = evaluate(REQ, unnamed(1), now=NOW)
    assert (finding.status, finding.is_error, finding.missing_keys) == ("missing_keys", True, ())
    assert finding.detail == (
        "has 1 key, the manifest requires 2 (CLIENT_ID, CLIENT_SECRET); key names of a Secret "
        "floe did not write are not visible without reading values"
    )
    assert finding.to_json()["key_names_checked"] is False


def test_unnamed_keys_enough_passes_saying_names_were_not_checked() -> None:
    finding = evaluate(REQ, unnamed(2), now=NOW)
    assert (finding.status, finding.key_names_checked) == ("ok", False)
    assert finding.detail.startswith("key names not checked (it has 2 keys, the manifest")
    assert "not checked, only their count" in summarize([finding])
    unknown = evaluate(REQ, unnamed(None), now=NOW)  # no count either: nothing to judge by
    assert (unknown.status, unknown.key_names_checked) == ("ok", False)


def test_requirement_adds_the_dbt_adapter_keys_to_the_connection_secret() -> None:
    manifest = parse_manifest(
        {
            "environment": "dev",
            "plugins": {
                "secrets": {"type": "local"},
                "compute": {
                    "type": "postgres",
                    "connection_secret_ref": "postgres-dev-credentials",
                    "config": {"host": "db", "database": "analytics"},
                },
            },
            "secrets": {
                "postgres-dev-credentials": {"keys": ["EXTRA_KEY"], "max_age_days": 90},
            },
        }
    )
    requirement = requirement_for(manifest, "postgres-dev-credentials")
    assert requirement.max_age_days == 90
    assert requirement.keys[0] == "EXTRA_KEY"
    assert {"POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_PASSWORD"} <= set(requirement.keys)
    assert requirement_for(manifest, "other-dev-credentials") == SecretRequirement(
        "other-dev-credentials"
    )
