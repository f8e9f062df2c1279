"""``K8sSecretsPlugin`` and the retry helper through the transport seam, without a server.

The plugin takes its ``ApiClient`` (``api_client=``) and sends every request through its one
method, ``call_api``; :class:`ScriptedApiClient` stands in for that transport only, answering
from a script and recording each request. What is checked is floe's own logic: the request a
call makes (path, verb, Accept header, body), what comes back (decoded, masked values; metadata),
and that transient failures are retried while a 404 is not. The behaviour against a real
apiserver is ``tests/integration/test_k8s_backend.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from kubernetes.client.exceptions import ApiException

from floe_dagster_secrets.backends._retry import RetryPolicy
from floe_dagster_secrets.backends.kubernetes import K8sSecretsPlugin
from floe_dagster_secrets.errors import BackendUnavailableError, SecretNotFoundError
from floe_dagster_secrets.kube.http import METADATA_LIST_ACCEPT
from floe_dagster_secrets.masking import get_masker

NS = "floe-jobs"
NO_WAIT = RetryPolicy(attempts=4, initial_wait=0.0, max_wait=0.0, jitter=0.0)


@dataclass
class _Response:
    data: bytes

    def release_conn(self) -> None:
        """What urllib3's response needs after ``_preload_content=False``."""


@dataclass
class _Configuration:
    host: str = "https://apiserver.invalid:6443"  # named in connection errors


@dataclass
class ScriptedApiClient:
    """The transport: each ``call_api`` returns or raises the next scripted answer."""

    answers: list[Callable[[dict[str, Any]], Any]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    configuration: Any = field(default_factory=lambda: _Configuration())

    def call_api(self, path: str, method: str, **kwargs: Any) -> _Response:
        request = {"path": path, "method": method, **kwargs}
        self.requests.append(request)
        answer = self.answers.pop(0)(request)
        return _Response(json.dumps(answer).encode())

    def close(self) -> None:
        """The plugin closes only clients it created; never called here."""


def ok(body: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    return lambda request: body


def status(code: int, reason: str = "") -> Callable[[dict[str, Any]], Any]:
    def fail(request: dict[str, Any]) -> Any:
        error = ApiException(status=code, reason=reason or "scripted")
        error.body = json.dumps({"kind": "Status", "code": code, "reason": reason})
        raise error

    return fail


class _Plugin(K8sSecretsPlugin):
    retry_policy: ClassVar[RetryPolicy] = NO_WAIT


def _secret(name: str, data: dict[str, str], version: str = "7") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "resourceVersion": version},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_create_posts_an_opaque_secret_with_floes_label_and_key_annotation() -> None:
    created = _secret("app-dev-credentials", {"TOKEN": "t0k3n-value-1"})
    client = ScriptedApiClient([ok(created)])
    meta = _Plugin(api_client=client).create_secret(  # type: ignore[arg-type]
        "app-dev-credentials", NS, {"TOKEN": "t0k3n-value-1"}
    )
    (request,) = client.requests
    assert (request["method"], request["path"]) == ("POST", f"/api/v1/namespaces/{NS}/secrets")
    body = request["body"]
    assert body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "floe"}
    assert body["metadata"]["annotations"] == {"floe.dev/keys": "TOKEN"}
    assert base64.b64decode(body["data"]["TOKEN"]).decode() == "t0k3n-value-1"
    assert meta.keys == ("TOKEN",)
    assert meta.version == "7"


def test_get_decodes_and_masks_the_values(fresh_masker: None) -> None:
    client = ScriptedApiClient([ok(_secret("app-dev-credentials", {"TOKEN": "s3cr3t-transport"}))])
    data = _Plugin(api_client=client).get_secret("app-dev-credentials", NS)  # type: ignore[arg-type]
    assert data["TOKEN"].reveal() == "s3cr3t-transport"
    assert "s3cr3t-transport" not in repr(data)
    assert get_masker().redact("x s3cr3t-transport y") != "x s3cr3t-transport y"


def test_listing_asks_for_metadata_only() -> None:
    listing = {"items": [{"metadata": {"name": "a-dev-credentials", "resourceVersion": "3"}}]}
    client = ScriptedApiClient([ok(listing)])
    versions = _Plugin(api_client=client).secret_versions(NS)  # type: ignore[arg-type]
    assert versions == {"a-dev-credentials": "3"}
    assert client.requests[0]["header_params"]["Accept"] == METADATA_LIST_ACCEPT


def test_transient_failures_are_retried_then_succeed() -> None:
    client = ScriptedApiClient(
        [status(503), status(429), ok(_secret("app-dev-credentials", {"K": "v-transient"}))]
    )
    data = _Plugin(api_client=client).get_secret("app-dev-credentials", NS)  # type: ignore[arg-type]
    assert data["K"].reveal() == "v-transient"
    assert len(client.requests) == 3


def test_a_404_is_an_answer_not_retried() -> None:
    client = ScriptedApiClient([status(404, "NotFound"), ok({})])
    with pytest.raises(SecretNotFoundError, match="app-dev-credentials"):
        _Plugin(api_client=client).get_secret("app-dev-credentials", NS)  # type: ignore[arg-type]
    assert len(client.requests) == 1


def test_retries_are_bounded_and_the_error_says_how_many() -> None:
    client = ScriptedApiClient([status(503)] * 4)
    with pytest.raises(BackendUnavailableError) as info:
        _Plugin(api_client=client).get_secret("app-dev-credentials", NS)  # type: ignore[arg-type]
    assert len(client.requests) == NO_WAIT.attempts
    assert "4" in str(info.value)
