"""HashiCorp Vault / OpenBao: KV v2 secrets and run-scoped dynamic database credentials.

Where things live:

- Static secrets are KV v2 entries at ``{kv_mount}/data/{secret_path_prefix}{namespace}/{name}``:
  every write is a new version (``create`` uses check-and-set 0, ``update`` the version it read),
  and KV metadata's ``current_version`` is the cheap change marker that the rotation sensor
  compares. floe records a secret's key names in the entry's ``custom_metadata``
  (``floe-keys``), so listing and describing never read a value.
- Dynamic credentials come from the database secrets engine (``database/creds/<role>``) as a
  lease that belongs to one run (:class:`RunScopedLease`).

How Vault values reach the job pod: they do not travel there. The run launcher puts only
*references* into the Job: ``VAULT_ADDR``, the auth role and mount, and the service account
``floe-job-runner``. Inside the run the pod logs in to Vault itself with its own service-account
JWT (Kubernetes auth), reads the KV secrets and the dynamic credentials it needs, and hands them
to dbt as ``DBT_ENV_SECRET_*`` variables of the dbt process. Nothing from Vault is ever written to
a Kubernetes Secret, a ConfigMap, the Job spec, run config or Dagster's event log; dynamic
credentials are revoked when the run ends (see :mod:`.leases` for the bound when a run
worker dies without revoking).

Auth and the token lifecycle (one login per token lifetime, renewal at two thirds of the TTL, a
fresh login only when Vault no longer knows the token) are in :mod:`.session`; hvac is imported
on first use only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from floe_dagster_secrets import audit
from floe_dagster_secrets.backends import validation
from floe_dagster_secrets.backends._retry import DEFAULT_POLICY, RetryPolicy
from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.vault.credentials import AuthMethod, AuthSettings
from floe_dagster_secrets.backends.vault.dynamic import DynamicCredentials
from floe_dagster_secrets.backends.vault.errors import BACKEND, RequestContext
from floe_dagster_secrets.backends.vault.kv import (
    CUSTOM_VALUE_LIMIT,
    KEYS_METADATA,
    MANAGED_METADATA,
    metadata_from_kv,
    parse_time,
)
from floe_dagster_secrets.backends.vault.leases import DatabaseCredentials, RunScopedLease
from floe_dagster_secrets.backends.vault.session import VaultSession
from floe_dagster_secrets.errors import InvalidManifestError, InvalidSecretValueError
from floe_dagster_secrets.kube.pod_spec import RunPodContribution, RunPodSettings
from floe_dagster_secrets.manifest.secrets_config import VAULT_ROLE_ID_ENV, VAULT_SECRET_ID_ENV
from floe_dagster_secrets.masking import get_masker
from floe_dagster_secrets.types import SecretData, SecretMetadata, SecretValue

if TYPE_CHECKING:
    from floe_dagster_secrets.manifest.secrets_config import BackendConfig

__all__ = [
    "KEYS_METADATA",
    "DatabaseCredentials",
    "RunScopedLease",
    "VaultSecretsPlugin",
    "parse_time",
    "pod_login_overrides",
]

_DEFAULT_AUTH_MOUNTS: dict[str, str] = {"kubernetes": "kubernetes", "approle": "approle"}


POD_ADDRESS_ENV = "VAULT_ADDR"
POD_ROLE_ENV = "FLOE_VAULT_AUTH_ROLE"
POD_MOUNT_ENV = "FLOE_VAULT_AUTH_MOUNT"
"""Env vars a Job pod gets from :meth:`VaultSecretsPlugin.run_pod_contribution`."""


def pod_login_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Where the run launcher told this pod to log in: ``address``/``role``/``mount_path``.

    Applied only when the launcher's own variables are present (``FLOE_VAULT_AUTH_ROLE`` or
    ``FLOE_VAULT_AUTH_MOUNT``), so a ``VAULT_ADDR`` left in a developer's shell never redirects
    an explicitly configured resource. The launcher may point pods at an in-cluster address
    that differs from the one in the manifest.
    """
    if not (environ.get(POD_ROLE_ENV) or environ.get(POD_MOUNT_ENV)):
        return {}
    pairs = (
        ("address", environ.get(POD_ADDRESS_ENV)),
        ("role", environ.get(POD_ROLE_ENV)),
        ("mount_path", environ.get(POD_MOUNT_ENV)),
    )
    return {key: value for key, value in pairs if value}


