"""The launcher's own ``dagster.yaml`` settings, and what they resolve to once the manifest is read.

Kept apart from the launcher class so the resolution (manifest → prefixes, required keys, Vault
login) is a plain function with unit tests; reading the manifest file is the only I/O here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import Array, Field, Noneable, Permissive, StringSource

from floe_dagster_secrets.dbt import SECRET_ENV_PREFIX, required_secret_keys
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.launcher.pod_env import (
    DEFAULT_PROFILES_CONFIG_MAP,
    DEFAULT_PROFILES_DIR,
    DEFAULT_SERVICE_ACCOUNT,
    PodSecretsSettings,
    VaultLogin,
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
        Permissive(),  # type: ignore[no-untyped-call]
        default_value={},
        description="Secret name -> envFrom prefix. The compute connection secret gets "
        "DBT_ENV_SECRET_ unless set here.",
    ),
    "required_keys": Field(
        Permissive(),  # type: ignore[no-untyped-call]
        default_value={},
        description="Secret name -> keys the pre-flight check requires (added to the manifest's).",
    ),
    "compute_secret": Field(Noneable(str), default_value=None),
    "compute_type": Field(Noneable(str), default_value=None),
    "dbt_profiles_config_map": Field(Noneable(str), default_value=DEFAULT_PROFILES_CONFIG_MAP),
    "dbt_profiles_dir": Field(str, default_value=DEFAULT_PROFILES_DIR),
    "preflight_check": Field(bool, default_value=True),
    "fingerprint_key_env": Field(
        str,
        default_value=DEFAULT_FINGERPRINT_KEY_ENV,
        description="NAME of the env var (in the daemon/webserver) holding the HMAC key.",
    ),
    "fingerprint_key_file": Field(Noneable(str), default_value=None),
    "vault_address": Field(Noneable(str), default_value=None),
    "vault_role": Field(Noneable(str), default_value=None),
    "vault_auth_mount": Field(Noneable(str), default_value=None),
}


@dataclass(frozen=True)
class LauncherSecrets:
    """Everything the launcher decides secrets with, resolved once at construction."""

    platform_secrets: tuple[str, ...] = ()
    required_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    pod: PodSecretsSettings = field(default_factory=PodSecretsSettings)
    preflight_check: bool = True
    fingerprint_key_env: str = DEFAULT_FINGERPRINT_KEY_ENV
    fingerprint_key_file: str | None = None

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


def _manifest_parts(
    manifest: Manifest,
) -> tuple[dict[str, str], dict[str, list[str]], VaultLogin | None]:
    prefixes: dict[str, str] = {}
    keys: dict[str, list[str]] = {}
    compute = manifest.plugins.compute
    if compute.connection_secret_ref:
        prefixes[compute.connection_secret_ref] = SECRET_ENV_PREFIX
        keys[compute.connection_secret_ref] = list(
            required_secret_keys(compute.type, settings=compute.config)
        )
    for name, policy in (manifest.secrets or {}).items():
        keys.setdefault(name, []).extend(policy.keys)
    vault = None
    section = manifest.plugins.secrets
    if section.type == "vault" and section.config is not None:
        cfg: Any = section.config
        vault = VaultLogin(address=str(cfg.address), role=cfg.role, auth_mount=cfg.mount_path)
    return prefixes, keys, vault


def resolve(config: Mapping[str, Any], *, service_account_name: str | None) -> LauncherSecrets:
    """Turn the launcher config (+ the manifest it names) into :class:`LauncherSecrets`.

    Explicit launcher settings win over what the manifest implies.

    Raises:
        InvalidManifestError: ``manifest_path`` is set but the file cannot be read.
    """
    prefixes: dict[str, str] = {}
    keys: dict[str, list[str]] = {}
    vault: VaultLogin | None = None
    manifest_path = config.get("manifest_path")
    if manifest_path:
        if not Path(manifest_path).is_file():
            raise InvalidManifestError(
                f"The run launcher's manifest_path '{manifest_path}' is not a file",
                fix="point run_launcher.config.manifest_path in dagster.yaml at manifest.yaml",
                path=str(manifest_path),
            )
        prefixes, keys, vault = _manifest_parts(load_manifest(manifest_path))
    compute_secret = config.get("compute_secret")
    if compute_secret:
        prefixes.setdefault(compute_secret, SECRET_ENV_PREFIX)
        if config.get("compute_type"):
            keys.setdefault(compute_secret, []).extend(required_secret_keys(config["compute_type"]))
    prefixes.update({str(k): str(v) for k, v in (config.get("secret_prefixes") or {}).items()})
    for name, extra in (config.get("required_keys") or {}).items():
        keys.setdefault(str(name), []).extend(str(k) for k in extra)
    if config.get("vault_address"):
        vault = VaultLogin(
            address=str(config["vault_address"]),
            role=str(config.get("vault_role") or (vault.role if vault else "floe")),
            auth_mount=str(
                config.get("vault_auth_mount") or (vault.auth_mount if vault else "kubernetes")
            ),
        )
    pod = PodSecretsSettings(
        service_account_name=service_account_name or DEFAULT_SERVICE_ACCOUNT,
        prefixes=prefixes,
        profiles_config_map=config.get("dbt_profiles_config_map", DEFAULT_PROFILES_CONFIG_MAP),
        profiles_dir=config.get("dbt_profiles_dir") or DEFAULT_PROFILES_DIR,
        vault=vault,
    )
    platform: Sequence[str] = config.get("platform_secrets") or ()
    return LauncherSecrets(
        platform_secrets=tuple(dict.fromkeys(platform)),
        required_keys={name: tuple(dict.fromkeys(ks)) for name, ks in keys.items()},
        pod=pod,
        preflight_check=bool(config.get("preflight_check", True)),
        fingerprint_key_env=config.get("fingerprint_key_env") or DEFAULT_FINGERPRINT_KEY_ENV,
        fingerprint_key_file=config.get("fingerprint_key_file"),
    )
