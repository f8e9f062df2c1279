"""Pure builders for the pod-spec fragments that carry secrets into a Job pod.

Every backend ends the same way (ADR-0023: "all backends produce the same output"), so these live
outside any backend and are shared by the plugins, the run launcher and the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from floe_dagster_secrets.errors import InvalidSecretReferenceError

ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""Portable env var names. Kubelets without the RelaxedEnvironmentVariableValidation feature
(on by default only from Kubernetes 1.32/1.34) silently skip other ``envFrom`` keys, and shells and
many programs cannot read them, so floe asks for these."""


def env_from_secret(secret_name: str, *, prefix: str | None = None) -> dict[str, Any]:
    """One ``envFrom`` entry: every key of the secret becomes an env var (optionally prefixed)."""
    entry: dict[str, Any] = {"secretRef": {"name": secret_name}}
    if prefix:
        entry["prefix"] = prefix
    return entry


def split_key_ref(ref: str, *, env_var: str) -> tuple[str, str]:
    """Split ``"secret-name/key"`` into its parts, or fail naming the env var it was for."""
    secret, sep, key = ref.partition("/")
    if not sep or not secret or not key:
        raise InvalidSecretReferenceError(
            f"Reference '{ref}' for env var '{env_var}' is not of the form 'secret-name/key'",
            fix="write the reference as '<secret-name>/<key>', e.g. 'snowflake-credentials/USER'",
            secret=secret or None,
        )
    return secret, key


def env_from_secret_keys(secret_refs: Mapping[str, str]) -> dict[str, Any]:
    """``env`` entries that each take one key of a secret (``valueFrom.secretKeyRef``)."""
    env = []
    for env_var, ref in sorted(secret_refs.items()):
        if not ENV_VAR_NAME.match(env_var):
            raise InvalidSecretReferenceError(
                f"'{env_var}' is not a valid environment variable name",
                fix="use letters, digits and '_' only, not starting with a digit",
            )
        secret, key = split_key_ref(ref, env_var=env_var)
        env.append({"name": env_var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return {"env": env}
