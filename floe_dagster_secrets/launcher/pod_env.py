"""Pure pod-spec building for the run launcher: which secrets a run gets, and how.

No I/O and no Dagster here: given the secret names a run needs, the launcher's settings and the
manifest's backend, build the ``dagster-k8s`` user-defined config fragment (snake_case, as
``UserDefinedDagsterK8sConfig`` holds it) that gives the pod exactly those secrets. What the pod
gets for a secret is the backend's decision (``ContributesToRunPod``: ``envFrom`` for Kubernetes
and ESO, Vault's address/role/mount and service account for Vault); the launcher's own
``platform_secrets`` are always Kubernetes Secrets. Nothing is added that the user did not
configure: the dbt profiles ConfigMap only when configured (or implied by a manifest), and a
service account only when the backend requires one and the user set none. Also the checks that
must hold before a Job is created (pre-flight, literal credentials in run tags, the service
account) and the keyed fingerprint recorded on the run.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from floe_dagster_secrets.backends.base import ContributesToRunPod, SecretsPlugin
from floe_dagster_secrets.credential_names import is_credential_env_name
from floe_dagster_secrets.errors import (
    InvalidSecretReferenceError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from floe_dagster_secrets.kube.pod_spec import (
    RunPodContribution,
    RunPodSettings,
    kubernetes_secrets_contribution,
)
from floe_dagster_secrets.types import SecretMetadata

DEFAULT_PROFILES_DIR = "/opt/floe/dbt-profiles"
PROFILES_VOLUME = "floe-dbt-profiles"

SECRET_REFS_TAG = "floe/secret-refs"  # noqa: S105 - a tag name
"""Run tag: the secrets (comma-separated names) the run was launched with, in envFrom order."""
SECRET_VERSIONS_TAG = "floe/secret-versions"  # noqa: S105 - a tag name
"""Run tag: JSON ``{name: resourceVersion}`` of each secret checked at launch."""
SECRET_FINGERPRINTS_TAG = "floe/secret-fingerprints"  # noqa: S105 - a tag name
"""Run tag: JSON ``{name: "hmac-sha256:<hex>"}``, keyed with the launcher's key."""

_FINGERPRINT_HEX_CHARS = 32


@dataclass(frozen=True)
class PodSecretsSettings:
    """How the launcher builds a pod's secrets; resolved once from the launcher config.

    Attributes:
        service_account_name: The launcher's own ``service_account_name``; ``None`` if unset.
        prefixes: Secret name → ``envFrom`` prefix (the compute secret → ``DBT_ENV_SECRET_``).
        profiles_config_map: ConfigMap holding ``profiles.yml``; ``None`` mounts nothing (the
            default without a manifest).
        profiles_dir: Where that ConfigMap is mounted; becomes ``DBT_PROFILES_DIR``.
        profiles_explicit: ``dbt_profiles_config_map`` was set, not implied by the manifest: a
            pod whose own ``DBT_PROFILES_DIR`` points elsewhere is then a conflict, not a pod
            that brings its own profile (see :func:`profiles_mount`).
        overrides: Launcher settings of the pod's backend login (``vault_address`` …).
    """

    service_account_name: str | None = None
    prefixes: Mapping[str, str] = field(default_factory=dict)
    profiles_config_map: str | None = None
    profiles_dir: str = DEFAULT_PROFILES_DIR
    profiles_explicit: bool = False
    overrides: Mapping[str, str] = field(default_factory=dict)

    def for_backend(self) -> RunPodSettings:
        """What a backend is told about the pod."""
        return RunPodSettings(
            prefixes=self.prefixes,
            service_account_name=self.service_account_name,
            overrides=self.overrides,
        )


def run_secret_names(
    platform_secrets: Sequence[str], asset_secrets: Iterable[Iterable[str]]
) -> tuple[str, ...]:
    """Names a run gets: platform-wide ones in config order, then the assets' ones sorted.

    Sorting the asset-derived names keeps the Job spec (and the tags) identical for the same
    selection whatever order the assets were visited in; duplicates are dropped.
    """
    from_assets = sorted({name for names in asset_secrets for name in names})
    return tuple(dict.fromkeys([*platform_secrets, *from_assets]))


def parse_refs_tag(value: str | None) -> tuple[str, ...]:
    """The names stored in the ``floe/secret-refs`` tag (empty when the tag is absent)."""
    if not value:
        return ()
    return tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))


