"""Pure parts of the launcher's secret metadata cache, and the pre-flight reader's use of it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from floe_dagster_secrets.backends.local import LocalSecretsPlugin
from floe_dagster_secrets.kube.watch import (
    MetadataCache,
    NamespaceWatch,
    SecretMetadataStore,
    backoff_delays,
)
from floe_dagster_secrets.launcher.preflight import PreflightReader, needs_recheck
from floe_dagster_secrets.types import SecretMetadata

NS = "floe-jobs"


def partial(name: str, version: str, keys: str | None = "TOKEN", managed: bool = True) -> dict:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "resourceVersion": version}
    if managed:
        meta["labels"] = {"app.kubernetes.io/managed-by": "floe"}
    if keys is not None:
        meta["annotations"] = {"floe.dev/keys": keys}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def event(kind: str, obj: dict) -> dict:
    return {"type": kind, "object": obj}


def seeded(*items: dict, version: str = "10") -> SecretMetadataStore:
    store = SecretMetadataStore(NS, staleness_seconds=30)
    store.replace(items, version)
    return store


# --- SecretMetadataStore --------------------------------------------------------------------


def test_replace_seeds_contents_and_version() -> None:
    store = seeded(partial("a-app-credentials", "5"), partial("b-app-credentials", "7", "X,Y"))
    assert store.names() == ["a-app-credentials", "b-app-credentials"]
    assert store.resource_version == "10"
    b = store.get("b-app-credentials")
    assert b is not None
    assert b.keys == ("X", "Y")
    assert b.version == "7"


def test_added_modified_deleted_are_applied_in_order() -> None:
    store = seeded()
    assert store.apply(event("ADDED", partial("a-app-credentials", "11"))) == "applied"
    assert store.apply(event("MODIFIED", partial("a-app-credentials", "12", "TOKEN,USER"))) == (
        "applied"
    )
    a = store.get("a-app-credentials")
    assert a is not None
    assert a.keys == ("TOKEN", "USER")
    assert a.version == "12"
    assert store.resource_version == "12"
    assert store.apply(event("DELETED", partial("a-app-credentials", "13"))) == "applied"
    assert store.get("a-app-credentials") is None
    assert store.resource_version == "13"


def test_delete_of_unknown_secret_is_harmless() -> None:
    store = seeded()
    assert store.apply(event("DELETED", partial("x-app-credentials", "11"))) == "applied"
    assert store.names() == []


def test_bookmark_moves_version_only() -> None:
    store = seeded(partial("a-app-credentials", "5"))
    bookmark = {"kind": "PartialObjectMetadata", "metadata": {"resourceVersion": "99"}}
    assert store.apply(event("BOOKMARK", bookmark)) == "bookmark"
    assert store.resource_version == "99"
    assert store.names() == ["a-app-credentials"]


def test_error_410_is_expired_other_errors_are_errors() -> None:
    store = seeded()
    gone = {"kind": "Status", "code": 410, "reason": "Expired"}
    assert store.apply(event("ERROR", gone)) == "expired"
    assert store.apply(event("ERROR", {"kind": "Status", "code": 500})) == "error"
    assert store.resource_version == "10"


def test_unknown_or_nameless_events_are_ignored() -> None:
    store = seeded()
    assert store.apply(event("SOMETHING", partial("a-app-credentials", "11"))) == "ignored"
    assert store.apply({"type": "ADDED", "object": {"metadata": {}}}) == "ignored"
    assert store.names() == []


def test_foreign_secret_keys_unknown() -> None:
    store = seeded(partial("tls-app-secret", "5", keys=None, managed=False))
    meta = store.get("tls-app-secret")
    assert meta is not None
    assert meta.keys_known is False


def test_freshness_needs_seed_and_bounded_disconnection() -> None:
    store = SecretMetadataStore(NS, staleness_seconds=30)
    assert not store.is_fresh(0)
    store.replace([], "1")
    assert store.is_fresh(0)
    store.disconnected(100)
    store.disconnected(120)  # the first moment of breakage counts
    assert store.is_fresh(129.9)
    assert not store.is_fresh(130)
    store.connected()
    assert store.is_fresh(1000)


def test_expired_is_not_fresh_until_relisted() -> None:
    store = seeded()
    store.expired()
    assert not store.is_fresh(0)
    store.replace([partial("a-app-credentials", "20")], "21")
    assert store.is_fresh(0)


def test_backoff_doubles_and_is_bounded() -> None:
    assert list(itertools.islice(backoff_delays(0.2, 1.0), 6)) == [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_watch_lookup_answers_none_until_seeded() -> None:
    now = [0.0]
    watch = NamespaceWatch(_no_client, NS, staleness_seconds=5, clock=lambda: now[0])
    assert watch.lookup(["a-app-credentials"]) is None
    watch.store.replace([partial("a-app-credentials", "3")], "3")
    found = watch.lookup(["a-app-credentials", "b-app-credentials"])
    assert found is not None
    assert found["b-app-credentials"] is None
    watch.store.disconnected(0)
    now[0] = 5
    assert watch.lookup(["a-app-credentials"]) is None


def _no_client() -> Any:
    raise AssertionError("unit tests make no requests")


# --- the pre-flight reader --------------------------------------------------------------------


class CountingLocal(LocalSecretsPlugin):
    """The local backend, counting direct reads."""

    lists = 0
    describes = 0

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        self.lists += 1
        return super().list_secrets(namespace)

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        self.describes += 1
        return super().describe_secret(name, namespace)


class FixedCache(MetadataCache):
    """A cache whose answers are given (no watch thread)."""

    def __init__(self, answers: Mapping[str, SecretMetadata | None] | None) -> None:
        super().__init__(_no_client)
        self.answers = answers

    def lookup(
        self, namespace: str, names: Iterable[str]
    ) -> dict[str, SecretMetadata | None] | None:
        if self.answers is None:
            return None
        return {name: self.answers.get(name) for name in names}


@pytest.fixture
def local(tmp_path: Path) -> CountingLocal:
    plugin = CountingLocal(path=tmp_path)
    plugin.create_secret("a-app-credentials", NS, {"TOKEN": "t-a"})
    return plugin


def cached(name: str, keys: Sequence[str], *, known: bool = True) -> SecretMetadata:
    return SecretMetadata(
        name=name,
        namespace=NS,
        backend="k8s",
        keys=tuple(keys),
        version="1",
        keys_known=known,
    )


def test_not_synced_reads_directly(local: CountingLocal) -> None:
    reader = PreflightReader(local, cache=FixedCache(None))
    assert set(reader.secrets_metadata(NS, {"a-app-credentials": ("TOKEN",)})) == {
        "a-app-credentials"
    }
    assert local.lists == 1


def test_synced_cache_answers_without_a_read(local: CountingLocal) -> None:
    answer = cached("a-app-credentials", ["TOKEN"])
    reader = PreflightReader(local, cache=FixedCache({"a-app-credentials": answer}))
    assert reader.secrets_metadata(NS, {"a-app-credentials": ("TOKEN",)}) == {
        "a-app-credentials": answer
    }
    assert local.lists == 0


def test_missing_in_cache_is_rechecked_directly(local: CountingLocal) -> None:
    reader = PreflightReader(local, cache=FixedCache({}))
    found = reader.secrets_metadata(NS, {"a-app-credentials": (), "nope-app-credentials": ()})
    assert set(found) == {"a-app-credentials"}
    assert local.lists == 1  # one LIST re-checks every doubtful name


def test_key_missing_in_cache_is_rechecked_directly(local: CountingLocal) -> None:
    local.update_secret("a-app-credentials", NS, {"USER": "u-a"}, merge=True)
    stale = cached("a-app-credentials", ["TOKEN"])
    reader = PreflightReader(local, cache=FixedCache({"a-app-credentials": stale}))
    found = reader.secrets_metadata(NS, {"a-app-credentials": ("TOKEN", "USER")})
    assert found["a-app-credentials"].keys == ("TOKEN", "USER")
    assert local.lists == 1


def test_foreign_secret_with_required_keys_is_described(local: CountingLocal) -> None:
    foreign = cached("a-app-credentials", [], known=False)
    reader = PreflightReader(local, cache=FixedCache({"a-app-credentials": foreign}))
    found = reader.secrets_metadata(NS, {"a-app-credentials": ("TOKEN",)})
    assert found["a-app-credentials"].keys == ("TOKEN",)
    assert (local.lists, local.describes) == (0, 1)


def test_needs_recheck() -> None:
    assert needs_recheck(None, ())
    assert not needs_recheck(cached("a-app-credentials", ["K"]), ("K",))
    assert needs_recheck(cached("a-app-credentials", ["K"]), ("K", "L"))
    assert not needs_recheck(cached("a-app-credentials", [], known=False), ("K",))


def test_non_kubernetes_plugin_gets_no_cache(local: CountingLocal) -> None:
    reader = PreflightReader.for_plugin(local)
    assert reader.cache is None
    reader.close()
