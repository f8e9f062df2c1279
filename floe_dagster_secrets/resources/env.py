"""Turn whole secrets into environment variables, the way ``envFrom`` hands them to a pod.

Pure functions over a :class:`~floe_dagster_secrets.backends.base.SecretsPlugin`: the Dagster
resources and the instance-level secrets loader share them, so a run step, a code server and a
Kubernetes Job pod all see the same variables for the same secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.errors import SecretNotFoundError
from floe_dagster_secrets.types import SecretData


def merged_env(
    plugin: SecretsPlugin,
    secret_names: Iterable[str],
    *,
    namespace: str,
    prefix: str | None = None,
) -> dict[str, str]:
    """Every key of every named secret as ``<prefix><KEY>``, later secrets winning on clashes.

    This is the one place values leave their :class:`~floe_dagster_secrets.types.SecretValue`
    wrapper: the result is meant for a subprocess environment, never for a log or a config.
    Values were registered with the masker when the backend wrapped them.
    """
    env: dict[str, str] = {}
    for name in secret_names:
        data = plugin.get_secret(name, namespace)
        for key, value in data.items():
            env[f"{prefix or ''}{key}"] = value.reveal()
    return env


def require_keys(
    data: SecretData,
    required: Sequence[str],
    *,
    secret: str,
    namespace: str,
    backend: str,
    purpose: str,
) -> None:
    """Fail naming the missing keys (never the present values) before a consumer trips on them."""
    missing = [key for key in required if key not in data]
    if missing:
        raise SecretNotFoundError(
            f"Secret '{secret}' lacks key(s) {', '.join(missing)} that {purpose} needs "
            f"(it has: {', '.join(sorted(data)) or 'no keys'})",
            fix=f"add {', '.join(missing)} to '{secret}' (update the secret with merge) and "
            "run again",
            backend=backend,
            secret=secret,
            namespace=namespace,
        )
