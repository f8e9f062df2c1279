"""The rotation sensor's cursor, and the pure diff that turns two version maps into rotations.

The cursor is a small JSON document Dagster stores between ticks. It records, per watched secret,
the version the last tick saw (``None`` when the secret was missing) and one monotonic rotation
counter. The counter is part of every run key: the daemon never re-launches a run key it has seen,
so a version that comes back (v1 → v2 → v1) must still give a new, larger key.

Anything we cannot read (no cursor, another schema, garbage) is treated as "no baseline": the tick
records the current versions and launches nothing. Parsing never raises, so a bad cursor can never
wedge the sensor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CURSOR_SCHEMA = 1


@dataclass(frozen=True)
class RotationCursor:
    """What the previous tick saw.

    Attributes:
        namespace: Namespace the versions were read from; a different one means a new baseline.
        versions: Secret name → version last seen, ``None`` if the secret was missing.
        counter: Number of rotations seen so far; only ever grows.
        since: When the versions last changed (the baseline or the last rotation), ISO 8601;
            the sensor's skip reason says "no rotation since" this moment.
    """

    namespace: str
    versions: Mapping[str, str | None] = field(default_factory=dict)
    counter: int = 0
    since: str | None = None

    def to_json(self) -> str:
        """Compact, key-sorted JSON so identical states give identical cursors."""
        return json.dumps(
            {
                "schema": CURSOR_SCHEMA,
                "namespace": self.namespace,
                "versions": dict(self.versions),
                "counter": self.counter,
                "since": self.since,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


def parse_cursor(raw: str | None) -> RotationCursor | None:
    """The cursor, or ``None`` (take a new baseline) when it is absent, unknown or corrupt."""
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("schema") != CURSOR_SCHEMA:
        return None
    namespace, versions, counter = doc.get("namespace"), doc.get("versions"), doc.get("counter")
    if not isinstance(namespace, str) or not isinstance(versions, dict):
        return None
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0:
        return None
    if not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in versions.items()
    ):
        return None
    since = doc.get("since")  # absent in cursors written before it existed
    return RotationCursor(
        namespace=namespace,
        versions=dict(versions),
        counter=counter,
        since=since if isinstance(since, str) else None,
    )


@dataclass(frozen=True)
class Rotation:
    """One secret whose version changed since the last tick.

    Attributes:
        secret: Secret name.
        version: Version now.
        previous: Version before (``None`` if the secret was missing and has come back).
        sequence: Value of the cursor's rotation counter for this rotation (1, 2, …).
    """

    secret: str
    version: str
    previous: str | None
    sequence: int

    def run_key(self, namespace: str) -> str:
        """``{secret}@{namespace}:{version}#{sequence}``: unique while the cursor lives."""
        return f"{self.secret}@{namespace}:{self.version}#{self.sequence}"


@dataclass(frozen=True)
class VersionDiff:
    """Result of comparing one tick's versions with the cursor.

    Attributes:
        baseline: True when there was no usable cursor: nothing is launched.
        rotations: Secrets whose version changed, in name order.
        deleted: Secrets that existed at the last tick and are gone now (never launch a run).
        cursor: The cursor to store after this tick.
    """

    baseline: bool
    rotations: tuple[Rotation, ...]
    deleted: tuple[str, ...]
    cursor: RotationCursor


def is_newer(version: str, previous: str | None) -> bool:
    """Whether ``version`` is a change from ``previous``; numeric versions compare as integers.

    Kubernetes ``resourceVersion`` and Vault ``current_version`` are numbers in practice, so
    "10" after "9" is a change and "010" after "10" is not. Any other difference is a change too:
    a lower number (an etcd restore, a Vault secret deleted and recreated) still means the value
    under that name may differ, so the dependent assets must run again.
    """
    if previous is None:
        return True
    if version.isdigit() and previous.isdigit():
        return int(version) != int(previous)
    return version != previous


def diff_versions(
    cursor: RotationCursor | None,
    *,
    namespace: str,
    current: Mapping[str, str],
    watched: Iterable[str],
    now: str | None = None,
) -> VersionDiff:
    """Compare the backend's versions now with the cursor, for the watched secrets only.

    Args:
        cursor: The previous tick's cursor (``None``: take a baseline).
        namespace: Namespace ``current`` was read from.
        current: Secret name → version for every secret the backend has in the namespace.
        watched: Secret names the target's assets reference.
        now: This tick's time (ISO 8601), recorded as ``since`` when versions changed.

    A secret watched for the first time (newly referenced by an asset) is baselined silently.
    """
    names = sorted(set(watched))
    seen: dict[str, str | None] = {name: current.get(name) for name in names}
    if cursor is None or cursor.namespace != namespace:
        return VersionDiff(
            True, (), (), RotationCursor(namespace, seen, cursor.counter if cursor else 0, now)
        )
    counter = cursor.counter
    rotations: list[Rotation] = []
    deleted: list[str] = []
    for name in names:
        if name not in cursor.versions:
            continue
        before, after = cursor.versions[name], seen[name]
        if after is None:
            if before is not None:
                deleted.append(name)
            continue
        if is_newer(after, before):
            counter += 1
            rotations.append(Rotation(name, after, before, counter))
    changed = bool(rotations or deleted) or any(
        seen[name] != cursor.versions.get(name) for name in names
    )
    since = now if changed or cursor.since is None else cursor.since
    return VersionDiff(
        False, tuple(rotations), tuple(deleted), RotationCursor(namespace, seen, counter, since)
    )
