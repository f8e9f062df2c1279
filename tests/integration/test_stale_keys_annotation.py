"""A floe Secret whose keys were changed with kubectl: the launcher's pre-flight is not fooled.

floe records a Secret's key names in its ``floe.dev/keys`` annotation because metadata-only
reads cannot see ``data``. ``kubectl patch``/``edit`` can remove a key and leave the annotation
listing it. The pre-flight must then report the Secret short of a key (judged by the Table's
key count, saying the annotation is stale), both on the direct LIST and through the launcher's
watch-fed cache (which has no count, but has the apiserver's field tracking).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client as k8s

from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.launcher.pod_env import preflight_errors
from floe_dagster_secrets.launcher.preflight import PreflightReader, secrets_metadata
from tests.servers import KubeApiServer

pytestmark = pytest.mark.integration

NAME = "db-app-credentials"
REQUIRED = {NAME: ("USER", "PASSWORD")}


@pytest.fixture
def plugin(kube_apiserver: KubeApiServer) -> Iterator[K8sSecretsPlugin]:
    """The Kubernetes backend as the launcher uses it (admin credentials, its own client)."""
    plugin = K8sSecretsPlugin(kubeconfig=str(kube_apiserver.admin_kubeconfig))
    try:
        yield plugin
    finally:
        plugin.close()


def remove_key_like_kubectl(api: k8s.ApiClient, namespace: str, key: str) -> None:
    """``kubectl patch secret NAME --type=json -p '[{"op":"remove","path":"/data/KEY"}]'``."""
    k8s.CoreV1Api(api).patch_namespaced_secret(
        NAME, namespace, [{"op": "remove", "path": f"/data/{key}"}]
    )


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until ``check()`` holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not converged within {timeout} s")
        time.sleep(0.02)


def assert_reported_short(found: dict[str, object], namespace: str, canary: str) -> None:
    errors = preflight_errors(REQUIRED, found, namespace=namespace)  # type: ignore[arg-type]
    assert len(errors) == 1, found
    text = str(errors[0])
    assert f"Secret '{NAME}' has 1 key, the manifest requires 2 (USER, PASSWORD)" in text
    assert "floe.dev/keys annotation is stale" in text
    assert canary not in text


def test_direct_preflight_reports_a_key_removed_with_kubectl(
    kube_apiserver: KubeApiServer, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    plugin.create_secret(NAME, k8s_namespace, {"USER": "app", "PASSWORD": canary})
    assert (
        preflight_errors(
            REQUIRED, secrets_metadata(plugin, k8s_namespace, REQUIRED), namespace=k8s_namespace
        )
        == []
    )

    remove_key_like_kubectl(kube_apiserver.api_client(), k8s_namespace, "PASSWORD")

    found = secrets_metadata(plugin, k8s_namespace, REQUIRED)
    assert_reported_short(dict(found), k8s_namespace, canary)
    meta = found[NAME]
    assert (meta.keys_known, meta.key_count, meta.stale_keys) == (False, 1, ("PASSWORD", "USER"))


def test_cached_preflight_does_not_vouch_for_a_stale_annotation(
    kube_apiserver: KubeApiServer, plugin: K8sSecretsPlugin, k8s_namespace: str
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    plugin.create_secret(NAME, k8s_namespace, {"USER": "app", "PASSWORD": canary})
    reader = PreflightReader.for_plugin(plugin)
    assert reader.cache is not None
    try:
        assert set(reader.secrets_metadata(k8s_namespace, REQUIRED)) == {NAME}  # starts the watch
        watch = reader.cache.watch(k8s_namespace)
        assert watch is not None
        wait_for(lambda: (watch.lookup([NAME]) or {}).get(NAME) is not None)
        before = (watch.lookup([NAME]) or {})[NAME]
        assert before is not None
        assert before.version

        remove_key_like_kubectl(kube_apiserver.api_client(), k8s_namespace, "PASSWORD")

        def cache_saw_the_patch() -> bool:
            cached = (watch.lookup([NAME]) or {}).get(NAME)
            return cached is not None and cached.version != before.version

        wait_for(cache_saw_the_patch)
        # the cache answers (it is synced and has seen the patch) ...
        assert reader.cache.lookup(k8s_namespace, [NAME]) is not None
        found = reader.secrets_metadata(k8s_namespace, REQUIRED)
        # ... and it must not pass the Secret on the annotation's word
        assert_reported_short(dict(found), k8s_namespace, canary)
    finally:
        reader.close()
