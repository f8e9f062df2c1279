"""Which secrets a Pipes pod gets, and the pod spec that carries them; pure, no I/O.

A pod started by ``PipesK8sClient`` is created by the step itself, not by the run launcher, so
nothing scopes its secrets unless the step does. The rule is the launcher's, applied to the assets
this *step* executes instead of the whole run: the launcher's ``platform_secrets``, then the
secrets the step's assets name in their ``floe/secrets`` metadata (sorted, de-duplicated by
:func:`~floe_dagster_secrets.launcher.pod_env.run_secret_names`). What the pod gets for each name
is the backend's decision, through the same
:meth:`~floe_dagster_secrets.launcher.config.LauncherSecrets.contribution` and
:func:`~floe_dagster_secrets.launcher.pod_env.run_k8s_config` the launcher builds Job pods with:
``envFrom`` secretRefs (prefixed for the compute secret), Vault's address and role, a required
service account. References only: no value is ever written into the pod spec.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from floe_dagster_secrets.asset_metadata import secrets_from_metadata
from floe_dagster_secrets.launcher.config import LauncherSecrets
from floe_dagster_secrets.launcher.pod_env import (
    run_k8s_config,
    run_secret_names,
    service_account_conflict,
)


def step_secret_names(
    settings: LauncherSecrets, asset_metadata: Iterable[Mapping[str, Any]]
) -> tuple[str, ...]:
    """The secrets of a Pipes pod: the launcher's platform secrets, then the step's assets' ones.

    Args:
        settings: The launcher's resolved settings (its ``platform_secrets`` are included, as
            for every run pod).
        asset_metadata: The metadata of each asset the step executes.
    """
    return run_secret_names(
        settings.platform_secrets, [secrets_from_metadata(meta) for meta in asset_metadata]
    )


def _first_container(spec: dict[str, Any]) -> dict[str, Any]:
    containers = spec.setdefault("containers", [{}])
    if not containers:
        containers.append({})
    first: dict[str, Any] = containers[0]
    return first


def _account(spec: Mapping[str, Any]) -> str | None:
    account = spec.get("service_account_name") or spec.get("serviceAccountName")
    return str(account) if account else None


def pipes_pod_spec(
    names: Iterable[str],
    settings: LauncherSecrets,
    base_pod_spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``base_pod_spec`` (snake_case or camelCase) with the secrets of ``names`` added.

    The first container, the one ``PipesK8sClient`` runs the external process in, gets the
    ``envFrom`` entries, env vars and the dbt profiles mount the launcher would give a run pod
    with these secrets; the pod gets the profiles volume and, when the backend requires one and
    the spec sets none, the service account. Nothing the caller wrote is removed.

    Raises:
        SecretAccessDeniedError: the spec sets a service account the backend cannot work with.
    """
    spec: dict[str, Any] = copy.deepcopy(dict(base_pod_spec or {}))
    contribution = settings.contribution(tuple(names))
    current = _account(spec)
    conflict = service_account_conflict(
        contribution,
        current,
        where="the Pipes pod's base_pod_spec",
        backend=settings.backend.name if settings.backend is not None else "k8s",
    )
    if conflict is not None:
        raise conflict
    ours = run_k8s_config(contribution, settings.pod, current_service_account=current)
    container = _first_container(spec)
    for key, entries in ours["container_config"].items():
        camel = {"env_from": "envFrom", "volume_mounts": "volumeMounts"}.get(key, key)
        existing = list(container.pop(camel, None) or []) + list(container.get(key) or [])
        container[key] = existing + [dict(entry) for entry in entries]
    pod = ours["pod_spec_config"]
    if pod.get("volumes"):
        existing = list(spec.pop("volumes", None) or [])
        spec["volumes"] = existing + [dict(volume) for volume in pod["volumes"]]
    if pod.get("service_account_name"):
        spec["service_account_name"] = pod["service_account_name"]
    return spec
