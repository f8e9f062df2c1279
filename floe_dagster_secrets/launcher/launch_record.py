"""What a run was launched with: small run tags, and the per-secret record in the launch event.

Run tags are indexed in run storage (PostgreSQL: ``idx_run_tags`` on key and value, a b-tree
whose entries are capped at 2,704 bytes), so a tag whose value grows with the number of secrets
makes ``add_run_tags`` fail past a few dozen secrets. The launcher therefore writes:

- ``floe/secret-refs``: the secret names, comma-separated, while that text fits
  :data:`REFS_TAG_MAX_CHARS` (about 35 names of usual length); beyond it, ``sha256:<hex>`` of
  that same text, and the names are read back from the launch event (checked against the digest).
  The names are needed again after the launch (a resumed run's new Job, step pods of
  ``floe_k8s_job_executor``), so they must be recoverable from storage, not just shown.
- ``floe/secrets-fingerprint``: one keyed HMAC over the namespace and every secret checked with
  its version, when the launcher has a fingerprint key: two runs carry the same value exactly
  when they launched with the same versions of the same secrets.

and the per-secret record (names, ``resourceVersion`` and keyed fingerprint of each checked
secret) in dagster-k8s's "Creating Kubernetes run worker job" engine event, which is written on
every launch anyway, before the Job is created; the event log has no index on it.

No secret value is involved anywhere: names, versions and HMACs over them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance

from floe_dagster_secrets.errors import InvalidSecretReferenceError
from floe_dagster_secrets.launcher.pod_env import (
    SECRET_REFS_TAG,
    fingerprint,
    format_refs_tag,
    parse_refs_tag,
)

SECRETS_FINGERPRINT_TAG = "floe/secrets-fingerprint"
"""Run tag: ``hmac-sha256:<hex>`` over the namespace and each checked secret's name@version."""
NOT_FINGERPRINTED = "none"
"""``floe/secrets-fingerprint`` of a run that inherited one (a retry or re-execution copies its
parent's tags) but was launched without one: the parent's value would claim versions this run
was not checked with."""
REFS_TAG_MAX_CHARS = 1000
"""Longest ``floe/secret-refs`` value written as names; well under PostgreSQL's index limit."""
DIGEST_PREFIX = "sha256:"
"""Starts a digest ``floe/secret-refs`` value (a Kubernetes name never contains ':')."""

EVENT_REFS = "floe secret refs"
EVENT_VERSIONS = "floe secret versions"
EVENT_FINGERPRINTS = "floe secret fingerprints"
_FINGERPRINT_HEX_CHARS = 32


@dataclass(frozen=True)
class LaunchRecord:
    """What one launch of a run recorded: names in ``envFrom`` order, versions, fingerprints.

    ``versions`` and ``fingerprints`` cover the secrets the pre-flight check read (Kubernetes
    Secrets); empty when nothing was checked or, for fingerprints, the launcher has no key.
    """

    refs: tuple[str, ...]
    versions: Mapping[str, str] = field(default_factory=dict)
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    run_fingerprint: str | None = None

    @classmethod
    def checked(
        cls,
        refs: tuple[str, ...],
        versions: Mapping[str, str],
        *,
        namespace: str,
        key: bytes | None,
    ) -> LaunchRecord:
        """A launch whose pre-flight read ``versions``, fingerprinted with ``key`` if any."""
        if key is None:
            return cls(refs=refs, versions=dict(versions))
        prints = {
            name: fingerprint(key, namespace=namespace, name=name, version=version)
            for name, version in versions.items()
        }
        whole = run_fingerprint(key, namespace=namespace, versions=versions)
        return cls(refs=refs, versions=dict(versions), fingerprints=prints, run_fingerprint=whole)

    def tags(self) -> dict[str, str]:
        """The run tags for this launch: bounded in size whatever the number of secrets."""
        tags = {SECRET_REFS_TAG: refs_tag_value(self.refs)}
        if self.run_fingerprint is not None:
            tags[SECRETS_FINGERPRINT_TAG] = self.run_fingerprint
        return tags

    def event_metadata(self) -> dict[str, str]:
        """The launch event's entries (text; the event log has no size limit that matters)."""
        return {
            EVENT_REFS: format_refs_tag(self.refs) or "(none)",
            EVENT_VERSIONS: json.dumps(dict(self.versions), sort_keys=True)
            if self.versions
            else "(not checked)",
            EVENT_FINGERPRINTS: json.dumps(dict(self.fingerprints), sort_keys=True)
            if self.fingerprints
            else "(no key)",
        }


def refs_tag_value(names: Sequence[str]) -> str:
    """``floe/secret-refs`` for ``names``: the names, or their digest when too long."""
    text = format_refs_tag(names)
    if len(text) <= REFS_TAG_MAX_CHARS:
        return text
    return DIGEST_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def is_refs_digest(value: str | None) -> bool:
    """Whether a ``floe/secret-refs`` value is a digest (the names are in the launch event)."""
    return bool(value) and str(value).startswith(DIGEST_PREFIX)


def run_fingerprint(key: bytes, *, namespace: str, versions: Mapping[str, str]) -> str:
    """``hmac-sha256:<hex>`` over ``namespace`` and every ``name@version``, sorted by name."""
    message = "\n".join([namespace, *(f"{n}@{versions[n]}" for n in sorted(versions))])
    digest = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:_FINGERPRINT_HEX_CHARS]}"


def read_launch_record(instance: DagsterInstance, run_id: str) -> LaunchRecord | None:
    """The latest launch event's record of ``run_id`` (``None``: launched without floe's record).

    One event-log read; a resumed run has one launch event per Job, the latest wins.
    """
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, ascending=False
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event is not None else None
        metadata = data.metadata if data is not None else {}
        if EVENT_REFS not in metadata:
            continue
        text = {key: str(getattr(value, "value", value)) for key, value in metadata.items()}
        return LaunchRecord(
            refs=() if text[EVENT_REFS] == "(none)" else parse_refs_tag(text[EVENT_REFS]),
            versions=_json_map(text.get(EVENT_VERSIONS)),
            fingerprints=_json_map(text.get(EVENT_FINGERPRINTS)),
        )
    return None


def refs_from_storage(instance: DagsterInstance, run_id: str, tag_value: str) -> tuple[str, ...]:
    """The names behind a digest ``floe/secret-refs`` value, from the launch event.

    Raises:
        InvalidSecretReferenceError: no launch event, or one whose names do not match the
            digest: the run's secrets cannot be known, and guessing would mount the wrong ones.
    """
    record = read_launch_record(instance, run_id)
    if record is None or refs_tag_value(record.refs) != tag_value:
        raise InvalidSecretReferenceError(
            f"Run {run_id}'s '{SECRET_REFS_TAG}' tag is a digest ({tag_value[:19]}…) and its "
            "launch event does not hold the matching secret names",
            fix="launch the run again (a new run records its secrets anew); do not edit floe's "
            "run tags or delete the run's event log",
        )
    return record.refs


def _json_map(text: str | None) -> dict[str, str]:
    if not text or not text.startswith("{"):
        return {}
    loaded = json.loads(text)
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
