"""Value types for secrets: a value that will not print itself, and metadata that has no value."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn

REDACTED = "***"


class SecretValue:
    """A resolved secret value that never shows itself in ``repr``, ``str``, logs or pickles.

    The raw string is reachable only through :meth:`reveal`, so every place that handles the value
    says so in the code. Constructing one registers the value with the process-wide masker, so a
    value that is later logged by accident is already redacted.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, *, register: bool = True) -> None:
        if not isinstance(value, str):
            raise TypeError("SecretValue holds text; decode bytes before wrapping them")
        self._value = value
        if register:
            # Imported here: masking imports this module for REDACTED.
            from floe_dagster_secrets.masking import get_masker

            get_masker().register(value)

    def reveal(self) -> str:
        """Return the raw value: call it only where the value is handed to its consumer."""
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue('{REDACTED}')"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return REDACTED

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretValue):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled: that would write the value out")


SecretData = Mapping[str, SecretValue]


def reveal_all(data: SecretData) -> dict[str, str]:
    """Unwrap every value, for handing a whole secret to its consumer (a pod env, a process)."""
    return {key: value.reveal() for key, value in data.items()}


NON_PERIODIC_POLICIES = frozenset({"CreatedOnce", "OnChange"})
"""ESO ``refreshPolicy`` values under which ``refreshInterval`` is not a refresh schedule."""


@dataclass(frozen=True)
class SyncState:
    """What an operator that copies a secret from an external store says about its last copy.

    The External Secrets Operator's ``Ready`` condition and refresh times, typed, so the
    pre-flight, the CLI and the sensors read the same fields whatever backend produced them.

    Attributes:
        ready: The sync succeeded (ESO's ``Ready`` condition is ``True``).
        reason: The operator's reason (``SecretSynced``, ``SecretSyncedError`` …), or ``Pending``.
        message: The operator's message for that condition (never a value: it reports errors).
        refresh_time: When the operator last fetched from the store.
        synced_version: Which version of the sync's definition the last successful sync served.
        refresh_interval: How often it refreshes (zero: never after the first sync).
        source: The store it copies from (ESO's SecretStore), for display.
        refresh_policy: When it refreshes: ``Periodic`` (every ``refresh_interval``),
            ``CreatedOnce`` (never after the first sync) or ``OnChange`` (only when the sync's
            definition changes); ESO's ``spec.refreshPolicy``.
    """

    ready: bool
    reason: str
    message: str
    refresh_time: datetime | None
    synced_version: str
    refresh_interval: timedelta
    source: str = ""
    refresh_policy: str = "Periodic"

    @property
    def refreshes_periodically(self) -> bool:
        """Whether the operator fetches again every ``refresh_interval`` (else: never by age)."""
        return self.refresh_policy not in NON_PERIODIC_POLICIES and bool(self.refresh_interval)

    def is_stale(self, now: datetime, *, grace: timedelta = timedelta(minutes=1)) -> bool:
        """Whether the last sync is older than one refresh interval (plus ``grace``).

        One that never refreshes by age (interval 0, or ESO's ``CreatedOnce`` and ``OnChange``
        policies, which ignore the interval) is stale only if it never synced: its age says
        nothing, and judging it by the interval would refuse every run an interval after the
        last sync.
        """
        if self.refresh_time is None:
            return True
        if not self.refreshes_periodically:
            return False
        return now - self.refresh_time > self.refresh_interval + grace

    def label(self) -> str:
        """``Synced``, or the operator's reason when the sync is not Ready."""
        if self.ready:
            return "Synced"
        return self.reason or "NotReady"


UNNAMED_KEYS_WHY = "key names of a Secret floe did not write are not visible without reading values"
"""Why a Kubernetes Secret floe did not write is judged by its key count only."""


