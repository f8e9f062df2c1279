"""The audit trail: one structured ``floe.audit`` log event per secret access, never a value.

Every backend is audited from one place. :class:`~floe_dagster_secrets.backends.base.SecretsPlugin`
wraps the access methods of each subclass (:data:`AUDITED_METHODS`) with :func:`audit_method` when
the subclass is defined, so a new backend (the External Secrets Operator one, a third party's) is
audited without a line of its own. Code that reaches secrets some other way calls the one hook,
:func:`audited`, around the access.

Only the outermost access is recorded: Vault's ``secret_versions`` calls ``list_secrets``, which
must not add a second event for the same request of the caller.

Each event is a JSON object, logged at INFO on the ``floe.audit`` logger and also attached to the
record as ``record.floe_audit``::

    {"event": "secret_access", "backend": "k8s", "operation": "get", "namespace": "floe-jobs",
     "name": "warehouse-dev-credentials", "path": null, "keys": ["PASSWORD"],
     "actor": "dagster-run:0f1e…", "outcome": "ok", "error": null, "duration_ms": 4.1,
     "time": "2026-11-28T15:20:00.123456+00:00", "version": "41"}

``keys`` are key names (the keys read, written or found), never values. ``version`` is the
secret's version when the access learnt it (a ``describe``, or a backend that calls
:func:`record_version`), else ``null``. ``outcome`` is ``ok`` or
one of :data:`OUTCOMES`' values. ``actor`` is who asked, as far as this process knows: the value
given to :func:`acting_as` (floe's Dagster resources set ``dagster-run:<run id>`` around their
reads in a run), else ``$FLOE_AUDIT_ACTOR``, else the Dagster run
(``$DAGSTER_RUN_ID``), else the Kubernetes Job dagster-k8s runs it in
(``$DAGSTER_RUN_JOB_NAME``, which holds the run id, and ``$DAGSTER_RUN_STEP_KEY``), else
``user@host``. The backend's own audit log (the apiserver's, Vault's) records the authenticated
identity; this trail adds the process-side view and the outcome.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import inspect
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from floe_dagster_secrets import errors

AUDIT_LOGGER = "floe.audit"
ACTOR_ENV = "FLOE_AUDIT_ACTOR"
RUN_ID_ENV = "DAGSTER_RUN_ID"
JOB_NAME_ENV = "DAGSTER_RUN_JOB_NAME"
"""Set by dagster-k8s in run and step pods: ``dagster-run-<run id>`` (and a step key env var)."""
STEP_KEY_ENV = "DAGSTER_RUN_STEP_KEY"

logger = logging.getLogger(AUDIT_LOGGER)
if logger.level == logging.NOTSET:
    # An audit trail that is off unless configured is no trail: INFO reaches whatever handler
    # the application installs. Set the logger to WARNING to silence it.
    logger.setLevel(logging.INFO)

AUDITED_METHODS: Mapping[str, str] = {
    "get_secret": "get",
    "get_secret_version": "get",
    "describe_secret": "describe",
    "list_secrets": "list",
    "secret_versions": "versions",
    "create_secret": "create",
    "update_secret": "update",
    "delete_secret": "delete",
    "database_credentials": "issue",
    "renew_lease": "renew",
    "revoke_lease": "revoke",
}
"""Method name → audited operation, for every method that reads or changes a secret or lease."""

OUTCOMES: Mapping[type[BaseException], str] = {
    errors.SecretNotFoundError: "not_found",
    errors.SecretAccessDeniedError: "denied",
    errors.BackendUnavailableError: "unavailable",
    errors.SecretAlreadyExistsError: "already_exists",
    errors.SecretConflictError: "conflict",
    errors.InvalidSecretReferenceError: "invalid",
    errors.InvalidSecretValueError: "invalid",
    errors.InvalidManifestError: "invalid",
}

_ACTOR: ContextVar[str | None] = ContextVar("floe_audit_actor", default=None)
_ACTIVE: ContextVar[bool] = ContextVar("floe_audit_active", default=False)
_CURRENT: ContextVar[AuditEvent | None] = ContextVar("floe_audit_current", default=None)

AuditSink = Callable[["AuditEvent", Any], None]
"""Called with each finished event and the object that made the access (the plugin, or None)."""
_SINKS: list[AuditSink] = []

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AuditEvent:
    """One access; filled in while it runs and logged when it ends."""

    backend: str
    operation: str
    namespace: str | None
    name: str | None = None
    path: str | None = None
    keys: list[str] = field(default_factory=list)
    actor: str = ""
    outcome: str = "ok"
    error: str | None = None
    duration_ms: float = 0.0
    time: str = ""
    version: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as logged, with ``"event": "secret_access"`` first."""
        # Not dataclasses.asdict: its deep copy was most of the cost of an audited access.
        return {
            "event": "secret_access",
            "backend": self.backend,
            "operation": self.operation,
            "namespace": self.namespace,
            "name": self.name,
            "path": self.path,
            "keys": list(self.keys),
            "actor": self.actor,
            "outcome": self.outcome,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "time": self.time,
            "version": self.version,
        }


def current_actor() -> str:
    """Who is asking, as far as this process knows (see the module docstring for the order)."""
    given = _ACTOR.get() or os.environ.get(ACTOR_ENV)
    if given:
        return given
    run_id = os.environ.get(RUN_ID_ENV)
    if run_id:
        return f"dagster-run:{run_id}"
    job = os.environ.get(JOB_NAME_ENV)
    if job:
        step = os.environ.get(STEP_KEY_ENV)
        return f"k8s-job:{job}" + (f"/{step}" if step else "")
    return _process_user()


