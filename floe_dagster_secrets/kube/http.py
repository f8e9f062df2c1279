"""One JSON request to the Kubernetes API, shared by the backends that talk to it.

The Secrets backend and the External Secrets Operator backend both call ``ApiClient.call_api``
directly (raw JSON in and out, no model classes): with a timeout on every attempt, bounded
retries of transient failures only, the connection always released, and the client's exception
turned into our error by the caller's ``on_error`` (each backend names its own objects).

Writes need one more step. A read timeout, a dropped connection or a 5xx can come *after* the
apiserver applied a write (the answer was lost, or a proxy stopped waiting), and the retry then
meets the write's own result: a create gets 409 AlreadyExists, an update carrying the old
``resourceVersion`` 409 Conflict, a delete 404. Retrying is still safe, since every write floe
sends is conditional (a create by name, an update by ``resourceVersion``, a delete by name) or
idempotent (server-side apply, a merge patch), so none can be applied twice. What is unsafe is
believing that last answer. So when a write's attempt failed in a way that may have followed its
success (:func:`~floe_dagster_secrets.backends._retry.may_have_acted`) and the write still
failed, the object is read once: if it is as written (or, for a delete, gone), the write
succeeded and its object is returned; otherwise the error is the real one, and if the last
failure itself may have followed the write, it says so and how to check
(``kubectl get secrets NAME -n NS``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from floe_dagster_secrets.backends._retry import (
    RetryPolicy,
    RetryStats,
    call_with_retry,
    http_status,
    is_transient,
    may_have_acted,
)

METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
"""Ask for one object's metadata only (GET, WATCH events): ``data`` never crosses the wire."""
METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
"""Ask for a list of metadata only: names, labels, annotations, versions; never a value."""

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from floe_dagster_secrets.errors import FloeSecretsError

WRITES: Mapping[str, str] = {
    "POST": "create",
    "PUT": "update",
    "PATCH": "change",
    "DELETE": "delete",
}
"""Methods that change an object, and the word for what each does."""


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
    """The JSON answer of one request, or ``on_error(exception, attempts)`` raised from it.

    A write that failed after an attempt that may have been applied is confirmed by reading the
    object (see the module docstring): its object is returned when it is as written.
    """
    stats = RetryStats()
    dry_run = any(name == "dryRun" for name, _ in query or ())
    write = method in WRITES and not dry_run
    uncertain: list[BaseException] = []  # failed attempts that may have followed the write

    def retryable(error: BaseException) -> bool:
        if not is_transient(error):
            return False
        if write and may_have_acted(error):
            uncertain.append(error)
        return True

    def attempt() -> dict[str, Any]:
        return _request(api, method, path, timeout, body, query, accept, content_type)

    try:
        return call_with_retry(attempt, policy=policy, retryable=retryable, stats=stats)
    except Exception as e:
        if not is_client_error(e):
            raise
        error = on_error(e, stats.attempts)
        if write and (uncertain or may_have_acted(e)):
            applied, seen = _applied(api, method, path, body, timeout)
            if applied is not None:
                return applied
            if may_have_acted(e) or not seen:
                # the last answer is not the write's fate, and the object could not tell
                error = outcome_unknown(error, method, path, body, read_back=seen)
        raise error from e


def _request(
    api: ApiClient,
    method: str,
    path: str,
    timeout: tuple[float, float],
    body: Mapping[str, Any] | None = None,
    query: list[tuple[str, Any]] | None = None,
    accept: str = "application/json",
    content_type: str = "application/json",
) -> dict[str, Any]:
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


def _object_path(method: str, path: str, body: Mapping[str, Any] | None) -> str | None:
    """The path of the object a write is about (a create's path is its collection's)."""
    if method != "POST":
        return path
    name = ((body or {}).get("metadata") or {}).get("name")
    return f"{path.rstrip('/')}/{quote(str(name), safe='')}" if name else None


