"""Pure builders for the pod-spec fragments that carry secrets into a Job pod.

Every backend ends the same way (ADR-0023: "all backends produce the same output"), so these live
outside any backend and are shared by the plugins, the run launcher and the CLI. The value types
of the launcher's seam (:class:`RunPodSettings` in, :class:`RunPodContribution` out; see
``backends.base.ContributesToRunPod``) are here for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from floe_dagster_secrets.errors import InvalidSecretReferenceError

PROFILES_CONFIG_MAP = "dbt-profiles"
"""The ConfigMap holding ``profiles.yml`` (``env_var()`` references only) that ``floe profiles
render --configmap`` writes, a manifest makes the run launcher mount, and the launcher's RBAC
lets it check."""

ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
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


# --- what a backend gives a run's pod (the launcher's seam, see backends.base) -------------------


@dataclass(frozen=True)
class RunPodSettings:
    """What the run launcher tells a backend about the pod it is building.

    Attributes:
        prefixes: Secret name → ``envFrom`` prefix (the compute secret → ``DBT_ENV_SECRET_``).
        service_account_name: The service account the launcher is configured with (its own
            ``service_account_name``); ``None`` when the user set none there.
        overrides: Launcher settings that change what the pod is told about the backend, by
            launcher config field name (``vault_address``, ``vault_role``, ``vault_auth_mount``:
            an in-cluster address that differs from the manifest's). A backend ignores the ones
            that are not its own.
    """

    prefixes: Mapping[str, str] = field(default_factory=dict)
    service_account_name: str | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunPodContribution:
    """What a backend adds to a run's (or step's) pod for the secrets it holds; no value in it.

    Attributes:
        env_from: ``envFrom`` entries, snake_case as ``UserDefinedDagsterK8sConfig`` holds them.
        env: Plain ``{"name", "value"}`` env vars: addresses and names only, never a credential.
        service_account_name: The service account the pod must run as (e.g. the one a Vault
            Kubernetes-auth role is bound to); ``None``: any.
        service_account_reason: Why, for the error when the user set another one.
        kubernetes_secrets: Which names the launcher must pre-flight as Kubernetes Secrets in the
            Job's namespace (the ones ``env_from`` references).
    """

    env_from: tuple[Mapping[str, Any], ...] = ()
    env: tuple[Mapping[str, str], ...] = ()
    service_account_name: str | None = None
    service_account_reason: str = ""
    kubernetes_secrets: tuple[str, ...] = ()

    def merged(self, other: RunPodContribution) -> RunPodContribution:
        """This contribution followed by ``other`` (lists appended; ``other``'s account wins)."""
        return RunPodContribution(
            env_from=(*self.env_from, *other.env_from),
            env=(*self.env, *other.env),
            service_account_name=other.service_account_name or self.service_account_name,
            service_account_reason=(
                other.service_account_reason
                if other.service_account_name
                else self.service_account_reason
            ),
            kubernetes_secrets=tuple(
                dict.fromkeys([*self.kubernetes_secrets, *other.kubernetes_secrets])
            ),
        )


def kubernetes_secrets_contribution(
    names: Sequence[str], settings: RunPodSettings
) -> RunPodContribution:
    """Each name a Kubernetes Secret in the Job's namespace: one ``envFrom`` entry each.

    What the Kubernetes and ESO backends give a pod (ESO's targets are Kubernetes Secrets), and
    what the launcher does with its own ``platform_secrets`` whatever the backend.
    """
    entries: list[Mapping[str, Any]] = []
    unique = tuple(dict.fromkeys(names))
    for name in unique:
        entry: dict[str, Any] = {"secret_ref": {"name": name}}
        if settings.prefixes.get(name):
            entry["prefix"] = settings.prefixes[name]
        entries.append(entry)
    return RunPodContribution(env_from=tuple(entries), kubernetes_secrets=unique)
