"""Names that put a secret into Dagster's asset catalog: its asset key and its tag on users.

Pure: no Dagster import, so the launcher and the CLI can compute the same names cheaply.

A secret is the asset ``secrets/<name>`` (the prefix keeps secrets apart from data assets and lets
``AssetSelection.key_prefixes("secrets")`` select them all). Every asset that uses a secret
carries the tag ``floe/secret.<name>`` (empty value), so the catalog's tag filter lists the
assets of one secret. A tag per secret, not one ``floe/secret`` tag holding a list, because a
Dagster tag has one value and the catalog filters on whole values. Dagster tag keys allow
``[A-Za-z0-9_.-]`` and 63 characters after the prefix: a name outside that (a Vault path with
``/``, a very long name) is mapped to a valid, still unique key (see :func:`secret_tag_key`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

SECRET_ASSET_PREFIX = "secrets"  # noqa: S105 - an asset key prefix
SECRET_TAG_PREFIX = "floe/secret."  # noqa: S105 - a tag name, not a password
SECRET_GROUP = "floe_secrets"  # noqa: S105 - an asset group name
_TAG_NAME_LIMIT = 63 - len("secret.")
_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


def secret_asset_path(name: str) -> list[str]:
    """``["secrets", name]``: the asset key path of secret ``name``."""
    return [SECRET_ASSET_PREFIX, name]


def secret_tag_key(name: str) -> str:
    """``floe/secret.<name>``, the tag every asset using secret ``name`` carries.

    Characters Dagster does not allow in a tag key become ``_``; a name longer than the limit is
    cut and given 8 hex digits of its SHA-256, so two secrets never share a tag.
    """
    safe = _INVALID.sub("_", name)
    if safe != name or len(safe) > _TAG_NAME_LIMIT:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        safe = f"{safe[: _TAG_NAME_LIMIT - 9]}-{digest}"
    return f"{SECRET_TAG_PREFIX}{safe}"


def secret_tags(names: Iterable[str]) -> dict[str, str]:
    """One ``floe/secret.<name>: ""`` tag per secret."""
    return {secret_tag_key(name): "" for name in names}
