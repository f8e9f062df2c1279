"""The rules a Kubernetes API server applies to Secrets, checked before anything is written.

The name and key rules themselves live in :mod:`floe_dagster_secrets.kube.names`; this module
turns a failed rule into our error, and adds the size and encoding rules.

The local store enforces them too, so a secret that works on a laptop also works in a cluster, and a
bad name fails with our error instead of an API server's 422. Messages name keys, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from floe_dagster_secrets.errors import InvalidSecretReferenceError, InvalidSecretValueError
from floe_dagster_secrets.kube.names import is_dns1123_label, is_dns1123_subdomain
from floe_dagster_secrets.kube.names import is_secret_key as is_secret_key

MAX_SECRET_BYTES = 1024 * 1024
"""Total size of a secret's values: the limit the Kubernetes API server enforces."""

_SHOWN_CHARS = 80


def shown(text: object) -> str:
    """A name or key cut short for an error message (never call it on a value)."""
    text = str(text)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}…"


def is_secret_name(name: object) -> bool:
    """Whether ``name`` is a valid Kubernetes object name (DNS-1123 subdomain)."""
    return is_dns1123_subdomain(name)


def check_namespace(namespace: object, *, backend: str) -> None:
    """Raise InvalidSecretReferenceError unless ``namespace`` is a DNS-1123 label."""
    if not is_dns1123_label(namespace):
        raise InvalidSecretReferenceError(
            f"'{shown(namespace)}' is not a valid namespace name",
            fix="use at most 63 lowercase letters, digits and '-', starting and ending with a "
            "letter or digit (a Kubernetes namespace name)",
            backend=backend,
        )


def check_secret_name(name: object, namespace: str, *, backend: str) -> None:
    """Raise InvalidSecretReferenceError unless ``name`` is a DNS-1123 subdomain."""
    if not is_secret_name(name):
        raise InvalidSecretReferenceError(
            f"'{shown(name)}' is not a valid secret name",
            fix="use at most 253 lowercase letters, digits, '-' and '.', starting and ending "
            "with a letter or digit (a Kubernetes object name), e.g. snowflake-credentials",
            backend=backend,
            namespace=namespace,
        )


def check_secret_data(
    name: str, namespace: str, data: Mapping[str, str], *, backend: str
) -> dict[str, str]:
    """Validate keys and values; return a copy sorted by key.

    Raises:
        InvalidSecretReferenceError: A key breaks the Kubernetes Secret key rule.
        InvalidSecretValueError: A value is not text, not encodable as UTF-8 (unpaired
            surrogates), or the values together exceed 1 MiB.
    """
    where: dict[str, Any] = {"backend": backend, "secret": name, "namespace": namespace}
    if not isinstance(data, Mapping):
        raise InvalidSecretValueError(
            f"Secret data must be a mapping of key to text, not {type(data).__name__}",
            fix="pass a dict such as {'PASSWORD': '...'}",
            **where,
        )
    clean: dict[str, str] = {}
    for key, value in data.items():
        if not is_secret_key(key):
            raise InvalidSecretReferenceError(
                f"Key '{shown(key)}' is not a valid secret key",
                fix="use at most 253 letters, digits, '-', '_' and '.' (the Kubernetes Secret "
                "key rule), e.g. SNOWFLAKE_PASSWORD",
                **where,
            )
        if not isinstance(value, str):
            raise InvalidSecretValueError(
                f"The value of key '{key}' is a {type(value).__name__}, not text",
                fix="pass values as str: decode bytes, or base64-encode binary data first",
                **where,
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Not `from e`: a UnicodeEncodeError holds the whole value in its `.object`.
            raise InvalidSecretValueError(
                f"The value of key '{key}' is not valid UTF-8 text (it holds an unpaired "
                "surrogate, usually left by bytes that could not be decoded)",
                fix="store the value as UTF-8 text, or base64-encode binary data first",
                **where,
            ) from None
        clean[key] = value
    check_secret_size(name, namespace, clean, backend=backend)
    return dict(sorted(clean.items()))


def check_secret_size(name: str, namespace: str, data: Mapping[str, str], *, backend: str) -> None:
    """Raise InvalidSecretValueError, naming the largest key, if the values exceed 1 MiB."""
    sizes = {key: len(value.encode("utf-8")) for key, value in data.items()}
    total = sum(sizes.values())
    if total > MAX_SECRET_BYTES:
        largest = max(sizes, key=lambda key: sizes[key])
        raise InvalidSecretValueError(
            f"Secret values total {total} bytes, over the 1 MiB ({MAX_SECRET_BYTES} bytes) limit "
            f"Kubernetes also enforces; the largest is key '{largest}' ({sizes[largest]} bytes)",
            fix="keep large files out of secrets: store them elsewhere and keep only the "
            "credential that unlocks them here",
            backend=backend,
            secret=name,
            namespace=namespace,
        )
