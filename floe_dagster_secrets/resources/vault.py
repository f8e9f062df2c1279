"""Resource for HashiCorp Vault / OpenBao: KV secrets and run-scoped dynamic credentials.

The resource holds where Vault is and how to log in (address, auth method, role, mount paths,
the NAMES of env vars and the paths of files that hold credentials) — never a token, role_id,
secret_id or value, so nothing secret reaches the job snapshot, GraphQL or the UI.

With ``database_role`` set, the resource acquires dynamic database credentials when the run's
resources are set up (``setup_for_execution``), renews their lease in a background thread while
the run lives, and revokes it in ``teardown_after_execution`` — after success and after failure.
Under the in-process executor (a Kubernetes Job running one run worker) that is one lease per
run; a multiprocess executor sets resources up per step process, so each step process gets its
own short-lived user.

Outside a run — Dagster setting the resource up for a sensor tick (the rotation sensor's
``secrets`` resource), a schedule, or ``build_resources`` — nothing is leased at set-up: a tick
every 30 s would otherwise create and drop a database user each time. There the lease is taken
on the first ``database_credentials()`` call, if any, and revoked at teardown as in a run.

On SIGTERM (the pod being deleted) the lease's watcher thread starts revoking at once, and every
revocation is bounded by ``revoke_deadline`` (10 s) counted from the signal; Dagster maps SIGTERM
to its own interrupt around each step, so the run then fails as interrupted and the teardown
here finds the lease revoked, or waits for that revocation no longer than the same deadline.
See :mod:`floe_dagster_secrets.backends.vault.leases` for how, and for the bounds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from dagster import InitResourceContext
from pydantic import Field, PrivateAttr, ValidationError

from floe_dagster_secrets.backends.base import SecretsPlugin
from floe_dagster_secrets.backends.vault import (
    DatabaseCredentials,
    RunScopedLease,
    VaultSecretsPlugin,
    pod_login_overrides,
)
from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest.secrets_config import VAULT_ROLE_ID_ENV, VAULT_SECRET_ID_ENV
from floe_dagster_secrets.resources.base import FloeSecretsResource
from floe_dagster_secrets.types import SecretData, SecretValue


def _manifest_checks(fields: Mapping[str, Any]) -> None:
    """The checks ``plugins.secrets.config`` gets in a manifest, on the fields it shares with it.

    The Vault backend's parameters are declared once, by its config model
    (``VaultSecretsPlugin.config_model``): an address that is not a URL, an unknown auth method,
    an env var name that is not one or a bad mount path fail here as they would in a
    manifest, instead of at the first request.

    Raises:
        InvalidManifestError: a field the manifest would refuse (names the field, never a value).
    """
    model = VaultSecretsPlugin.config_class()
    if model is None:
        return
    shared = {k: v for k, v in fields.items() if k in model.model_fields and v is not None}
    try:
        model.model_validate(shared)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'config'}: {error['msg']}"
            for error in e.errors()
        )
        raise InvalidManifestError(
            f"VaultSecretsResource is misconfigured: {problems}",
            fix="correct the resource's fields as you would plugins.secrets.config in "
            "manifest.yaml",
            backend="vault",
        ) from None


class VaultSecretsResource(FloeSecretsResource):
    """Secrets from Vault's KV v2 engine and dynamic database credentials, fetched in the run.

    For example:

    ```python
    from dagster import Definitions, asset

    from floe_dagster_secrets.resources import VaultSecretsResource


    @asset
    def orders(vault: VaultSecretsResource) -> None:
        creds = vault.database_credentials()  # leased for this run only
        ...  # hand creds.username / creds.password.reveal() to a subprocess


    defs = Definitions(
        assets=[orders],
        resources={
            "vault": VaultSecretsResource(
                address="https://vault.example.com",
                auth_method="kubernetes",
                role="floe",
                database_role="dbt-runner",
            )
        },
    )
    ```
    """

    backend: ClassVar[str] = "vault"

    address: str = Field(description="Vault address, e.g. https://vault.example.com.")
    auth_method: str = Field(
        default="kubernetes",
        description="kubernetes (the pod's service account), approle or token.",
    )
    role: str = Field(default="floe", description="Vault role for Kubernetes auth.")
    mount_path: str | None = Field(
        default=None, description="Mount path of the auth method (default: its type's name)."
    )
    secret_path_prefix: str = Field(
        default="floe/", description="KV path prefix; secrets live at {prefix}{namespace}/{name}."
    )
    kv_mount: str = Field(default="secret", description="Mount path of the KV v2 engine.")
    token_env: str | None = Field(
        default=None, description="NAME of the env var holding a Vault token (token auth)."
    )
    role_id_env: str = Field(
        default=VAULT_ROLE_ID_ENV,
        description="NAME of the env var holding the AppRole role_id (approle auth).",
    )
    secret_id_env: str = Field(
        default=VAULT_SECRET_ID_ENV,
        description="NAME of the env var holding the AppRole secret_id (approle auth).",
    )
    token_file: str | None = Field(
        default=None,
        description="Path of a file holding the login credential (token, or the service-account "
        "JWT for kubernetes auth; default the pod's mounted token).",
    )
    ca_cert: str | None = Field(default=None, description="CA bundle path for Vault's TLS.")
    timeout: float = Field(default=30.0, description="Seconds per Vault request.")
    database_role: str | None = Field(
        default=None,
        description="Database secrets engine role: when set, the run gets dynamic credentials "
        "that are revoked when it ends.",
    )
    database_mount: str = Field(
        default="database", description="Mount path of the database secrets engine."
    )

    _lease: RunScopedLease | None = PrivateAttr(default=None)
    _lease_on_demand: bool = PrivateAttr(default=False)  # set up outside a run

    def backend_kwargs(self) -> dict[str, Any]:
        """``VaultSecretsPlugin(**…)``: the manifest's fields plus ca_cert and timeout.

        ``pin_reads`` is always on: a run reads one version of each secret, even when the
        secret is rotated while the run lives.
        """
        return {
            "address": self.address,
            "auth_method": self.auth_method,
            "role": self.role,
            "mount_path": self.mount_path,
            "secret_path_prefix": self.secret_path_prefix,
            "kv_mount": self.kv_mount,
            "token_env": self.token_env,
            "role_id_env": self.role_id_env,
            "secret_id_env": self.secret_id_env,
            "token_file": self.token_file,
            "ca_cert": self.ca_cert,
            "timeout": self.timeout,
            "pin_reads": True,
        }

    def plugin(self) -> SecretsPlugin:
        """The Vault plugin (built directly: the resource and the plugin ship together).

        In a Job pod started by floe's run launcher, the launcher's ``VAULT_ADDR``,
        ``FLOE_VAULT_AUTH_ROLE`` and ``FLOE_VAULT_AUTH_MOUNT`` win over the fields (see
        :func:`~floe_dagster_secrets.backends.vault.pod_login_overrides`). The plugin pins each
        KV secret at the version it first reads, so a rotation during the run does not hand the
        run's later steps a different value than its earlier ones; the next run reads the new one.
        """
        if self._plugin is None:
            fields = self.backend_kwargs()
            _manifest_checks(fields)
            self._plugin = VaultSecretsPlugin(**{**fields, **pod_login_overrides(os.environ)})
        return self._plugin

    def vault(self) -> VaultSecretsPlugin:
        """The plugin with its Vault-only methods (pinned versions, leases)."""
        plugin = self.plugin()
        assert isinstance(plugin, VaultSecretsPlugin)  # noqa: S101 - plugin() builds one
        return plugin

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Install the masker, build the plugin, and lease the run's database credentials.

        Only for a run: set up for a sensor tick, a schedule or ``build_resources``
        (``context.run`` is None), the lease waits for the first ``database_credentials()``.
        """
        super().setup_for_execution(context)
        if not self.database_role:
            return
        if context.run is None:
            self._lease_on_demand = True
            return
        self._acquire_lease(self.database_role)

    def _acquire_lease(self, role: str) -> RunScopedLease:
        lease = self.vault().run_lease(role, mount=self.database_mount)
        with self.acting_for_run():
            lease.acquire()
        self._lease = lease
        return lease

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Revoke the run's lease (the database user is dropped), then close the plugin."""
        self._lease_on_demand = False
        try:
            if self._lease is not None:
                with self.acting_for_run():
                    self._lease.release()
                self._lease = None
        finally:
            super().teardown_after_execution(context)

    def get_secret_version(self, name: str, version: int) -> SecretData:
        """A pinned KV version of a secret (e.g. the version a run was launched for)."""
        with self.acting_for_run():
            return self.vault().get_secret_version(name, self.namespace, version)

    def database_credentials(self) -> DatabaseCredentials:
        """This run's dynamic database credentials (leased at setup, revoked at teardown).

        Outside a run (see the module docstring) the lease is taken at the first call.
        """
        if self._lease is None and self._lease_on_demand and self.database_role:
            self._acquire_lease(self.database_role)
        if self._lease is None or self._lease.credentials is None:
            raise InvalidManifestError(
                "This VaultSecretsResource has no dynamic database credentials",
                fix="set database_role on the resource (the database secrets engine role the "
                "run should get a user from)",
                backend=self.backend,
            )
        return self._lease.credentials

    def database_secret(
        self,
        *,
        user_key: str = "POSTGRES_USER",
        password_key: str = "POSTGRES_PASSWORD",  # noqa: S107 - a key name
    ) -> SecretData:
        """The dynamic credentials as secret data, e.g. for ``dbt.profile_env('postgres', …)``."""
        creds = self.database_credentials()
        return {user_key: SecretValue(creds.username), password_key: creds.password}
