"""Which secret keys make portable env var names, and the warning for the keys that do not.

A Secret key may be any of ``[-._a-zA-Z0-9]+``; an ``envFrom`` entry turns every key into an
environment variable (after its prefix). What happens to a key that is not a C identifier —
``1KEY``, ``db.password``, ``api-key`` — depends on the kubelet and on what runs in the container:

- kubelet 1.35 (relaxed env var names, GA since 1.34) passes it into the container's environment,
  with no event. This is checked on the suite's real node (``tests/e2e/test_node.py``): a Python
  process started directly sees ``DBT_ENV_SECRET_bad.key``;
- a shell in between (``sh -c …``, an entrypoint script) drops it from what it passes on, so the
  program it starts never sees it; ``$VAR`` expansion and most tools' ``env_var()`` cannot name it;
- kubelets before 1.34 skip it, recording only an ``InvalidEnvironmentVariableNames`` event.

Nothing fails at create time, so floe warns: the CLI when such a key is written, the run launcher
when a run mounts one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PORTABLE_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A name every kubelet, shell and program accepts."""


def non_portable_keys(keys: Iterable[str], *, prefix: str = "") -> list[str]:
    """The keys (sorted) that do not make a portable env var name once ``prefix`` is added."""
    return sorted({key for key in keys if not PORTABLE_ENV_NAME.fullmatch(f"{prefix}{key}")})


def non_portable_warning(secret: str, keys: Iterable[str], *, namespace: str | None = None) -> str:
    """The warning for ``secret``'s keys that ``envFrom`` may skip, naming the fix."""
    listed = ", ".join(f"'{key}'" for key in keys)
    where = f" in namespace '{namespace}'" if namespace else ""
    return (
        f"Secret '{secret}'{where} has key(s) {listed} that are not portable environment "
        "variable names: kubelet 1.35 passes them into the container, but a shell in between "
        "(sh -c, an entrypoint script) drops them, and kubelets before Kubernetes 1.34 skip them "
        "in envFrom (the pod starts without them). Fix: rename them to letters, digits and "
        "'_', not starting with a digit (e.g. DB_PASSWORD)"
    )
