"""Which secret keys make portable env var names, and the warning for the keys that do not.

A Secret key may be any of ``[-._a-zA-Z0-9]+``; an ``envFrom`` entry turns every key into an
environment variable (after its prefix). Kubelets before Kubernetes 1.34 (or with the
``RelaxedEnvironmentVariableValidation`` gate off) silently *skip* keys that are not C identifiers
— ``1KEY``, ``db.password``, ``api-key`` — recording only an ``InvalidEnvironmentVariableNames``
event; newer kubelets pass them, but shells, ``env_var()`` in most tools and ``$VAR`` expansion
still cannot read them. Nothing fails at create time, so floe warns: the CLI when such a key is
written, the run launcher when a run mounts one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PORTABLE_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A name every kubelet, shell and program accepts."""


def non_portable_keys(keys: Iterable[str], *, prefix: str = "") -> list[str]:
    """The keys (sorted) that do not make a portable env var name once ``prefix`` is added."""
    return sorted({key for key in keys if not PORTABLE_ENV_NAME.match(f"{prefix}{key}")})


def non_portable_warning(secret: str, keys: Iterable[str], *, namespace: str | None = None) -> str:
    """The warning for ``secret``'s keys that ``envFrom`` may skip, naming the fix."""
    listed = ", ".join(f"'{key}'" for key in keys)
    where = f" in namespace '{namespace}'" if namespace else ""
    return (
        f"Secret '{secret}'{where} has key(s) {listed} that are not portable environment "
        "variable names: kubelets before Kubernetes 1.34 skip them in envFrom (the pod starts "
        "without them), and shells cannot read them. Fix: rename them to letters, digits and "
        "'_', not starting with a digit (e.g. DB_PASSWORD)"
    )