def _applied(
    api: ApiClient,
    method: str,
    path: str,
    body: Mapping[str, Any] | None,
    timeout: tuple[float, float],
) -> tuple[dict[str, Any] | None, bool]:
    """The object if the write is visibly applied (``{}`` for a delete), and whether it was read.

    One read, no retry: it only decides between "done", "not done (as read)" and "not known".
    """
    target = _object_path(method, path, body)
    if target is None:
        return None, False
    try:
        live = _request(api, "GET", target, timeout)
    except Exception as e:
        if http_status(e) == 404:
            # gone: a delete is done (whoever's attempt did it), anything else is not applied
            return ({} if method == "DELETE" else None), True
        return None, False
    if method == "DELETE":
        return ({} if (live.get("metadata") or {}).get("deletionTimestamp") else None), True
    return (live if as_written(body, live) else None), True


def as_written(body: Mapping[str, Any] | None, live: Mapping[str, Any]) -> bool:
    """Whether ``live`` holds what ``body`` (an object or a merge patch) wrote.

    Labels and annotations must be present with the values written; other metadata is the
    server's. A Secret's ``data`` must be exactly the data written (an update replaces it); any
    other field must hold what was written, fields the server defaulted around it allowed.
    """
    if not body or not isinstance(body, Mapping):  # a JSON patch (a list) says no end state
        return False
    for key, wanted in body.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata":
            live_meta = live.get("metadata") or {}
            for part in ("labels", "annotations"):
                if not _contains(live_meta.get(part) or {}, (wanted or {}).get(part) or {}):
                    return False
        elif key == "data" and live.get("kind", "Secret") == "Secret":
            if (live.get("data") or {}) != (wanted or {}):
                return False
        elif not _contains(live.get(key), wanted):
            return False
    return True


def _contains(live: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        return isinstance(live, Mapping) and all(
            (live.get(k) is None) if v is None else (k in live and _contains(live[k], v))
            for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list)
            and len(live) == len(wanted)
            and all(_contains(have, want) for have, want in zip(live, wanted, strict=True))
        )
    return bool(live == wanted)


def kubectl_target(path: str, name: str | None, body: Mapping[str, Any] | None = None) -> str:
    """``RESOURCE NAME`` for ``kubectl get``, from a REST path (and a create's body)."""
    parts = [part for part in path.split("/") if part]
    group = ""
    if parts[:1] == ["apis"] and len(parts) > 2:
        group, rest = parts[1], parts[3:]
    else:
        rest = parts[2:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    resource = (rest[0] if rest else "secrets") + (f".{group}" if group else "")
    named = name or (rest[1] if len(rest) > 1 else ((body or {}).get("metadata") or {}).get("name"))
    return f"{resource} {named}" if named else resource


def outcome_unknown(
    error: FloeSecretsError,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    *,
    read_back: bool = False,
) -> FloeSecretsError:
    """``error``, saying that its write may have been applied and how to look.

    ``read_back``: the object was read after the failure and did not show the write (yet).
    """
    where = f" -n {error.namespace}" if error.namespace else ""
    check = f"kubectl get {kubectl_target(path, error.secret, body)}{where}"
    seen = (
        "it did not show when read back, but may still be applied"
        if read_back
        else "it could not be read back to tell"
    )
    return type(error)(
        f"{error.problem}; the API server may have applied the {WRITES[method]} before its "
        f"answer was lost ({seen})",
        fix=f"check whether it was applied (`{check}`) before repeating it; "
        f"{error.fix.rstrip('.')}",
        backend=error.backend,
        secret=error.secret,
        namespace=error.namespace,
        path=error.path,
    )


def is_client_error(error: BaseException) -> bool:
    """Errors that come from talking to the apiserver (translated), not from our own code."""
    import urllib3.exceptions
    from kubernetes.client.exceptions import ApiException

    return isinstance(error, ApiException | urllib3.exceptions.HTTPError | OSError)