@functools.cache
def _process_user() -> str:
    """``user@host`` of this process, looked up once (a passwd lookup per access adds up)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = f"uid:{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute every access inside the block to ``actor`` (a run id, a sensor, a CLI user)."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def outcome_of(error: BaseException) -> str:
    """``not_found``, ``denied``, … for our errors; ``error`` for anything else."""
    for kind, outcome in OUTCOMES.items():
        if isinstance(error, kind):
            return outcome
    return "error"


def add_sink(sink: AuditSink) -> None:
    """Also hand every finished event to ``sink`` (once, however often it is added).

    The Dagster edge adds one that writes each fetch into the current run's event log
    (:mod:`floe_dagster_secrets.assets.access_events`); this module stays free of Dagster.
    """
    if sink not in _SINKS:
        _SINKS.append(sink)


@contextlib.contextmanager
def part_of_current_access() -> Iterator[None]:
    """Accesses inside the block belong to the access being recorded: no event of their own.

    For the audit layer's own follow-up reads, e.g. the metadata read that completes a fetch's
    event with the secret's version (:mod:`floe_dagster_secrets.assets.access_events`).
    """
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def record_version(version: str | int | None) -> None:
    """Note the version of the secret the current access read (a backend that knows it cheaply).

    Outside an audited access this does nothing.
    """
    event = _CURRENT.get()
    if event is not None and version is not None:
        event.version = str(version)


def _emit(event: AuditEvent, source: Any = None) -> None:
    document = event.to_json()
    # An audit handler that fails must not fail the secret access it reports.
    with contextlib.suppress(Exception):
        logger.info(json.dumps(document, default=str), extra={"floe_audit": document})
    for sink in list(_SINKS):
        with contextlib.suppress(Exception):
            sink(event, source)


@contextlib.contextmanager
def audited(
    operation: str,
    *,
    backend: str,
    namespace: str | None,
    name: str | None = None,
    path: str | None = None,
    keys: list[str] | None = None,
    source: Any = None,
) -> Iterator[AuditEvent]:
    """THE hook: record one access around the block; nested accesses are not recorded again.

    Yields the event so the block can add what it learns (``event.keys``, ``event.path``). The
    outcome is ``ok`` if the block returns, else the error's (which is re-raised unchanged).

    Example:
        .. code-block:: python

            with audited("create", backend="external-secrets", namespace=ns, name=name) as event:
                push_value(...)
                event.keys = sorted(data)
    """
    event = AuditEvent(
        backend=backend,
        operation=operation,
        namespace=namespace,
        name=name,
        path=path,
        keys=list(keys or []),
    )
    if _ACTIVE.get():
        yield event
        return
    token = _ACTIVE.set(True)
    current = _CURRENT.set(event)
    started = time.perf_counter()
    event.time = datetime.now(UTC).isoformat()
    event.actor = current_actor()
    try:
        yield event
    except BaseException as e:
        event.outcome = outcome_of(e)
        event.error = type(e).__name__
        raise
    finally:
        _ACTIVE.reset(token)
        _CURRENT.reset(current)
        event.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        _emit(event, source)


def _result_keys(result: Any) -> list[str]:
    """Key names from what an access returned: a mapping of values or a SecretMetadata."""
    if isinstance(result, Mapping):
        return sorted(str(k) for k in result)
    keys = getattr(result, "keys", None)
    if isinstance(keys, tuple):
        return [str(k) for k in keys]
    return []


def audit_method(operation: str, method: F) -> F:
    """Wrap a plugin method so each call is one :func:`audited` access (idempotent)."""
    if getattr(method, "__floe_audited__", False):
        return method
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound: Mapping[str, Any]
        try:
            bound = signature.bind(self, *args, **kwargs).arguments
        except TypeError:  # the method itself will raise the same TypeError
            bound = {}
        name = bound.get("name") or bound.get("role") or bound.get("lease_id")
        namespace = bound.get("namespace")
        data = bound.get("data")
        given_keys = sorted(str(k) for k in data) if isinstance(data, Mapping) else None
        locate = getattr(self, "audit_location", None)
        path = None
        if callable(locate):
            with contextlib.suppress(Exception):
                path = locate(operation, bound)
        with audited(
            operation,
            backend=str(getattr(self, "name", type(self).__name__)),
            namespace=str(namespace) if namespace is not None else None,
            name=str(name) if name is not None else None,
            path=path,
            keys=given_keys,
            source=self,
        ) as event:
            result = method(self, *args, **kwargs)
            if given_keys is None and operation in ("get", "describe"):
                event.keys = _result_keys(result)
            version = getattr(result, "version", None)
            if event.version is None and isinstance(version, str):
                event.version = version
            return result

    wrapper.__floe_audited__ = True  # type: ignore[attr-defined]
    return cast(F, wrapper)


def audit_class(cls: type) -> None:
    """Wrap every :data:`AUDITED_METHODS` method ``cls`` has (own or inherited from a mixin)."""
    for method_name, operation in AUDITED_METHODS.items():
        method = getattr(cls, method_name, None)
        if callable(method) and not getattr(method, "__isabstractmethod__", False):
            wrapped = audit_method(operation, method)
            if wrapped is not method:
                setattr(cls, method_name, wrapped)
