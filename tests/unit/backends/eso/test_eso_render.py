"""Pure parts of ``floe secrets eso render|apply``: key refs, provider inference, the diff."""

from __future__ import annotations

from floe_dagster_secrets.backends.eso.objects import KeyRef, external_secret_from_refs
from floe_dagster_secrets.backends.eso.render import (
    go_duration_text,
    infer_provider,
    object_diff,
)


def test_whole_secret_has_no_property() -> None:
    body = external_secret_from_refs(
        "bq-dev-credentials", "ns", [KeyRef("SA_JSON", "floe-bigquery-sa")], store="gcp"
    )
    assert body["spec"]["data"] == [
        {"secretKey": "SA_JSON", "remoteRef": {"key": "floe-bigquery-sa"}}
    ]


def test_provider_from_the_fields_the_adr_writes() -> None:
    assert infer_provider({"region": "us-east-1"}) == "aws"
    assert infer_provider({"project": "p"}) == "gcp"
    assert infer_provider({"vault_url": "https://v"}) == "azure"
    assert infer_provider({"provider": "vault", "region": "x"}) == "vault"
    assert infer_provider({"store": "string"}) is None
    assert infer_provider({"region": "a", "project": "b"}) is None  # ambiguous: not guessed


def test_go_durations_compare_equal() -> None:
    assert [go_duration_text(t) for t in ("1h", "30m", "10s", "0", "1h30m")] == [
        "1h0m0s",
        "30m0s",
        "10s",
        "0s",
        "1h30m0s",
    ]
    body = external_secret_from_refs("a-dev-credentials", "ns", [KeyRef("K", "r", "k")], store="s")
    live = {**body, "metadata": {**body["metadata"], "resourceVersion": "9", "uid": "u"}}
    live["spec"] = {**body["spec"], "refreshInterval": "1h0m0s"}
    live["status"] = {"refreshTime": "now"}
    assert object_diff(live, body) == []
    changed = {**body, "spec": {**body["spec"], "refreshInterval": "30m"}}
    diff = object_diff(live, changed)
    assert "-  refreshInterval: 1h0m0s" in diff
    assert "+  refreshInterval: 30m0s" in diff
    assert object_diff(None, body)[0].startswith("--- live ExternalSecret ns/a-dev-credentials")
