"""Secret metadata per namespace, kept current by a Kubernetes WATCH (informer-style).

The pre-flight check needs, per launch, which referenced secrets exist and with which keys. One
metadata-only LIST per launch costs a round trip to the apiserver; this cache pays it once per
namespace: a metadata-only LIST seeds it (with the list's ``resourceVersion``), then a WATCH from
that version applies every ADDED/MODIFIED/DELETED event. Both requests ask for
``PartialObjectMetadata``, so names, labels, annotations and versions cross the wire and ``data``
never does.

- :class:`SecretMetadataStore` is the pure part: event application, the version to resume
  from, and whether the contents can be trusted (synced, and not disconnected for longer than
  the staleness bound). Unit-tested without a server.
- :class:`NamespaceWatch` runs LIST + WATCH in a daemon thread: ``410 Gone`` (as a status or an
  ERROR event) re-lists, a dropped connection re-watches after a bounded exponential backoff.
- :class:`MetadataCache` holds one watch per namespace, started lazily by the first lookup and
  stopped by :meth:`MetadataCache.close` (the launcher's ``dispose``).

The cache is an optimisation, never the authority: a lookup answers ``None`` until the first
LIST is in and again once the watch has been down longer than the bound, and the caller then
reads the apiserver directly (see :mod:`floe_dagster_secrets.launcher.preflight`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from floe_dagster_secrets.kube import objects
from floe_dagster_secrets.kube.http import METADATA_ACCEPT, METADATA_LIST_ACCEPT
from floe_dagster_secrets.types import SecretMetadata

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

METADATA_WATCH_ACCEPT = METADATA_ACCEPT
"""Watch events carry ``PartialObjectMetadata``: no ``data``, so no value is ever transferred."""

DEFAULT_STALENESS_SECONDS = 30.0
"""How long a broken watch's contents are still trusted (missing secrets are re-read anyway)."""
DEFAULT_WATCH_TIMEOUT_SECONDS = 300
"""Server-side ``timeoutSeconds`` of one WATCH request; it is re-opened from the last version."""

Outcome = Literal["applied", "bookmark", "expired", "error", "ignored"]

_log = logging.getLogger(__name__)
_GONE = 410


class SecretMetadataStore:
    """What one namespace's secrets look like, as metadata, plus how far it can be trusted.

    Pure: no I/O, and time is passed in (``now``, monotonic seconds). Not thread-safe on its own;
    :class:`NamespaceWatch` locks around it.
    """

    def __init__(self, namespace: str, *, staleness_seconds: float = DEFAULT_STALENESS_SECONDS):
        self.namespace = namespace
        self.staleness_seconds = staleness_seconds
        self.resource_version = ""
        self._items: dict[str, SecretMetadata] = {}
        self._synced = False
        self._broken_since: float | None = None

    # --- contents -----------------------------------------------------------------------------

    def replace(self, items: Iterable[Mapping[str, Any]], resource_version: str) -> None:
        """Take a LIST's items and its ``resourceVersion`` as the whole truth (seed or re-list)."""
        self._items = {}
        for obj in items:
            meta = objects.metadata_from_object(obj, self.namespace)
            self._items[meta.name] = meta
        self.resource_version = resource_version
        self._synced = True

    def apply(self, event: Mapping[str, Any]) -> Outcome:
        """Apply one watch event; say what it was so the watch loop knows what to do next.

        ``expired`` (an ERROR event with status 410) means the version to resume from is gone:
        re-list. ``error`` is any other ERROR event: re-watch.
        """
        kind = event.get("type")
        obj: Mapping[str, Any] = event.get("object") or {}
        if kind == "ERROR":
            return "expired" if obj.get("code") == _GONE else "error"
        meta: Mapping[str, Any] = obj.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "")
        if kind == "BOOKMARK":
            if version:
                self.resource_version = version
            return "bookmark"
        if kind not in ("ADDED", "MODIFIED", "DELETED") or not meta.get("name"):
            return "ignored"
        name = str(meta["name"])
        if kind == "DELETED":
            self._items.pop(name, None)
        else:
            self._items[name] = objects.metadata_from_object(obj, self.namespace)
        if version:
            self.resource_version = version
        return "applied"

    def get(self, name: str) -> SecretMetadata | None:
        """The secret's metadata, or ``None`` if the store has not seen it (or saw it deleted)."""
        return self._items.get(name)

    def names(self) -> list[str]:
        """Names of every secret the store holds, sorted."""
        return sorted(self._items)

    # --- trust --------------------------------------------------------------------------------

    def connected(self) -> None:
        """A WATCH is open (the apiserver answered it): nothing is being missed from now on."""
        self._broken_since = None

    def disconnected(self, now: float) -> None:
        """The WATCH ended or failed at ``now``; events may be missed until it is re-opened."""
        if self._broken_since is None:
            self._broken_since = now

    def expired(self) -> None:
        """The resume version is gone: the contents are not trusted until the next LIST."""
        self._synced = False

    def is_fresh(self, now: float) -> bool:
        """Seeded by a LIST, and the watch is open or has been down for less than the bound."""
        if not self._synced:
            return False
        return self._broken_since is None or now - self._broken_since < self.staleness_seconds


