"""One JSON request to the Kubernetes API, shared by the backends that talk to it.

The Secrets backend and the External Secrets Operator backend both call ``ApiClient.call_api``
directly (raw JSON in and out, no model classes): with a timeout on every attempt, bounded
retries of transient failures only, the connection always released, and the client's exception
turned into our error by the caller's ``on_error`` (each backend names its own objects).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from floe_dagster_secrets.backends._retry import RetryPolicy, RetryStats, call_with_retry

METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
"""Ask for one object's metadata only (GET, WATCH events): ``data`` never crosses the wire."""
METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
"""Ask for a list of metadata only: names, labels, annotations, versions; never a value."""

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from floe_dagster_secrets.errors import FloeSecretsError


def call_json(
    api: ApiClient,
    method: str,
    path: str,
    *,
    timeout: tuple[float, float],
    policy: RetryPolicy,
    on_error: Callable[[BaseException, int], FloeSecretsError],
    body: Mapping[str, Any] | None = None,
    query: list[tuple[str, Any]] | None = None,
    accept: str = "application/json",
    content_type: str = "application/json",
) -> dict[str, Any]:
    """The JSON answer of one request, or ``on_error(exception, attempts)`` raised from it."""
    stats = RetryStats()

    def attempt() -> dict[str, Any]:
        response = api.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": accept, "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,  # kubernetes<36 returns a tuple without it
            _request_timeout=timeout,
        )
        try:
            raw = response.data
            parsed = json.loads(raw) if raw else {}
            return parsed if isinstance(parsed, dict) else {}
        finally:
            response.release_conn()

    try:
        return call_with_retry(attempt, policy=policy, stats=stats)
    except Exception as e:
        if not is_client_error(e):
            raise
        raise on_error(e, stats.attempts) from e


def is_client_error(error: BaseException) -> bool:
    """Errors that come from talking to the apiserver (translated), not from our own code."""
    import urllib3.exceptions
    from kubernetes.client.exceptions import ApiException

    return isinstance(error, ApiException | urllib3.exceptions.HTTPError | OSError)
