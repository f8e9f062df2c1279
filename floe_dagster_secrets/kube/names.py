"""Kubernetes' name rules, written once: the manifest, every backend and the CLI check with these.

The API server's own rules (``IsDNS1123Label``, ``IsDNS1123Subdomain``, ``IsConfigMapKey``):
namespaces are DNS-1123 labels (at most 63 characters), object names such as Secrets are DNS-1123
subdomains (at most 253), and a Secret's keys are ``[-._a-zA-Z0-9]+`` (at most 253, not ``.``,
not starting with ``..``). Pure; no Kubernetes client is imported. The ``is_*`` checks use
``fullmatch``: a pattern's ``$`` would also accept a trailing newline.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
SECRET_KEY_MAX = 253

DNS1123_LABEL_FRAGMENT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
"""One DNS-1123 label, unanchored (one group inside), for patterns that embed one: the
environment in ``manifest.<env>.yaml``."""
_LABEL = DNS1123_LABEL_FRAGMENT
DNS1123_LABEL_PATTERN = rf"^{_LABEL}$"
"""Namespace names (and every other DNS-1123 label): lowercase, digits, '-'."""
DNS1123_SUBDOMAIN_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"
"""Object names (Secrets, ConfigMaps): labels joined by '.'."""
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"  # noqa: S105 - a key-name rule, not a secret
"""The Secret/ConfigMap key rule (``IsConfigMapKey``)."""

DNS1123_LABEL = re.compile(DNS1123_LABEL_PATTERN)
DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_PATTERN)
SECRET_KEY = re.compile(SECRET_KEY_PATTERN)


def is_dns1123_label(value: object) -> bool:
    """Whether ``value`` is a valid namespace name (DNS-1123 label, at most 63 characters)."""
    return (
        isinstance(value, str)
        and len(value) <= DNS1123_LABEL_MAX
        and bool(DNS1123_LABEL.fullmatch(value))
    )


def is_dns1123_subdomain(value: object) -> bool:
    """Whether ``value`` is a valid object name (DNS-1123 subdomain, at most 253 characters)."""
    return (
        isinstance(value, str)
        and len(value) <= DNS1123_SUBDOMAIN_MAX
        and bool(DNS1123_SUBDOMAIN.fullmatch(value))
    )


def is_secret_key(key: object) -> bool:
    """Whether ``key`` is a valid Secret key: ``[-._a-zA-Z0-9]+``, not ``.``/``..``/``..x``."""
    return (
        isinstance(key, str)
        and len(key) <= SECRET_KEY_MAX
        and bool(SECRET_KEY.fullmatch(key))
        and not key.startswith("..")
        and key != "."
    )
