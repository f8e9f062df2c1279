"""The launcher's watch-fed secret metadata cache against a real kube-apiserver."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.kube.watch import MetadataCache, NamespaceWatch, _Expired
from floe_dagster_secrets.launcher.preflight import PreflightReader
from tests.servers import KubeApiServer

pytestmark = pytest.mark.integration

CONVERGE_SECONDS = 10.0


def wait_for(check: Callable[[], bool], timeout: float = CONVERGE_SECONDS) -> float:
    """Seconds until ``check()`` holds; fails the test after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not converged within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


class Wire:
    """Every raw LIST body and WATCH event line the cache received."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, raw: bytes) -> None:
        with self._lock:
            self.raw.append(raw)

    def objects(self) -> list[dict[str, Any]]:
        """Each object that crossed the wire: LIST items and WATCH event objects."""
        found = []
        with self._lock:
            raws = list(self.raw)
        for raw in raws:
            parsed = json.loads(raw)
            if "items" in parsed:
                found.extend(parsed["items"] or [])
            elif "object" in parsed:
                found.append(parsed["object"])
        return found


@pytest.fixture
def api(kube_apiserver: KubeApiServer) -> Iterator[k8s.ApiClient]:
    client = kube_apiserver.api_client()
    yield client
    client.close()


@pytest.fixture
def plugin(api: k8s.ApiClient) -> K8sSecretsPlugin:
    return K8sSecretsPlugin(api_client=api)


def started_watch(api: k8s.ApiClient, namespace: str, **options: Any) -> NamespaceWatch:
    watch = NamespaceWatch(lambda: api, namespace, **options)
    watch.start()
    wait_for(lambda: watch.lookup([]) is not None and watch.watches >= 1)
    return watch


def test_cache_converges_on_create_update_delete_and_no_data_crosses(
    api: k8s.ApiClient, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    name = "cache-app-credentials"
    canary = f"canary-{uuid.uuid4().hex}"
    plugin.create_secret("seed-app-credentials", k8s_namespace, {"TOKEN": canary})
    wire = Wire()
    watch = started_watch(api, k8s_namespace, observer=wire)
    try:
        seeded = watch.lookup(["seed-app-credentials"])
        assert seeded is not None
        seed = seeded["seed-app-credentials"]
        assert seed is not None
        assert seed.keys == ("TOKEN",)

        plugin.create_secret(name, k8s_namespace, {"USER": canary})
        wait_for(lambda: (watch.lookup([name]) or {}).get(name) is not None)

        plugin.update_secret(name, k8s_namespace, {"PASSWORD": canary}, merge=True)
        wait_for(
            lambda: (
                getattr((watch.lookup([name]) or {}).get(name), "keys", ()) == ("PASSWORD", "USER")
            )
        )
        current = plugin.secret_versions(k8s_namespace)[name]
        cached = (watch.lookup([name]) or {})[name]
        assert cached is not None
        assert cached.version == current

        plugin.delete_secret(name, k8s_namespace)
        wait_for(lambda: (watch.lookup([name]) or {name: 1}).get(name) is None)
        assert watch.lists == 1  # one LIST to seed, events since
    finally:
        watch.stop()
    assert not watch.is_alive()

    objects = wire.objects()
    assert len(objects) >= 4  # seed item(s) + ADDED, MODIFIED, DELETED
    for obj in objects:
        assert obj["kind"] == "PartialObjectMetadata", obj.get("kind")
        assert "data" not in obj
        assert "stringData" not in obj
    encoded = base64.b64encode(canary.encode())
    for raw in wire.raw:
        assert canary.encode() not in raw
        assert encoded not in raw


def test_short_watches_are_reopened_from_the_last_version(
    api: k8s.ApiClient, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    watch = started_watch(api, k8s_namespace, watch_timeout_seconds=1)
    try:
        wait_for(lambda: watch.watches >= 3)  # the apiserver ended two watches
        name = "late-app-credentials"
        plugin.create_secret(name, k8s_namespace, {"TOKEN": "x-late"})
        wait_for(lambda: (watch.lookup([name]) or {}).get(name) is not None)
        assert watch.lists == 1  # re-watched from the version, never re-listed
    finally:
        watch.stop()


class ExpiringWatch(NamespaceWatch):
    """A watch whose apiserver answers the next WATCH with a real-format ``410 Gone`` event.

    A fresh apiserver's watch cache still holds its whole history, so a genuine 410 cannot be
    provoked within a test; the event is fed through the same parsing the stream goes through.
    """

    expire_next = False

    def _watch(self) -> None:
        if self.expire_next:
            self.expire_next = False
            gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
            with self._lock:
                outcome = self.store.apply(json.loads(json.dumps(gone)))
            assert outcome == "expired"
            raise _Expired
        super()._watch()


def test_expired_version_relists(
    api: k8s.ApiClient, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    watch = ExpiringWatch(lambda: api, k8s_namespace, watch_timeout_seconds=1)
    watch.start()
    try:
        wait_for(lambda: watch.lookup([]) is not None and watch.watches >= 1)
        name = "missed-app-credentials"
        watch.expire_next = True  # the open watch ends within 1 s, the next one is Gone
        plugin.create_secret(name, k8s_namespace, {"TOKEN": "x-missed"})
        wait_for(lambda: watch.lists >= 2)  # 410 Gone -> a fresh LIST
        wait_for(lambda: (watch.lookup([name]) or {}).get(name) is not None)
    finally:
        watch.stop()


def test_preflight_reader_uses_cache_and_rechecks_a_secret_the_cache_lacks(
    api: k8s.ApiClient, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    plugin.create_secret("one-app-credentials", k8s_namespace, {"TOKEN": "x-one"})
    reader = PreflightReader.for_plugin(plugin)
    assert reader.cache is not None
    required = {"one-app-credentials": ("TOKEN",)}
    try:
        # first launch in the namespace: the watch starts, the answer is the direct LIST
        assert set(reader.secrets_metadata(k8s_namespace, required)) == {"one-app-credentials"}
        watch = reader.cache.watch(k8s_namespace)
        assert watch is not None
        wait_for(lambda: watch.lookup([]) is not None)

        # the watch lags: events stop reaching the store; a new secret must still pass
        watch.store.apply = lambda event: "ignored"  # type: ignore[method-assign]
        plugin.create_secret("two-app-credentials", k8s_namespace, {"TOKEN": "x-two"})
        both = {**required, "two-app-credentials": ("TOKEN",)}
        found = reader.secrets_metadata(k8s_namespace, both)
        assert set(found) == set(both)
        assert (watch.lookup(["two-app-credentials"]) or {}).get("two-app-credentials") is None

        # a secret that really is missing is still reported missing
        gone = reader.secrets_metadata(k8s_namespace, {"nope-app-credentials": ()})
        assert gone == {}
    finally:
        reader.close()
    assert not any(t.name.startswith("floe-secret-watch-") for t in threading.enumerate())


def test_stale_cache_falls_back_to_the_direct_list(
    api: k8s.ApiClient, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    cache = MetadataCache(lambda: api, staleness_seconds=0.3)
    try:
        assert cache.lookup(k8s_namespace, []) is None  # not synced yet
        watch = cache.watch(k8s_namespace)
        assert watch is not None
        wait_for(lambda: watch.lookup([]) is not None)
        watch.stop()  # the watch is down ...
        assert watch.lookup([]) is not None  # ... trusted within the bound ...
        time.sleep(0.4)
        assert watch.lookup([]) is None  # ... and not beyond it
        # the next lookup restarts a watch for the namespace
        assert cache.lookup(k8s_namespace, []) is None
        restarted = cache.watch(k8s_namespace)
        assert restarted is not None
        assert restarted is not watch
        wait_for(lambda: restarted.lookup([]) is not None)
    finally:
        cache.close()