def format_refs_tag(names: Sequence[str]) -> str:
    """The ``floe/secret-refs`` tag value for ``names``."""
    return ",".join(names)


def env_from_entries(names: Sequence[str], prefixes: Mapping[str, str]) -> list[dict[str, Any]]:
    """``envFrom`` secretRefs (snake_case), in order, prefixed where the settings say so."""
    contribution = kubernetes_secrets_contribution(names, RunPodSettings(prefixes=prefixes))
    return [dict(entry) for entry in contribution.env_from]


def pod_contribution(
    names: Sequence[str],
    *,
    platform_secrets: Sequence[str],
    backend: SecretsPlugin | None,
    settings: PodSecretsSettings,
) -> RunPodContribution:
    """What the pod gets for ``names``: platform ones as Kubernetes Secrets, the rest the backend's.

    The backend is asked even with no name of its own (Vault still tells the pod where to log
    in). No backend (no manifest), or one without ``ContributesToRunPod``: Kubernetes Secrets.
    """
    platform = set(platform_secrets)
    ours = [name for name in names if name in platform]
    theirs = [name for name in names if name not in platform]
    to_backend = settings.for_backend()
    contribution = kubernetes_secrets_contribution(ours, to_backend)
    if isinstance(backend, ContributesToRunPod):
        return contribution.merged(backend.run_pod_contribution(theirs, to_backend))
    return contribution.merged(kubernetes_secrets_contribution(theirs, to_backend))


def profiles_mount(settings: PodSecretsSettings, current_profiles_dir: str | None) -> bool:
    """Whether the pod gets the profiles ConfigMap, given the ``DBT_PROFILES_DIR`` it already has.

    Configured and the pod sets no ``DBT_PROFILES_DIR`` of its own (or the same one): mounted.
    Implied by the manifest while the user's configuration points ``DBT_PROFILES_DIR``
    elsewhere: the pod brings its own profile, so floe adds neither the volume nor the variable.
    Set explicitly with another ``DBT_PROFILES_DIR``: mounted, and refused before the Job
    (:func:`profiles_dir_conflict`), never silently overridden.
    """
    if not settings.profiles_config_map:
        return False
    if current_profiles_dir is None or current_profiles_dir == settings.profiles_dir:
        return True
    return settings.profiles_explicit


def profiles_dir_conflict(
    settings: PodSecretsSettings, current_profiles_dir: str | None
) -> InvalidSecretReferenceError | None:
    """Our error when ``dbt_profiles_config_map`` was set and the pod's own profiles dir differs.

    Which of the two profiles dbt should read is the user's call, so the run is refused.
    """
    if not (settings.profiles_config_map and settings.profiles_explicit):
        return None
    if current_profiles_dir is None or current_profiles_dir == settings.profiles_dir:
        return None
    return InvalidSecretReferenceError(
        f"The run launcher's dbt_profiles_config_map '{settings.profiles_config_map}' is mounted "
        f"at {settings.profiles_dir} for DBT_PROFILES_DIR, but the run's own configuration sets "
        f"DBT_PROFILES_DIR={current_profiles_dir}; no Job was created",
        fix="remove one of them: dbt_profiles_config_map (null) to keep your DBT_PROFILES_DIR, "
        "or that DBT_PROFILES_DIR (launcher env_vars, code location container_context or the "
        "run's dagster-k8s/config tag) to use the ConfigMap",
        backend="k8s",
    )


def run_k8s_config(
    contribution: RunPodContribution,
    settings: PodSecretsSettings,
    *,
    current_service_account: str | None = None,
    current_profiles_dir: str | None = None,
) -> dict[str, Any]:
    """The ``UserDefinedDagsterK8sConfig`` dict that carries the run's secrets into its pod.

    Merged (deep) after everything the user configured, so a shallow user merge can never drop
    it. ``service_account_name`` is set only when the backend requires one and the pod has none
    yet (``current_service_account``: what the user's configuration already gives it); a
    different one is refused before launch (:func:`service_account_conflict`), never replaced.
    The profiles ConfigMap likewise respects a ``DBT_PROFILES_DIR`` the user already set
    (``current_profiles_dir``; :func:`profiles_mount`).
    """
    container: dict[str, Any] = {}
    pod: dict[str, Any] = {}
    env: list[dict[str, Any]] = []
    if contribution.env_from:
        container["env_from"] = [dict(entry) for entry in contribution.env_from]
    if profiles_mount(settings, current_profiles_dir):
        if current_profiles_dir is None:
            env.append({"name": "DBT_PROFILES_DIR", "value": settings.profiles_dir})
        container["volume_mounts"] = [
            {"name": PROFILES_VOLUME, "mount_path": settings.profiles_dir, "read_only": True}
        ]
        pod["volumes"] = [
            {"name": PROFILES_VOLUME, "config_map": {"name": settings.profiles_config_map}}
        ]
    env.extend(dict(entry) for entry in contribution.env)
    if env:
        container["env"] = env
    if contribution.service_account_name and not current_service_account:
        pod["service_account_name"] = contribution.service_account_name
    return {"container_config": container, "pod_spec_config": pod}


