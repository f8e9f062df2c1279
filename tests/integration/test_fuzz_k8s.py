"""A smaller fuzz of the Kubernetes backend against the real apiserver.

floe checks names, keys and sizes with the apiserver's own rules before any request; this proves
the two agree on fuzzed input: what floe's checks accept, the apiserver stores and floe reads back
unchanged; what they refuse never reaches the apiserver and is our error, naming no value.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from floe_dagster_secrets.backends import validation
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.errors import FloeSecretsError
from floe_dagster_secrets.types import reveal_all
from tests.servers import KubeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

_NAMES = st.one_of(
    st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?(\.[a-z0-9]{1,8})?\Z"),
    st.sampled_from(["UPPER", "a_b", "-a", "a-", "a..b", "x" * 254, "ok.name", "a/b", ""]),
    st.text(max_size=20),
)
_KEYS = st.one_of(
    st.from_regex(r"\A[-._a-zA-Z0-9]{1,20}\Z"),
    st.sampled_from([".", "..", "..x", "a b", "a=b", "K" * 254, "K" * 253, "1KEY"]),
    st.text(max_size=10),
)
_VALUES = st.one_of(
    st.just(""),
    st.text(max_size=100),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "So"]), max_size=10),
    st.integers(1024 * 1024 - 2, 1024 * 1024 + 2).map(lambda n: "v" * n),
)

K8S_FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _accepted_locally(name: str, data: dict[str, str], namespace: str) -> bool:
    try:
        validation.check_secret_name(name, namespace, backend="k8s")
        validation.check_secret_data(name, namespace, data, backend="k8s")
    except FloeSecretsError:
        return False
    return True


@K8S_FUZZ
@given(name=_NAMES, data=st.dictionaries(_KEYS, _VALUES, max_size=3))
def test_what_floe_accepts_the_apiserver_stores_and_floe_reads_back(
    kube_apiserver: KubeApiServer, k8s_namespace: str, name: str, data: dict[str, str]
) -> None:
    plugin = K8sSecretsPlugin(api_client=kube_apiserver.api_client())
    expected_ok = _accepted_locally(name, data, k8s_namespace)
    outcome: Any
    try:
        outcome = plugin.create_secret(name, k8s_namespace, data)
    except FloeSecretsError as e:
        outcome = e
    event("stored" if not isinstance(outcome, FloeSecretsError) else "refused")
    if not expected_ok:
        assert isinstance(outcome, FloeSecretsError)
        assert "Fix: " in str(outcome)
        for value in data.values():
            if len(value) >= 8:
                assert value not in str(outcome)
        return
    assert not isinstance(outcome, FloeSecretsError), outcome
    try:
        assert reveal_all(plugin.get_secret(name, k8s_namespace)) == data
        assert plugin.describe_secret(name, k8s_namespace).keys == tuple(sorted(data))
    finally:
        plugin.delete_secret(name, k8s_namespace)