@dataclass(frozen=True)
class KeyCheck:
    """The verdict of :meth:`SecretMetadata.check_keys`: which required keys are absent.

    Args:
        required: The keys the manifest requires, in its order.
        held: How many keys the secret holds (None: not known).
        missing: Required keys known to be absent (key names known).
        short: Key names unknown, but fewer keys than required: certainly incomplete.
        names_checked: False when the key names could not be compared.
        why: Why the names could not be compared, for the problem text and the note.
    """

    required: tuple[str, ...]
    held: int | None
    missing: tuple[str, ...] = ()
    short: bool = False
    names_checked: bool = True
    why: str = UNNAMED_KEYS_WHY

    @property
    def complete(self) -> bool:
        """No required key is known to be absent (by name, or by count)."""
        return not self.missing and not self.short

    @property
    def problem(self) -> str | None:
        """What is wrong, in words for an error or a check (None when complete)."""
        if self.missing:
            return (
                f"missing {'key' if len(self.missing) == 1 else 'keys'} {', '.join(self.missing)}"
            )
        if self.short:
            return (
                f"has {_keys(self.held or 0)}, the manifest requires {len(self.required)} "
                f"({', '.join(self.required)}); {self.why}"
            )
        return None

    @property
    def note(self) -> str | None:
        """For a complete verdict whose names were not compared: say so (else None)."""
        if self.names_checked or not self.required or self.short:
            return None
        held = f"it has {_keys(self.held)}, " if self.held is not None else ""
        return (
            f"key names not checked ({held}the manifest requires {len(self.required)}: "
            f"{', '.join(self.required)}): {self.why}"
        )


def stale_annotation_why(annotated: Sequence[str], held: int | None) -> str:
    """Why a floe Secret whose key annotation disagrees with its key count is judged by count.

    Its keys were changed outside floe (``kubectl edit``/``patch``), so the names are not known.
    """
    holds = f"the Secret holds {_keys(held)}" if held is not None else "its keys differ"
    return (
        f"its floe.dev/keys annotation is stale (it lists {', '.join(annotated) or 'no key'} but "
        f"{holds}: changed outside floe, with kubectl edit or patch?), and key names cannot be "
        "checked without reading values"
    )


def _keys(count: int) -> str:
    return f"{count} key" if count == 1 else f"{count} keys"


@dataclass(frozen=True)
class SecretMetadata:
    """What can be said about a secret without reading its values.

    ``version`` is the backend's cheap change marker (Kubernetes ``resourceVersion``, Vault
    ``current_version``, the local store's counter): equal versions mean equal contents.
    ``keys_known`` is False where the backend cannot tell key names without reading values (a
    Kubernetes Secret floe did not write, seen through a metadata-only list): ``keys`` is then
    empty, not "no keys". ``key_count`` is how many keys such a secret holds when the backend
    can count them without naming them (the apiserver's Table), else None; where the names are
    known, ``len(keys)`` is the count. :meth:`check_keys` judges both. ``sync`` is set for a
    secret an operator copies from an external store (ESO). ``extra`` holds backend-specific
    details for display only; nothing decides on it. ``stale_keys`` holds the key names floe's
    annotation lists when the backend's key count contradicts them (keys changed outside floe):
    ``keys_known`` is then False and the secret is judged by ``key_count``.
    """

    name: str
    namespace: str
    backend: str
    keys: tuple[str, ...]
    version: str
    type: str = "Opaque"
    created: datetime | None = None
    updated: datetime | None = None
    managed_by_floe: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    keys_known: bool = True
    sync: SyncState | None = None
    key_count: int | None = None
    stale_keys: tuple[str, ...] | None = None

    def check_keys(self, required: Sequence[str]) -> KeyCheck:
        """What this metadata can tell about the ``required`` keys, without reading a value.

        Known names are compared one by one. Unknown names (a Secret floe did not write) can
        still be judged by count: fewer keys than required is certainly incomplete; as many or
        more passes with a note that the names were not checked. A count that contradicts
        the names (``stale_keys``) wins: the names are an annotation, the count is the data.
        """
        if self.keys_known and (self.key_count is None or self.key_count == len(self.keys)):
            missing = tuple(k for k in required if k not in self.keys)
            return KeyCheck(tuple(required), len(self.keys), missing=missing)
        if not required:
            return KeyCheck((), self.key_count)
        short = self.key_count is not None and self.key_count < len(required)
        annotated = self.stale_keys if self.stale_keys is not None else self.keys
        stale = self.stale_keys is not None or self.keys_known
        why = stale_annotation_why(annotated, self.key_count) if stale else UNNAMED_KEYS_WHY
        return KeyCheck(tuple(required), self.key_count, short=short, names_checked=False, why=why)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for ``--output json``: names, keys, type, times, version; no values."""
        return {
            "name": self.name,
            "namespace": self.namespace,
            "backend": self.backend,
            "type": self.type,
            "keys": list(self.keys),
            "version": self.version,
            "created": self.created.isoformat() if self.created else None,
            "updated": self.updated.isoformat() if self.updated else None,
            "managed_by_floe": self.managed_by_floe,
            "keys_known": self.keys_known,
            "key_count": len(self.keys) if self.keys_known else self.key_count,
        }