def service_account_conflict(
    contribution: RunPodContribution, current: str | None, *, where: str, backend: str
) -> SecretAccessDeniedError | None:
    """Our error when the user's service account is not the one the backend requires.

    Args:
        contribution: The backend's answer for the run.
        current: The service account the user's configuration gives the pod (``None``: none).
        where: Where it was set, for the message (run tag, code location, launcher config).
        backend: The backend's name, for the message.
    """
    required = contribution.service_account_name
    if not required or not current or current == required:
        return None
    return SecretAccessDeniedError(
        f"The run's pod would run as service account '{current}' ({where}), but the "
        f"'{backend}' secrets backend needs '{required}': {contribution.service_account_reason}; "
        "floe does not replace a service account you set, so no Job was created",
        fix=f"remove service_account_name from {where} so the pod runs as '{required}', or bind "
        f"the backend's role to '{current}' too and set run_launcher.config."
        f"service_account_name: {current}, then launch the run again",
        backend=backend,
    )


def is_credential_name(env_name: str) -> bool:
    """Whether an env var's name marks it as a credential (``*PASSWORD*``, ``*_KEY`` …)."""
    return is_credential_env_name(env_name)  # the rule: floe_dagster_secrets.credential_names


def literal_credential_env(user_config: Mapping[str, Any]) -> list[str]:
    """Env var names in a user k8s config that set a literal value on a credential-like name.

    Looks at the main container and any sidecar/init containers of ``pod_spec_config``; an
    entry with ``value_from``/``valueFrom`` (a reference) is fine, a ``value`` is not.
    """
    containers: list[Mapping[str, Any]] = [user_config.get("container_config") or {}]
    pod = user_config.get("pod_spec_config") or {}
    for key in ("containers", "init_containers", "initContainers"):
        containers.extend(pod.get(key) or [])
    names = []
    for container in containers:
        for entry in container.get("env") or []:
            name = str(entry.get("name", ""))
            if entry.get("value") not in (None, "") and is_credential_name(name):
                names.append(name)
    return sorted(set(names))


_REFERENCE_SUFFIXES = ("_secret", "_secrets", "_env", "_file", "_ref", "_refs", "_path", "_map")
_URL_WITH_PASSWORD = re.compile(r"://[^/@:\s]+:[^/@\s]+@")


def literal_credentials_in_config(config: Any, path: str = "") -> list[str]:
    """Dotted paths in instance config (``dagster.yaml``) that hold a literal credential.

    The pod args of every Job carry the serialized instance ref, storage config included, so a
    literal there ends up in the Job spec. A credential-named key with a plain string value, or
    a URL with a password in it, is flagged; ``{env: NAME}`` and keys that *name* a secret or an
    env var (``postgres_password_secret``, ``fingerprint_key_env`` …) are fine.
    """
    found: list[str] = []
    if isinstance(config, Mapping):
        for key, value in config.items():
            where = f"{path}.{key}" if path else str(key)
            name = str(key)
            if isinstance(value, str):
                named_ref = name.lower().endswith(_REFERENCE_SUFFIXES)
                if (value and is_credential_name(name) and not named_ref) or (
                    _URL_WITH_PASSWORD.search(value)
                ):
                    found.append(where)
            else:
                found.extend(literal_credentials_in_config(value, where))
    elif isinstance(config, list | tuple):
        for index, item in enumerate(config):
            if isinstance(item, str):
                # env_vars entries: "NAME=value" sets a literal, "NAME" passes one through
                name, sep, value = item.partition("=")
                if sep and value and is_credential_name(name):
                    found.append(f"{path}[{index}]")
            else:
                found.extend(literal_credentials_in_config(item, f"{path}[{index}]"))
    return found


