"""The launcher's own ``dagster.yaml`` settings, and what they resolve to once the manifest is read.

Kept apart from the launcher class so the resolution (manifest → prefixes, required keys, the
backend that decides what a pod gets) is a plain function with unit tests; reading the manifest
file is the only I/O here (the backend is constructed from it without any).

What is added to a pod that the user did not write into the pod config:

- the dbt profiles ConfigMap (a volume and ``DBT_PROFILES_DIR``): when
  ``dbt_profiles_config_map`` names one, or, unset, when ``manifest_path`` is set (a manifest
  always has a compute plugin, from which ``floe`` renders the ``dbt-profiles`` ConfigMap);
  ``dbt_profiles_config_map: null`` turns it off. Without a manifest: nothing.
- the service account: only what the backend requires (Vault's Kubernetes-auth role), only when
  the user set none; see ``pod_env.service_account_conflict``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import Array, Field, Map, Noneable, StringSource

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.factory import plugin_from_manifest
from floe_dagster_secrets.dbt import SECRET_ENV_PREFIX, required_secret_keys
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.kube.pod_spec import PROFILES_CONFIG_MAP, RunPodContribution
from floe_dagster_secrets.launcher.pod_env import (
    DEFAULT_PROFILES_DIR,
    PodSecretsSettings,
    pod_contribution,
)
from floe_dagster_secrets.manifest import Manifest, load_manifest
from floe_dagster_secrets.masking import get_masker

DEFAULT_FINGERPRINT_KEY_ENV = "FLOE_LAUNCHER_FINGERPRINT_KEY"

FLOE_FIELDS: dict[str, Field] = {
    "manifest_path": Field(
        Noneable(StringSource),
        default_value=None,
        description="manifest.yaml to read the compute secret, per-secret key policies and the "
        "secrets backend (Vault login) from. Names only are read.",
    ),
    "platform_secrets": Field(
        Array(str),
        default_value=[],
        description="Secrets every run gets, whatever it executes (platform-wide refs).",
    ),
    "secret_prefixes": Field(
        Map(str, str),  # type: ignore[no-untyped-call]
        default_value={},
        description="Secret name -> envFrom prefix. The compute connection secret gets "
        "DBT_ENV_SECRET_ unless set here.",
    ),
    "required_keys": Field(
        Map(str, [str]),  # type: ignore[no-untyped-call]
        default_value={},
        description="Secret name -> keys the pre-flight check requires (added to the manifest's).",
    ),
    "compute_secret": Field(Noneable(str), default_value=None),
    "compute_type": Field(Noneable(str), default_value=None),
    "dbt_profiles_config_map": Field(
        Noneable(str),
        is_required=False,
        description="ConfigMap holding profiles.yml, mounted at dbt_profiles_dir in run and step "
        f"pods. Unset: '{PROFILES_CONFIG_MAP}' when manifest_path is set, else none; "
        "null: none.",
    ),
    "dbt_profiles_dir": Field(str, default_value=DEFAULT_PROFILES_DIR),
    "preflight_check": Field(bool, default_value=True),
    "fingerprint_key_env": Field(
        str,
        default_value=DEFAULT_FINGERPRINT_KEY_ENV,
        description="NAME of the env var (in the daemon/webserver) holding the HMAC key.",
    ),
    "fingerprint_key_file": Field(Noneable(str), default_value=None),
    "vault_address": Field(
        Noneable(str),
        default_value=None,
        description="Vault address the pods use, if not the manifest's (type: vault only).",
    ),
    "vault_role": Field(Noneable(str), default_value=None),
    "vault_auth_mount": Field(Noneable(str), default_value=None),
}

_BACKEND_OVERRIDES = ("vault_address", "vault_role", "vault_auth_mount")
"""Launcher fields passed to the manifest's backend as ``RunPodSettings.overrides``."""


