"""ExternalSecrets with any remote mapping, and what applying them would change: pure functions.

:func:`~floe_dagster_secrets.backends.eso.objects.external_secret_body` writes floe's default
layout (one remote key per secret, property = env key). ADR-0023's cloud examples need more: AWS
maps env keys to named properties (``SNOWFLAKE_ACCOUNT`` ← ``account`` of
``floe/prod/snowflake``), GCP and Azure map an env key to a whole secret (no ``property``). A
:class:`KeyRef` per env key says which, and :func:`external_secret_from_refs` builds the object.

:func:`comparable` and :func:`object_diff` say what a server-side apply would change: the live
object and the apiserver's dry-run answer are reduced to what a reviewer cares about (labels,
annotations, spec; not ``status``, ``managedFields`` or versions) and compared as YAML, so an
unchanged object is reported as such and not written again.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from floe_dagster_secrets.backends.eso.objects import (
    parse_go_duration,
)
from floe_dagster_secrets.backends.eso.stores import Provider

__all__ = [
    "STORE_LABELS",
    "comparable",
    "go_duration_text",
    "infer_provider",
    "object_diff",
    "object_label",
    "to_yaml",
]

STORE_LABELS: dict[str, str] = {
    "aws": "AWS Secrets Manager",
    "gcp": "GCP Secret Manager",
    "azure": "Azure Key Vault",
    "vault": "Vault",
}
"""How ADR-0023 names the store behind each provider (``✓ Secret updated in AWS Secrets …``)."""

_PROVIDER_HINTS: tuple[tuple[str, Provider], ...] = (
    ("region", "aws"),
    ("project", "gcp"),
    ("vault_url", "azure"),
    ("vault_address", "vault"),
)
_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
)


def infer_provider(fields: Mapping[str, Any]) -> Provider | None:
    """The provider the config's fields imply when ``provider`` is not written.

    ADR-0023's manifests never write it: ``region`` means AWS, ``project`` GCP, ``vault_url``
    Azure, ``vault_address`` Vault. None when no field tells (the store is then not rendered).
    """
    given = fields.get("provider")
    if given:
        return given  # type: ignore[no-any-return]
    found = [provider for field, provider in _PROVIDER_HINTS if fields.get(field)]
    return found[0] if len(found) == 1 else None


def object_label(obj: Mapping[str, Any]) -> str:
    """``ExternalSecret floe-jobs/snowflake-credentials`` or ``ClusterSecretStore aws-…``."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def go_duration_text(text: str) -> str:
    """``text`` as Go's ``Duration.String()`` writes it (``1h`` -> ``1h0m0s``).

    ESO's controller writes its objects back with Go's encoding, so a live ``refreshInterval: 1h``
    reads ``1h0m0s``; both forms must compare equal or every apply would look like a change.
    Anything that is not a whole number of seconds is returned unchanged.
    """
    try:
        seconds = parse_go_duration(text).total_seconds()
    except ValueError:
        return text
    if seconds != int(seconds):
        return text
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def comparable(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a reviewer compares: apiVersion, kind, name, labels, annotations and spec.

    Durations are written as Go writes them (see :func:`go_duration_text`).
    """
    if obj is None:
        return {}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    spec = dict(obj.get("spec") or {})
    if isinstance(spec.get("refreshInterval"), str):
        spec["refreshInterval"] = go_duration_text(spec["refreshInterval"])
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": meta,
        "spec": spec,
    }


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    """A multi-document YAML stream, keys in the objects' order, for ``kubectl apply -f -``."""
    return yaml.safe_dump_all(
        [dict(obj) for obj in objects], sort_keys=False, default_flow_style=False
    )


def object_diff(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> list[str]:
    """Unified diff (``-`` live, ``+`` after apply) of the :func:`comparable` forms; [] if equal."""
    before = comparable(live)
    after = comparable(desired)
    if before == after:
        return []
    label = object_label(desired)
    old = yaml.safe_dump(before, sort_keys=True).splitlines() if before else []
    new = yaml.safe_dump(after, sort_keys=True).splitlines()
    return list(
        difflib.unified_diff(
            old, new, fromfile=f"live {label}", tofile=f"after apply {label}", lineterm=""
        )
    )
