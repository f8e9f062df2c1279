"""Pure parts of a write whose outcome is uncertain: which failures, "as written", where to look.

The behaviour against the real apiserver (a write applied while its answer was lost) is tested in
``tests/integration/test_fault_matrix_writes.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import urllib3.exceptions as ux
from kubernetes.client.exceptions import ApiException

from floe_dagster_secrets.backends._retry import may_have_acted
from floe_dagster_secrets.errors import BackendUnavailableError
from floe_dagster_secrets.kube.http import as_written, kubectl_target, outcome_unknown


def status(code: int) -> ApiException:
    return ApiException(status=code, reason="x")


@pytest.mark.parametrize(
    ("error", "acted"),
    [
        (ux.ReadTimeoutError(None, "/x", "read timed out"), True),  # may have been applied
        (ux.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")), True),
        (status(500), True),
        (status(502), True),
        (status(503), True),
        (status(504), True),
        (status(429), False),  # refused before any handling
        (ConnectionRefusedError(111, "Connection refused"), False),
        (ux.NewConnectionError(None, "Connection refused"), False),
        (ux.ConnectTimeoutError(None, "timed out"), False),
        (status(404), False),  # an answer, not a transient failure
        (status(409), False),
    ],
)
def test_which_failures_may_have_followed_the_write(error: BaseException, acted: bool) -> None:
    assert may_have_acted(error) is acted


SECRET_BODY: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "db",
        "namespace": "jobs",
        "resourceVersion": "7",  # the one the update read: the server's is newer
        "labels": {"app.kubernetes.io/managed-by": "floe"},
        "annotations": {"floe.dev/keys": "A,B"},
    },
    "type": "Opaque",
    "data": {"A": "YQ==", "B": "Yg=="},
}


def live_secret(**changes: Any) -> dict[str, Any]:
    live: dict[str, Any] = {
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "resourceVersion": "8",
            "uid": "u",
            "labels": {"app.kubernetes.io/managed-by": "floe", "extra": "kept"},
            "annotations": {"floe.dev/keys": "A,B"},
            "managedFields": [],
        },
        "type": "Opaque",
        "data": {"A": "YQ==", "B": "Yg=="},
    }
    live.update(changes)
    return live


def test_a_secret_as_written() -> None:
    assert as_written(SECRET_BODY, live_secret())


def test_a_secret_with_other_data_is_not_as_written() -> None:
    assert not as_written(SECRET_BODY, live_secret(data={"A": "YQ=="}))
    assert not as_written(SECRET_BODY, live_secret(data={"A": "YQ==", "B": "Yg==", "C": "Yw=="}))
    assert not as_written(SECRET_BODY, live_secret(data={"A": "YQ==", "B": "eA=="}))


def test_an_annotation_the_write_set_must_be_there() -> None:
    live = live_secret()
    live["metadata"]["annotations"] = {}
    assert not as_written(SECRET_BODY, live)


def test_server_defaults_around_what_was_written_are_allowed() -> None:
    body = {
        "spec": {"refreshInterval": "1h", "data": [{"secretKey": "A", "remoteRef": {"key": "k"}}]}
    }
    live = {
        "kind": "ExternalSecret",
        "spec": {
            "refreshInterval": "1h",
            "refreshPolicy": "Periodic",
            "data": [
                {"secretKey": "A", "remoteRef": {"key": "k", "conversionStrategy": "Default"}}
            ],
        },
    }
    assert as_written(body, live)
    live["spec"]["data"][0]["remoteRef"]["key"] = "other"
    assert not as_written(body, live)


def test_a_merge_patch_null_means_absent() -> None:
    patch = {"metadata": {"annotations": {"force-sync": None}}}
    assert as_written(patch, {"metadata": {"annotations": {}}})
    assert not as_written(patch, {"metadata": {"annotations": {"force-sync": "1"}}})


def test_no_body_is_never_as_written() -> None:
    assert not as_written(None, live_secret())


@pytest.mark.parametrize(
    ("path", "name", "body", "target"),
    [
        ("/api/v1/namespaces/jobs/secrets/db", "db", None, "secrets db"),
        ("/api/v1/namespaces/jobs/secrets", None, {"metadata": {"name": "db"}}, "secrets db"),
        (
            "/apis/external-secrets.io/v1/namespaces/jobs/externalsecrets/db",
            "db",
            None,
            "externalsecrets.external-secrets.io db",
        ),
        (
            "/apis/external-secrets.io/v1/clustersecretstores/vault",
            None,
            None,
            "clustersecretstores.external-secrets.io vault",
        ),
    ],
)
def test_kubectl_target(path: str, name: str | None, body: Any, target: str) -> None:
    assert kubectl_target(path, name, body) == target


def test_outcome_unknown_keeps_the_error_and_says_how_to_look() -> None:
    base = BackendUnavailableError(
        "The Kubernetes API answered 504 (x) to create secret 'db', 4 time(s)",
        fix="wait and retry",
        backend="k8s",
        secret="db",
        namespace="jobs",
    )
    error = outcome_unknown(base, "POST", "/api/v1/namespaces/jobs/secrets", read_back=True)
    assert type(error) is BackendUnavailableError
    assert (error.backend, error.secret, error.namespace) == ("k8s", "db", "jobs")
    assert "may have applied the create before its answer was lost" in error.problem
    assert "did not show when read back" in error.problem
    assert error.fix.startswith("check whether it was applied (`kubectl get secrets db -n jobs`)")