@dataclass(frozen=True)
class LauncherSecrets:
    """Everything the launcher decides secrets with, resolved once at construction."""

    platform_secrets: tuple[str, ...] = ()
    required_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    pod: PodSecretsSettings = field(default_factory=PodSecretsSettings)
    preflight_check: bool = True
    fingerprint_key_env: str = DEFAULT_FINGERPRINT_KEY_ENV
    fingerprint_key_file: str | None = None
    backend: SecretsPlugin | None = None
    """The manifest's backend, constructed without I/O and never used for I/O here: it decides
    what a pod gets (``ContributesToRunPod``). ``None``: no manifest, Kubernetes Secrets."""

    def contribution(self, names: Sequence[str]) -> RunPodContribution:
        """What the pod of a run (or step) with secrets ``names`` gets; pure."""
        return pod_contribution(
            names, platform_secrets=self.platform_secrets, backend=self.backend, settings=self.pod
        )

    def keys_for(self, name: str) -> tuple[str, ...]:
        """Keys secret ``name`` must hold (empty: existence is enough)."""
        return self.required_keys.get(name, ())

    def fingerprint_key(self) -> bytes | None:
        """The HMAC key from the file or env var named in the config; ``None`` if neither is set.

        The key is registered with the masker: it is a secret of the launcher's own.
        """
        raw: str | None = None
        if self.fingerprint_key_file:
            raw = Path(self.fingerprint_key_file).read_text().strip()
        else:
            raw = os.environ.get(self.fingerprint_key_env) or None
        if not raw:
            return None
        get_masker().register(raw)
        return raw.encode()


def _manifest_parts(manifest: Manifest) -> tuple[dict[str, str], dict[str, list[str]]]:
    prefixes: dict[str, str] = {}
    keys: dict[str, list[str]] = {}
    compute = manifest.plugins.compute
    if compute is not None:
        prefixes[compute.connection_secret_ref] = SECRET_ENV_PREFIX
        keys[compute.connection_secret_ref] = list(
            required_secret_keys(compute.type, settings=compute.config)
        )
    for name, policy in (manifest.secrets or {}).items():
        keys.setdefault(name, []).extend(policy.keys)
    return prefixes, keys


def resolve(config: Mapping[str, Any], *, service_account_name: str | None) -> LauncherSecrets:
    """Turn the launcher config (+ the manifest it names) into :class:`LauncherSecrets`.

    Explicit launcher settings win over what the manifest implies.

    Raises:
        InvalidManifestError: ``manifest_path`` is set but the file cannot be read, or a
            ``vault_*`` override is set without a manifest to apply it to.
    """
    prefixes: dict[str, str] = {}
    keys: dict[str, list[str]] = {}
    backend: SecretsPlugin | None = None
    manifest_path = config.get("manifest_path")
    overrides = {k: str(config[k]) for k in _BACKEND_OVERRIDES if config.get(k)}
    if manifest_path:
        if not Path(manifest_path).is_file():
            raise InvalidManifestError(
                f"The run launcher's manifest_path '{manifest_path}' is not a file",
                fix="point run_launcher.config.manifest_path in dagster.yaml at manifest.yaml",
                path=str(manifest_path),
            )
        manifest = load_manifest(manifest_path)
        prefixes, keys = _manifest_parts(manifest)
        backend = plugin_from_manifest(manifest, base_dir=Path(manifest_path).parent)
    elif overrides:
        raise InvalidManifestError(
            f"The run launcher sets {', '.join(sorted(overrides))} but no manifest_path: these "
            "override the manifest's Vault backend for the pods, and there is none",
            fix="set run_launcher.config.manifest_path to a manifest with plugins.secrets.type "
            "vault, or remove them",
        )
    compute_secret = config.get("compute_secret")
    if compute_secret:
        prefixes.setdefault(compute_secret, SECRET_ENV_PREFIX)
        if config.get("compute_type"):
            keys.setdefault(compute_secret, []).extend(required_secret_keys(config["compute_type"]))
    prefixes.update({str(k): str(v) for k, v in (config.get("secret_prefixes") or {}).items()})
    for name, extra in (config.get("required_keys") or {}).items():
        keys.setdefault(str(name), []).extend(str(k) for k in extra)
    if "dbt_profiles_config_map" in config:
        profiles = config["dbt_profiles_config_map"]
    else:
        profiles = PROFILES_CONFIG_MAP if manifest_path else None
    pod = PodSecretsSettings(
        service_account_name=service_account_name or None,
        prefixes=prefixes,
        profiles_config_map=profiles or None,
        profiles_dir=config.get("dbt_profiles_dir") or DEFAULT_PROFILES_DIR,
        profiles_explicit="dbt_profiles_config_map" in config,
        overrides=overrides,
    )
    platform: Sequence[str] = config.get("platform_secrets") or ()
    return LauncherSecrets(
        platform_secrets=tuple(dict.fromkeys(platform)),
        required_keys={name: tuple(dict.fromkeys(ks)) for name, ks in keys.items()},
        pod=pod,
        preflight_check=bool(config.get("preflight_check", True)),
        fingerprint_key_env=config.get("fingerprint_key_env") or DEFAULT_FINGERPRINT_KEY_ENV,
        fingerprint_key_file=config.get("fingerprint_key_file"),
        backend=backend,
    )
