"""Find canary secret values in every artifact a flow leaves behind.

Each collector turns one class of artifact into :class:`Artifact` texts: Dagster's SQLite and
PostgreSQL storage (every table, every row, zlib-compressed snapshot blobs inflated), files
(compute logs, dbt ``target/`` and ``logs/``, generated files), every listable object in the
kube-apiserver except Secrets (found through discovery, so a new resource kind is scanned
without a change here), the apiserver's and OpenBao's audit logs, and captured text (CLI output,
exceptions), and the observations of the ``secrets/*`` assets as Dagster reads them back.

:func:`find_leaks` searches them for each canary in its plain, base64 and URL-encoded forms
(:func:`floe_dagster_secrets.masking.encoded_forms`, the same forms the masker redacts).
OpenBao's audit log is searched for the plain value only: it HMACs values by design. The
kube-apiserver's audit log is searched for every form: floe's policy logs Metadata only.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import traceback
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe_dagster_secrets.masking import encoded_forms

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Artifact:
    """One scanned thing: its class (``sqlite``, ``apiserver`` …), where it is, its text."""

    kind: str
    where: str
    text: str
    plain_only: bool = False


@dataclass(frozen=True)
class Leak:
    """A canary found: which one, in which encoded form, in which artifact."""

    canary: str
    form: str
    kind: str
    where: str


def _inflate(data: bytes) -> str:
    """Blob text, zlib-inflated when it is compressed (Dagster's snapshots are)."""
    with contextlib.suppress(zlib.error):
        data = zlib.decompress(data)
    return data.decode("utf-8", "replace")


def _cell(value: Any) -> str:
    if isinstance(value, memoryview | bytes | bytearray):
        return _inflate(bytes(value))
    return str(value)


def sqlite_artifacts(roots: Iterable[Path], *, kind: str = "sqlite") -> list[Artifact]:
    """Every row of every table of every SQLite database under ``roots``."""
    found: list[Artifact] = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            with path.open("rb") as f:
                if f.read(16) != SQLITE_MAGIC:
                    continue
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                chunks: list[str] = []
                tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                for (table,) in tables.fetchall():
                    rows = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - catalog names
                    chunks.extend(_cell(v) for row in rows.fetchall() for v in row)
            finally:
                conn.close()
            found.append(Artifact(kind, str(path), "\n".join(chunks)))
    return found


def postgres_artifacts(dsn: str, *, kind: str = "postgres") -> list[Artifact]:
    """Every row of every table in the public schema of a Dagster PostgreSQL database."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    found: list[Artifact] = []
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
            for (table,) in cur.fetchall():
                cur.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the catalog
                text = "\n".join(_cell(v) for row in cur.fetchall() for v in row)
                found.append(Artifact(kind, f"{dsn.rsplit('/', 1)[-1]}.{table}", text))
    finally:
        conn.close()
    return found


def file_artifacts(
    roots: Iterable[Path], *, kind: str, skip: Sequence[Path] = (), suffixes: Sequence[str] = ()
) -> list[Artifact]:
    """Every file under ``roots`` (not under ``skip``; only ``suffixes`` if given), as text."""
    found: list[Artifact] = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if any(path.is_relative_to(s) for s in skip):
                continue
            if suffixes and path.suffix not in suffixes:
                continue
            found.append(Artifact(kind, str(path), _inflate(path.read_bytes())))
    return found


def _get_raw(api_client: Any, path: str) -> dict[str, Any]:
    response = api_client.call_api(
        path,
        "GET",
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _request_timeout=(5, 30),
    )
    try:
        parsed: dict[str, Any] = json.loads(response.data)
    finally:
        response.release_conn()
    return parsed


def listable_resources(api_client: Any) -> list[tuple[str, str]]:
    """(group-version path, resource) of every listable resource the server serves, but Secrets.

    Found through discovery (``/api``, ``/apis``), the way ``kubectl api-resources`` does.
    """
    versions = [f"/api/{v}" for v in _get_raw(api_client, "/api")["versions"]]
    for group in _get_raw(api_client, "/apis")["groups"]:
        versions.extend(f"/apis/{v['groupVersion']}" for v in group["versions"])
    found: list[tuple[str, str]] = []
    for base in versions:
        for resource in _get_raw(api_client, base)["resources"]:
            name = resource["name"]
            if "/" in name or "list" not in resource.get("verbs", []):
                continue
            if base == "/api/v1" and name == "secrets":
                continue  # the one place values are meant to be
            found.append((base, name))
    return found


def apiserver_artifacts(api_client: Any, *, kind: str = "apiserver") -> list[Artifact]:
    """Every object of every listable kind in the whole cluster (all namespaces), but Secrets.

    A group served in several versions (a CRD with a conversion webhook that is not running)
    may fail to list in one of them; the same objects are then read through another version.
    A resource that no version can list fails the scan: it would be a blind spot.
    """
    from kubernetes.client.exceptions import ApiException

    found: list[Artifact] = []
    failed: dict[tuple[str, str], str] = {}
    listed: set[tuple[str, str]] = set()
    for base, resource in listable_resources(api_client):
        group = base.rsplit("/", 1)[0]
        try:
            response = api_client.call_api(
                f"{base}/{resource}",
                "GET",
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=(5, 60),
            )
        except ApiException as e:
            failed[(group, resource)] = f"{base}/{resource}: {e.status} {e.reason}"
            continue
        try:
            text = response.data.decode("utf-8", "replace")
        finally:
            response.release_conn()
        listed.add((group, resource))
        found.append(Artifact(kind, f"{base}/{resource}", text))
    blind = [why for key, why in failed.items() if key not in listed]
    if blind:
        raise AssertionError(f"cannot list, so cannot scan: {blind}")
    return found


def secret_event_artifacts(instance: Any, *, kind: str = "secret-events") -> list[Artifact]:
    """Every observation of a ``secrets/*`` asset, as Dagster reads it back (the UI's view).

    The rotation sensor's observations (data version = the backend's version) and the run log's
    fetch events (name, backend, version, step, key names): each one's stored entry and its
    description, metadata and tags rendered as text.
    """
    from dagster import AssetKey
    from dagster_shared.serdes import serialize_value

    found = []
    for key in instance.get_asset_keys(prefix=["secrets"]):
        records = instance.fetch_observations(AssetKey(key.path), limit=10_000).records
        for record in records:
            observation = record.asset_observation
            shown = {
                "description": observation.description if observation else None,
                "metadata": {k: str(v.value) for k, v in (observation.metadata or {}).items()}
                if observation
                else {},
                "tags": dict(observation.tags or {}) if observation else {},
            }
            text = serialize_value(record.event_log_entry) + "\n" + json.dumps(shown, default=str)
            found.append(Artifact(kind, f"{key.to_user_string()}#{record.storage_id}", text))
    return found


def text_artifact(kind: str, where: str, text: str) -> Artifact:
    """Captured text: CLI stdout/stderr, pod output, a log."""
    return Artifact(kind, where, text)


def exception_artifact(where: str, error: BaseException) -> Artifact:
    """An exception as a user would see it: message, repr, and the full chained traceback."""
    formatted = "".join(traceback.format_exception(error))
    return Artifact("exceptions", where, f"{error}\n{error!r}\n{formatted}")


def openbao_audit_artifact(log_file: Path) -> Artifact:
    """OpenBao's file audit log: values are HMAC'd, so only a plain value counts as a leak."""
    return Artifact("openbao-audit", str(log_file), log_file.read_text("utf-8", "replace"), True)


def apiserver_audit_artifact(log_file: Path) -> Artifact:
    """kube-apiserver's audit log under floe's policy: Metadata only, so no form of a value."""
    return Artifact("apiserver-audit", str(log_file), log_file.read_text("utf-8", "replace"))


def find_leaks(canaries: Mapping[str, str], artifacts: Iterable[Artifact]) -> list[Leak]:
    """Every (canary, form, artifact) hit; empty means no canary leaked anywhere scanned."""
    forms = {label: sorted(encoded_forms(value)) for label, value in canaries.items()}
    leaks: list[Leak] = []
    for artifact in artifacts:
        for label, value in canaries.items():
            searched = [value] if artifact.plain_only else forms[label]
            for form in searched:
                if form in artifact.text:
                    kind = "plain" if form == value else "encoded"
                    leaks.append(Leak(label, kind, artifact.kind, artifact.where))
    return leaks
