"""The fault matrix, writes whose answer is lost: the apiserver applied them, the client gave up.

A write can fail on the client's side *after* the apiserver carried it out (its answer is late or
lost, a proxy gives up waiting). The retry then meets the write's own result (409 for a create
or an update carrying the old ``resourceVersion``, 404 for a delete), and before the fix that
answer was reported as the write's failure, with wrong advice ("already exists, use rotate").
Here the fault proxy holds the first write until the client's read timeout fired, then forwards
it to the real apiserver, which applies it; the retry comes after that. Each write must end as
what it is: done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from floe_dagster_secrets.backends._retry import RetryPolicy
from floe_dagster_secrets.errors import BackendUnavailableError, SecretNotFoundError
from floe_dagster_secrets.types import reveal_all
from tests.integration.fault_helpers import (
    READ_TIMEOUT,
    FastK8s,
    apiserver_proxy,
    canary,
    kubeconfig_via,
    unique,
)
from tests.servers import KubeApiServer
from tests.servers.fault_proxy import FaultProxy, answer, delay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

LATE = delay(READ_TIMEOUT + 0.3)
"""Forwarded to the apiserver only after the client's read timeout fired: applied, answer lost."""


class PatientK8s(FastK8s):
    """Waits longer between attempts than :data:`LATE` holds a request, so the late write has
    reached the apiserver before the retry does (the order of a real lost answer)."""

    retry_policy = RetryPolicy(attempts=3, max_seconds=30.0, initial_wait=2.5, max_wait=3.0)


@pytest.fixture
def k8s_proxy(kube_apiserver: KubeApiServer) -> Iterator[FaultProxy]:
    proxy = apiserver_proxy(kube_apiserver)
    yield proxy
    proxy.stop()


@contextmanager
def plugin_via(
    kube_apiserver: KubeApiServer, proxy: FaultProxy, tmp_path: Path
) -> Iterator[PatientK8s]:
    plugin = PatientK8s(kubeconfig=str(kubeconfig_via(kube_apiserver, proxy.url, tmp_path)))
    try:
        yield plugin
    finally:
        plugin.close()


def faults(proxy: FaultProxy, method: str, path: str) -> list[str]:
    return [str(seen.fault) for seen in proxy.requests(path) if seen.method == method]


def test_a_create_whose_answer_is_lost_is_reported_created(
    kube_apiserver: KubeApiServer, k8s_proxy: FaultProxy, k8s_namespace: str, tmp_path: Path
) -> None:
    name, value = unique("lost-create"), canary()
    with plugin_via(kube_apiserver, k8s_proxy, tmp_path) as plugin:
        k8s_proxy.fail_next(1, LATE, path=r"/secrets$", method="POST")
        meta = plugin.create_secret(name, k8s_namespace, {"TOKEN": value})
        assert (meta.name, meta.keys) == (name, ("TOKEN",))
        assert reveal_all(plugin.get_secret(name, k8s_namespace)) == {"TOKEN": value}
    # the late create was applied, the retry met its 409, and a read showed it as written
    assert faults(k8s_proxy, "POST", r"/secrets$") == [str(LATE), "pass"]


def test_an_update_whose_answer_is_lost_is_reported_updated(
    kube_apiserver: KubeApiServer, k8s_proxy: FaultProxy, k8s_namespace: str, tmp_path: Path
) -> None:
    name, old, new = unique("lost-update"), canary(), canary()
    with plugin_via(kube_apiserver, k8s_proxy, tmp_path) as plugin:
        plugin.create_secret(name, k8s_namespace, {"K": old})
        k8s_proxy.fail_next(1, LATE, path=f"/secrets/{name}$", method="PUT")
        plugin.update_secret(name, k8s_namespace, {"K": new})
        assert reveal_all(plugin.get_secret(name, k8s_namespace)) == {"K": new}
    assert faults(k8s_proxy, "PUT", f"/secrets/{name}$") == [str(LATE), "pass"]


def test_a_delete_whose_answer_is_lost_is_reported_deleted(
    kube_apiserver: KubeApiServer, k8s_proxy: FaultProxy, k8s_namespace: str, tmp_path: Path
) -> None:
    name = unique("lost-delete")
    with plugin_via(kube_apiserver, k8s_proxy, tmp_path) as plugin:
        plugin.create_secret(name, k8s_namespace, {"K": canary()})
        k8s_proxy.fail_next(1, LATE, path=f"/secrets/{name}$", method="DELETE")
        plugin.delete_secret(name, k8s_namespace)
        with pytest.raises(SecretNotFoundError):
            plugin.describe_secret(name, k8s_namespace)
    assert faults(k8s_proxy, "DELETE", f"/secrets/{name}$") == [str(LATE), "pass"]


def test_a_write_that_keeps_failing_ambiguously_says_it_may_have_been_applied(
    kube_apiserver: KubeApiServer, k8s_proxy: FaultProxy, k8s_namespace: str, tmp_path: Path
) -> None:
    name, value = unique("unknown-create"), canary()
    attempts = PatientK8s.retry_policy.attempts
    with plugin_via(kube_apiserver, k8s_proxy, tmp_path) as plugin:
        k8s_proxy.fail_next(attempts, answer(504), path=r"/secrets$", method="POST")
        with pytest.raises(BackendUnavailableError) as caught:
            plugin.create_secret(name, k8s_namespace, {"TOKEN": value})
    text = str(caught.value)
    assert "answered 504" in text
    assert "the API server may have applied the create before its answer was lost" in text
    assert f"kubectl get secrets {name} -n {k8s_namespace}" in text
    assert value not in text
    assert faults(k8s_proxy, "POST", r"/secrets$") == ["answer 504"] * attempts
    # the read back went to the real apiserver, which has no such secret (the proxy made up 504)
    assert faults(k8s_proxy, "GET", f"/secrets/{name}$") == ["pass"]
