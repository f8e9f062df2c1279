"""Read what the pre-flight check needs: which secrets exist, with which keys and versions.

One metadata-only LIST per namespace (``PartialObjectMetadataList``: names, annotations,
``resourceVersion``, never ``data``) answers for every secret floe wrote, whose key names are in
its ``floe.dev/keys`` annotation. Only a referenced secret that floe did not write, and whose
keys matter, costs one more read (``describe_secret``), and that call drops the values unseen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.types import SecretMetadata


def secrets_metadata(
    plugin: SecretsPlugin, namespace: str, required_keys: Mapping[str, Sequence[str]]
) -> dict[str, SecretMetadata]:
    """Metadata (with key names where they matter) of the referenced secrets that exist."""
    listed = {meta.name: meta for meta in plugin.list_secrets(namespace)}
    found: dict[str, SecretMetadata] = {}
    for name, keys in required_keys.items():
        meta = listed.get(name)
        if meta is None:
            continue
        if keys and not meta.extra.get("keys_known", True):
            meta = plugin.describe_secret(name, namespace)
        found[name] = meta
    return found