def literal_instance_credentials_error(paths: Sequence[str]) -> InvalidSecretReferenceError:
    """Our error refusing to launch while ``dagster.yaml`` holds literal credentials."""
    return InvalidSecretReferenceError(
        f"dagster.yaml holds literal credential(s) at {', '.join(paths)}; every Job's pod args "
        "carry the serialized instance config, so they would be written into the Job spec",
        fix="reference them from the environment instead, e.g. password: {env: "
        "DAGSTER_PG_PASSWORD} (set in the daemon/webserver and, via postgres_password_secret, "
        "in the run pods)",
    )


def literal_credential_error(names: Sequence[str], *, tag: str) -> InvalidSecretReferenceError:
    """Our error refusing a run whose tag sets credential-like env vars to literal values."""
    listed = ", ".join(names)
    return InvalidSecretReferenceError(
        f"Run tag '{tag}' sets a literal value on credential-like env var(s) {listed}; such "
        "values would be stored in the run's tags and written into the Job spec",
        fix="put the value into a secret (floe secrets create NAME --namespace NS) and name the "
        "secret in the asset's floe/secrets metadata or the launcher's platform_secrets",
    )


def fingerprint(key: bytes, *, namespace: str, name: str, version: str) -> str:
    """``hmac-sha256:<hex>`` over namespace/name@version, keyed with the launcher's key.

    Keyed, so that recording it on a run reveals nothing even about a low-entropy secret; over
    the version (never the value), so it changes exactly when the secret is rewritten.
    """
    message = f"{namespace}/{name}@{version}".encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:_FINGERPRINT_HEX_CHARS]}"


def preflight_errors(
    required_keys: Mapping[str, Sequence[str]],
    found: Mapping[str, SecretMetadata],
    *,
    namespace: str,
    backend: str = "k8s",
) -> list[SecretNotFoundError]:
    """One error per secret that is missing or lacks a required key, in ``required_keys`` order.

    A required key is missing by name where the key names are known, or by count where they are
    not (a Secret floe did not write, seen through the apiserver's Table: fewer keys than the
    manifest requires). As many keys as required passes; their names were not checked.

    Args:
        required_keys: Secret name → keys it must hold (empty: existence is enough).
        found: Metadata of the secrets that exist in ``namespace``, by name, with key names
            (or, where names are unknown, ``key_count``).
        namespace: The Job's namespace (``envFrom`` only reaches secrets there).
        backend: Named in the errors.
    """
    errors: list[SecretNotFoundError] = []
    for name, keys in required_keys.items():
        meta = found.get(name)
        if meta is None:
            errors.append(
                SecretNotFoundError(
                    f"Secret '{name}' that this run needs does not exist in namespace "
                    f"'{namespace}'; no Job was created",
                    fix=f"create it with `floe secrets create {name} --namespace {namespace}` "
                    "and launch the run again",
                    backend=backend,
                    secret=name,
                    namespace=namespace,
                )
            )
            continue
        # a Secret floe did not write: names unknown (never read with the values), so it is
        # judged by its key count, which the apiserver's Table gives without a value
        verdict = meta.check_keys(keys)
        if verdict.missing:
            errors.append(
                SecretNotFoundError(
                    f"Secret '{name}' lacks key(s) {', '.join(verdict.missing)} that this run "
                    f"needs (it has: {', '.join(meta.keys) or 'no keys'}); no Job was created",
                    fix=f"add {', '.join(verdict.missing)} to '{name}' (floe secrets rotate "
                    f"{name} --namespace {namespace}) or recreate it with `floe secrets create "
                    f"{name} --namespace {namespace}`, then launch the run again",
                    backend=backend,
                    secret=name,
                    namespace=namespace,
                )
            )
        elif verdict.short:
            errors.append(
                SecretNotFoundError(
                    f"Secret '{name}' {verdict.problem}; no Job was created",
                    fix=f"add the keys it lacks to '{name}' in namespace '{namespace}', or "
                    f"rewrite it with `floe secrets rotate {name} --from-env-file FILE "
                    f"--namespace {namespace}` (floe then records its key names and checks "
                    "them by name), then launch the run again",
                    backend=backend,
                    secret=name,
                    namespace=namespace,
                )
            )
    return errors
