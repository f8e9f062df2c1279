"""Server-side apply of rendered ESO objects, idempotently, saying what each would change.

For every object: read the live one (a missing one is "create"), ask the apiserver what applying
would store (``dryRun=All``: ESO's CRD schema and defaults applied, nothing written), and compare
the two (:func:`~floe_dagster_secrets.backends.eso.render.object_diff`). Only an object whose
diff is not empty is applied for real, so applying the same manifest twice writes nothing the
second time (its ``resourceVersion`` stays). ClusterSecretStores go first: the ExternalSecrets
read from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from floe_dagster_secrets.backends.eso.objects import STORE_KIND, api_path, store_path
from floe_dagster_secrets.backends.eso.render import object_diff, object_label
from floe_dagster_secrets.errors import SecretNotFoundError

if TYPE_CHECKING:
    from floe_dagster_secrets.backends.eso.plugin import ESOSecretsPlugin

__all__ = ["AppliedObject", "apply_objects"]

Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class AppliedObject:
    """What applying one object did (or, with ``dry_run``, would do)."""

    label: str
    action: Action
    diff: list[str] = field(default_factory=list)
    applied: bool = False

    def to_json(self) -> dict[str, Any]:
        """For ``-o json``: the object, the action, whether it was written, the diff lines."""
        return {
            "object": self.label,
            "action": self.action,
            "applied": self.applied,
            "diff": self.diff,
        }


def _where(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(REST path, namespace, name, kind) of a rendered ExternalSecret or ClusterSecretStore."""
    meta = obj["metadata"]
    version = str(obj["apiVersion"]).rpartition("/")[2]
    kind = str(obj["kind"])
    name = str(meta["name"])
    if kind == STORE_KIND:
        return store_path(version, name), "", name, kind
    namespace = str(meta["namespace"])
    return api_path(version, namespace, name), namespace, name, kind


def apply_objects(
    plugin: ESOSecretsPlugin, objects: Sequence[Mapping[str, Any]], *, dry_run: bool = False
) -> list[AppliedObject]:
    """Apply ``objects`` (stores first) where they differ from the live ones; what changed.

    Args:
        plugin: The ESO backend whose cluster connection is used (floe's field manager).
        objects: Rendered ExternalSecrets and ClusterSecretStores.
        dry_run: Only compare: the apiserver validates each object and stores nothing.
    """
    api = plugin._api  # this module is part of the ESO backend's own package
    ordered = sorted(objects, key=lambda obj: obj["kind"] != STORE_KIND)
    results: list[AppliedObject] = []
    for obj in ordered:
        path, namespace, name, kind = _where(obj)
        try:
            live: dict[str, Any] | None = api.send(
                "GET", path, verb="get", namespace=namespace, name=name, kind=kind
            )
        except SecretNotFoundError:
            live = None
        preview = api.apply(path, obj, namespace=namespace, name=name, kind=kind, dry_run=True)
        diff = object_diff(live, preview)
        action: Action = "create" if live is None else ("update" if diff else "unchanged")
        applied = False
        if diff and not dry_run:
            api.apply(path, obj, namespace=namespace, name=name, kind=kind)
            applied = True
        results.append(AppliedObject(object_label(obj), action, diff, applied))
    return results