class VaultSecretsPlugin(DynamicCredentials, SecretsPlugin):
    """Secrets in Vault's KV v2 engine, plus dynamic database credentials.

    The constructor takes the manifest's ``VaultSecretsConfig`` fields; none of them holds a
    credential, only where to find one.

    Args:
        address: Vault address, e.g. ``https://vault.example.com``.
        auth_method: ``kubernetes`` (the pod's service account), ``approle`` or ``token``.
        role: Vault role for Kubernetes auth.
        mount_path: Mount path of the auth method. ``None`` means the method's default; with
            ``approle`` the manifest's default ``kubernetes`` also means ``approle``.
        secret_path_prefix: Prefix under the KV mount, ending with ``/`` (``floe/``).
        kv_mount: Mount path of the KV v2 engine.
        token_env: NAME of the env var holding a token (token auth; default ``VAULT_TOKEN``).
        role_id_env: NAME of the env var holding the AppRole role_id (``VAULT_ROLE_ID``).
        secret_id_env: NAME of the env var holding the AppRole secret_id (``VAULT_SECRET_ID``).
        token_file: File holding the login credential (token auth: a token, used when
            ``token_env`` is not set; kubernetes auth: the service-account JWT, default the
            pod's mounted token). Read again at every login, so rotated files are picked up.
        ca_cert: CA bundle for Vault's TLS certificate.
        timeout: Seconds per request (connect, and each wait for the answer).
        pin_reads: Read each secret at the version this plugin first saw, so one run never
            mixes an old and a new value when the secret is rotated while it runs (the
            resource turns this on; the CLI and sensors read the latest).
    """

    name: ClassVar[str] = BACKEND
    version: ClassVar[str] = "1.0.0"
    label: ClassVar[str] = "Vault"
    config_model: ClassVar[type[BackendConfig] | str | None] = (
        "floe_dagster_secrets.manifest.secrets_config:VaultSecretsConfig"
    )
    config_required: ClassVar[bool] = True
    extra: ClassVar[str | None] = "vault"
    version_source: ClassVar[str] = "Vault KV current_version"
    pod_reads_kubernetes_secrets: ClassVar[bool] = False  # the pod logs in to Vault itself
    no_restart_reason: ClassVar[str] = (
        "the vault backend's values never land in a Kubernetes Secret: each run reads Vault "
        "when it starts, so no workload holds the old value in its environment (ADR-0023: "
        "restarts are needed 'unless using Vault')"
    )
    resource: ClassVar[str | None] = "floe_dagster_secrets.resources.vault:VaultSecretsResource"
    retry_policy: ClassVar[RetryPolicy] = DEFAULT_POLICY
    """Bounded retries of transient failures (429, 500, 502, 504, the network failing)."""

    def __init__(
        self,
        *,
        address: str,
        auth_method: AuthMethod = "kubernetes",
        role: str = "floe",
        mount_path: str | None = None,
        secret_path_prefix: str = "floe/",  # noqa: S107 - a path prefix
        kv_mount: str = "secret",
        token_env: str | None = None,
        role_id_env: str = VAULT_ROLE_ID_ENV,
        secret_id_env: str = VAULT_SECRET_ID_ENV,
        token_file: str | None = None,
        ca_cert: str | None = None,
        timeout: float = 30.0,
        pin_reads: bool = False,
    ) -> None:
        if auth_method not in ("kubernetes", "approle", "token"):
            raise InvalidManifestError(
                f"Unknown Vault auth_method '{auth_method}'",
                fix="use kubernetes, approle or token in plugins.secrets.config.auth_method",
                backend=BACKEND,
            )
        if not address:
            raise InvalidManifestError(
                "No Vault address given",
                fix="set plugins.secrets.config.address, e.g. https://vault.example.com",
                backend=BACKEND,
            )
        if secret_path_prefix and not secret_path_prefix.endswith("/"):
            secret_path_prefix += "/"
        if mount_path is None or (auth_method == "approle" and mount_path == "kubernetes"):
            # The manifest's default mount_path is "kubernetes" whatever the method.
            mount_path = _DEFAULT_AUTH_MOUNTS.get(auth_method, "token")
        self.address = address.rstrip("/")
        self.kv_mount = kv_mount.strip("/")
        self.secret_path_prefix = secret_path_prefix.lstrip("/")
        self.auth = AuthSettings(
            method=auth_method,
            role=role,
            mount_path=mount_path.strip("/"),
            token_env=token_env,
            role_id_env=role_id_env,
            secret_id_env=secret_id_env,
            token_file=token_file,
        )
        self.session = VaultSession(
            self.address,
            self.auth,
            ca_cert=ca_cert,
            timeout=timeout,
            retry_policy=self.retry_policy,
        )
        self.pin_reads = pin_reads
        self._pinned_versions: dict[tuple[str, str], int] = {}

    def audit_location(self, operation: str, arguments: Mapping[str, Any]) -> str | None:
        """The KV data path of a secret, or the creds path / lease id of a dynamic credential."""
        name, namespace = arguments.get("name"), arguments.get("namespace")
        if isinstance(name, str) and isinstance(namespace, str):
            return self.data_path(name, namespace)
        if "role" in arguments:
            mount = str(arguments.get("mount") or "database").strip("/")
            return f"{mount}/creds/{arguments['role']}"
        if "lease_id" in arguments:
            return str(arguments["lease_id"])
        return None

    def run_pod_contribution(
        self, names: Sequence[str], settings: RunPodSettings
    ) -> RunPodContribution:
        """Where the pod logs in, as plain env vars; no ``envFrom``, no Kubernetes Secret.

        The pod reads ``names`` from Vault itself (``ContributesToRunPod``), so nothing is
        pre-flighted in Kubernetes. ``VAULT_ADDR``, the auth role and mount come from this
        plugin's config unless the launcher overrides them (``vault_address`` …: an in-cluster
        address). With Kubernetes auth the pod must run as the service account the role is
        bound to: the launcher's ``service_account_name``, else ``floe-job-runner`` (what
        ``floe_dagster_secrets.backends.vault.kubernetes_auth_role`` binds by default).
        """
        del names  # every name is read in the pod, at its KV path
        from floe_dagster_secrets.backends.vault.policy import RUN_SERVICE_ACCOUNT

        address = settings.overrides.get("vault_address") or self.address
        role = settings.overrides.get("vault_role") or self.auth.role
        mount = settings.overrides.get("vault_auth_mount") or self.auth.mount_path
        env = (
            {"name": POD_ADDRESS_ENV, "value": address},
            {"name": POD_ROLE_ENV, "value": role},
            {"name": POD_MOUNT_ENV, "value": mount},
        )
        if self.auth.method != "kubernetes":
            return RunPodContribution(env=env)
        account = settings.service_account_name or RUN_SERVICE_ACCOUNT
        return RunPodContribution(
            env=env,
            service_account_name=account,
            service_account_reason=(
                f"the pod logs in to Vault with its service-account token through Kubernetes "
                f"auth role '{role}' (mount '{mount}'), which is bound to '{account}'"
            ),
        )

    def close(self) -> None:
        """Close the HTTP session; the token expires at its TTL."""
        self.session.close()

    # --- paths ----------------------------------------------------------------------------------

    def secret_path(self, name: str, namespace: str) -> str:
        """``{prefix}{namespace}/{name}``: the KV path of a secret (checked, no traversal)."""
        validation.check_namespace(namespace, backend=BACKEND)
        validation.check_secret_name(name, namespace, backend=BACKEND)
        return f"{self.secret_path_prefix}{namespace}/{name}"

    def data_path(self, name: str, namespace: str) -> str:
        """The KV v2 API path of the secret's data (what a policy grants ``read`` on)."""
        return f"{self.kv_mount}/data/{self.secret_path(name, namespace)}"

    def metadata_path(self, name: str, namespace: str) -> str:
        """The KV v2 API path of the secret's metadata."""
        return f"{self.kv_mount}/metadata/{self.secret_path(name, namespace)}"

    # --- reads ----------------------------------------------------------------------------------

    def _read_data(
        self, name: str, namespace: str, version: int | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        path = self.data_path(name, namespace)
        ctx = RequestContext("read", path, secret=name, namespace=namespace)
        params = {"version": int(version)} if version is not None else None
        answer = self.session.request("GET", path, ctx, params=params)
        body = answer.get("data") or {}
        data = body.get("data")
        if data is None:  # the version was deleted or destroyed
            from floe_dagster_secrets.errors import SecretNotFoundError

            which = f"version {version}" if version is not None else "its latest version"
            raise SecretNotFoundError(
                f"Secret '{name}' has no data in {which} (deleted or destroyed)",
                fix="undelete the version in Vault, read another version, or write a new one "
                f"with 'floe secrets rotate {name}'",
                backend=BACKEND,
                secret=name,
                namespace=namespace,
                path=path,
            )
        return dict(data), dict(body.get("metadata") or {})

    def _wrap(self, name: str, namespace: str, data: Mapping[str, Any]) -> SecretData:
        wrapped: dict[str, SecretValue] = {}
        for key in sorted(data):
            value = data[key]
            if not isinstance(value, str):
                raise InvalidSecretValueError(
                    f"The value of key '{key}' is a JSON {type(value).__name__}, not text",
                    fix="store every value of a floe secret as a string",
                    backend=BACKEND,
                    secret=name,
                    namespace=namespace,
                )
            wrapped[key] = SecretValue(value)
        return wrapped

    def get_secret(self, name: str, namespace: str) -> SecretData:
        """The latest version's keys as ``SecretValue`` (one KV read).

        With ``pin_reads``, the latest at the first read: later reads ask for that version.
        """
        pinned = self._pinned_versions.get((namespace, name))
        data, meta = self._read_data(name, namespace, pinned)
        if self.pin_reads and pinned is None and meta.get("version") is not None:
            self._pinned_versions[(namespace, name)] = int(meta["version"])
        # the read's own answer names its version: the run-log event needs no metadata read
        audit.record_version(meta.get("version"))
        return self._wrap(name, namespace, data)

    def pinned_versions(self, namespace: str) -> dict[str, int]:
        """Name → the KV version this plugin has pinned (``pin_reads``) in ``namespace``."""
        return {name: v for (ns, name), v in self._pinned_versions.items() if ns == namespace}

    def get_secret_version(self, name: str, namespace: str, version: int) -> SecretData:
        """A pinned version, e.g. the one a run started with."""
        data, _ = self._read_data(name, namespace, version)
        audit.record_version(version)
        return self._wrap(name, namespace, data)

    def read_metadata(self, name: str, namespace: str) -> dict[str, Any]:
        """The KV metadata of one secret (versions, times, custom_metadata); no value."""
        path = self.metadata_path(name, namespace)
        ctx = RequestContext("read metadata of", path, secret=name, namespace=namespace)
        return dict(self.session.request("GET", path, ctx).get("data") or {})

    def secret_versions_of(self, names: list[str], namespace: str) -> dict[str, str]:
        """``current_version`` from each path's KV metadata (``ReportsSelectedVersions``).

        One GET per referenced path, which the least-privilege policy grants; listing the
        folder would cost a request more and need ``list``, which it does not. A missing secret
        (404) is absent from the answer.
        """
        from floe_dagster_secrets.errors import SecretNotFoundError

        versions: dict[str, str] = {}
        for name in names:
            try:
                metadata = self.read_metadata(name, namespace)
            except SecretNotFoundError:
                continue
            current = metadata.get("current_version")
            if current is not None:
                versions[name] = str(current)
        return versions

    def _metadata(self, name: str, namespace: str, meta: Mapping[str, Any]) -> SecretMetadata:
        return metadata_from_kv(name, namespace, meta, data_path=self.data_path(name, namespace))

    def describe_secret(self, name: str, namespace: str) -> SecretMetadata:
        """Metadata; key names from floe's custom_metadata, else from one data read (dropped)."""
        meta = self._metadata(name, namespace, self.read_metadata(name, namespace))
        if meta.keys_known:
            return meta
        data, _ = self._read_data(name, namespace)
        keys = tuple(sorted(data))
        del data  # the values were never wrapped, registered or kept
        return dataclasses.replace(meta, keys=keys, keys_known=True)

    def _names(self, namespace: str) -> list[str]:
        validation.check_namespace(namespace, backend=BACKEND)
        path = f"{self.kv_mount}/metadata/{self.secret_path_prefix}{namespace}/"
        ctx = RequestContext("list", path, namespace=namespace, capability="list")
        from floe_dagster_secrets.errors import SecretNotFoundError

        try:
            answer = self.session.request("GET", path, ctx, params={"list": "true"})
        except SecretNotFoundError:
            return []  # Vault answers 404 for an empty folder
        keys = (answer.get("data") or {}).get("keys") or []
        return sorted(str(k) for k in keys if not str(k).endswith("/"))

    def list_secrets(self, namespace: str) -> list[SecretMetadata]:
        """Every secret under the namespace's folder: one LIST plus one metadata read each."""
        return [
            self._metadata(name, namespace, self.read_metadata(name, namespace))
            for name in self._names(namespace)
        ]

    def secret_versions(self, namespace: str) -> dict[str, str]:
        """Name → KV ``current_version``, from metadata only."""
        return {meta.name: meta.version for meta in self.list_secrets(namespace)}

    # --- writes ---------------------------------------------------------------------------------

    def write_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, cas: int | None = None
    ) -> SecretMetadata:
        """Write ``data`` as a new version; ``cas`` makes it conditional on the current version.

        Raises:
            SecretAlreadyExistsError: ``cas=0`` and the secret exists.
            SecretConflictError: ``cas`` is not the current version (someone wrote first).
        """
        clean = validation.check_secret_data(name, namespace, data, backend=BACKEND)
        get_masker().register_all(clean.values())
        path = self.data_path(name, namespace)
        action = "create" if cas == 0 else "update"
        ctx = RequestContext(action, path, secret=name, namespace=namespace, capability=action)
        body: dict[str, Any] = {"data": clean}
        if cas is not None:
            body["options"] = {"cas": int(cas)}
        written = self.session.request("POST", path, ctx, body=body).get("data") or {}
        self._write_custom_metadata(name, namespace, tuple(clean))
        return SecretMetadata(
            name=name,
            namespace=namespace,
            backend=BACKEND,
            keys=tuple(clean),
            version=str(written.get("version", "")),
            type="kv-v2",
            created=parse_time(written.get("created_time")),
            updated=parse_time(written.get("created_time")),
            managed_by_floe=True,
            extra={"current_version": int(written.get("version") or 0)},
        )

    def _write_custom_metadata(self, name: str, namespace: str, keys: tuple[str, ...]) -> None:
        custom = {MANAGED_METADATA: "floe"}
        joined = ",".join(keys)
        if len(joined) <= CUSTOM_VALUE_LIMIT:  # else keys stay unknown: describe reads them
            custom[KEYS_METADATA] = joined
        path = self.metadata_path(name, namespace)
        ctx = RequestContext(
            "record key names in the metadata of",
            path,
            secret=name,
            namespace=namespace,
            capability="update",
        )
        self.session.request("POST", path, ctx, body={"custom_metadata": custom})

    def create_secret(self, name: str, namespace: str, data: Mapping[str, str]) -> SecretMetadata:
        """Version 1 of a new secret (check-and-set 0: an existing one is an error)."""
        return self.write_secret(name, namespace, data, cas=0)

    def update_secret(
        self, name: str, namespace: str, data: Mapping[str, str], *, merge: bool = False
    ) -> SecretMetadata:
        """A new version (rotation), check-and-set on the current version read from metadata.

        With ``merge`` the new keys are sent as a KV v2 PATCH (JSON merge patch): the other keys
        are kept by Vault, so their values are never read into this process. The token needs
        the ``patch`` capability for that, ``update`` otherwise.
        """
        meta = self.read_metadata(name, namespace)
        version = int(meta.get("current_version") or 0)
        if not merge:
            return self.write_secret(name, namespace, data, cas=version)
        clean = validation.check_secret_data(name, namespace, data, backend=BACKEND)
        get_masker().register_all(clean.values())
        path = self.data_path(name, namespace)
        ctx = RequestContext("update", path, secret=name, namespace=namespace, capability="patch")
        written = (
            self.session.request(
                "PATCH",
                path,
                ctx,
                body={"data": clean, "options": {"cas": version}},
                content_type="application/merge-patch+json",
            ).get("data")
            or {}
        )
        before = self._metadata(name, namespace, meta)
        keys = tuple(sorted({*before.keys, *clean})) if before.keys_known else ()
        if keys:
            self._write_custom_metadata(name, namespace, keys)
        return SecretMetadata(
            name=name,
            namespace=namespace,
            backend=BACKEND,
            keys=keys,
            version=str(written.get("version", "")),
            type="kv-v2",
            created=before.created,
            updated=parse_time(written.get("created_time")),
            managed_by_floe=before.managed_by_floe,
            keys_known=bool(keys),
            extra={"current_version": int(written.get("version") or 0)},
        )

    def delete_secret(self, name: str, namespace: str) -> None:
        """Delete the metadata and every version; a missing secret is ``SecretNotFoundError``."""
        self.read_metadata(name, namespace)  # Vault's DELETE answers 204 for a missing path
        path = self.metadata_path(name, namespace)
        ctx = RequestContext("delete", path, secret=name, namespace=namespace, capability="delete")
        self.session.request("DELETE", path, ctx)