def backoff_delays(initial: float = 0.2, maximum: float = 5.0) -> Iterator[float]:
    """Seconds to wait before each re-try after a failure: doubling from ``initial``, capped."""
    delay = initial
    while True:
        yield delay
        delay = min(delay * 2, maximum)


class _Expired(Exception):
    """Internal: the apiserver no longer has the version to resume from (410 Gone)."""


class NamespaceWatch:
    """LIST + WATCH of one namespace's secret metadata, in a daemon thread.

    Args:
        client_factory: Returns the ApiClient to use (the pre-flight reader's, so the same
            credentials and RBAC apply); called in the watch thread.
        namespace: Namespace to watch.
        staleness_seconds: See :meth:`SecretMetadataStore.is_fresh`.
        watch_timeout_seconds: Server-side timeout of each WATCH request.
        observer: Called with each raw response body or event line (tests inspect the wire).
        clock: Monotonic clock (injected in tests).
    """

    def __init__(
        self,
        client_factory: Callable[[], ApiClient],
        namespace: str,
        *,
        staleness_seconds: float = DEFAULT_STALENESS_SECONDS,
        watch_timeout_seconds: int = DEFAULT_WATCH_TIMEOUT_SECONDS,
        observer: Callable[[bytes], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.namespace = namespace
        self.watch_timeout_seconds = watch_timeout_seconds
        self.store = SecretMetadataStore(namespace, staleness_seconds=staleness_seconds)
        self.lists = 0
        """LIST requests made (seed + re-lists); read by tests."""
        self.watches = 0
        """WATCH requests opened; read by tests."""
        self._client_factory = client_factory
        self._observer = observer
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"floe-secret-watch-{namespace}", daemon=True
        )

    def start(self) -> None:
        """Start the watch thread (returns at once; the first LIST runs in the thread)."""
        self._thread.start()

    def is_alive(self) -> bool:
        """Whether the watch thread runs."""
        return self._thread.is_alive()

    def lookup(self, names: Iterable[str]) -> dict[str, SecretMetadata | None] | None:
        """Each name's metadata (``None``: not there), or ``None`` if the cache is not fresh."""
        with self._lock:
            if not self.store.is_fresh(self._clock()):
                return None
            return {name: self.store.get(name) for name in names}

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread: end the open WATCH request and wait (bounded) for the thread."""
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # best effort on a connection being torn down
                _log.debug("closing the secret watch of %s failed", self.namespace)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        delays = backoff_delays()
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                self._watch()
                delays = backoff_delays()
            except _Expired:
                need_list = True
                with self._lock:
                    self.store.expired()
                    self.store.disconnected(self._clock())
            except Exception as e:  # any failure: back off, then re-watch
                if self._stop.is_set():
                    break
                with self._lock:
                    self.store.disconnected(self._clock())
                _log.debug(
                    "secret watch of namespace %s failed (%s, status %s); retrying",
                    self.namespace,
                    type(e).__name__,
                    getattr(e, "status", None),
                )
                self._stop.wait(next(delays))

    def _path(self) -> str:
        return f"/api/v1/namespaces/{quote(self.namespace, safe='')}/secrets"

    def _request(
        self, query: list[tuple[str, Any]], accept: str, read_timeout: float
    ) -> Any:  # urllib3.HTTPResponse
        from kubernetes.client.exceptions import ApiException

        try:
            return self._client_factory().call_api(
                self._path(),
                "GET",
                query_params=query,
                header_params={"Accept": accept},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,  # kubernetes<36 returns a tuple without it
                _request_timeout=(5.0, read_timeout),
            )
        except ApiException as e:
            if e.status == _GONE:
                raise _Expired from e
            raise

    def _list(self) -> None:
        items: list[dict[str, Any]] = []
        token: str | None = None
        version = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", 5000)]
            if token:
                query.append(("continue", token))
            response = self._request(query, METADATA_LIST_ACCEPT, 30.0)
            try:
                raw = response.data
            finally:
                response.release_conn()
            self.lists += 1
            if self._observer is not None:
                self._observer(raw)
            page = json.loads(raw)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            token = meta.get("continue")
            if not token:
                break
        with self._lock:
            self.store.replace(items, version)

    def _watch(self) -> None:
        from kubernetes.watch.watch import iter_resp_lines

        with self._lock:
            version = self.store.resource_version
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", self.watch_timeout_seconds),
        ]
        response = self._request(query, METADATA_WATCH_ACCEPT, self.watch_timeout_seconds + 30.0)
        self._response = response
        self.watches += 1
        with self._lock:
            self.store.connected()
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return
                raw = line.encode() if isinstance(line, str) else line
                if self._observer is not None:
                    self._observer(raw)
                event = json.loads(raw)
                with self._lock:
                    outcome = self.store.apply(event)
                if outcome == "expired":
                    raise _Expired
                if outcome == "error":
                    raise ConnectionError("the secret watch answered with an ERROR event")
        finally:
            self._response = None
            response.release_conn()
            with self._lock:
                self.store.disconnected(self._clock())


class MetadataCache:
    """One :class:`NamespaceWatch` per namespace, started by the first lookup there.

    Args:
        client_factory: Passed to each watch.
        **watch_options: Passed to each :class:`NamespaceWatch` (staleness, timeouts, observer).
    """

    def __init__(self, client_factory: Callable[[], ApiClient], **watch_options: Any) -> None:
        self._client_factory = client_factory
        self._options = watch_options
        self._watches: dict[str, NamespaceWatch] = {}
        self._lock = threading.Lock()
        self._closed = False

    def watch(self, namespace: str) -> NamespaceWatch | None:
        """The namespace's watch, started now if there is none running (``None`` once closed)."""
        with self._lock:
            if self._closed:
                return None
            current = self._watches.get(namespace)
            if current is None or not current.is_alive():
                current = NamespaceWatch(self._client_factory, namespace, **self._options)
                self._watches[namespace] = current
                current.start()
            return current

    def lookup(
        self, namespace: str, names: Iterable[str]
    ) -> dict[str, SecretMetadata | None] | None:
        """Cached metadata of ``names`` in ``namespace``; ``None`` if not (yet) trustworthy."""
        watch = self.watch(namespace)
        return watch.lookup(names) if watch is not None else None

    def close(self) -> None:
        """Stop every watch (the launcher's ``dispose``)."""
        with self._lock:
            self._closed = True
            watches = list(self._watches.values())
            self._watches.clear()
        for watch in watches:
            watch.stop()
