"""``plugins.secrets.config``: one model per backend, each knowing its plugin's constructor kwargs.

The manifest only ever names *where* a credential comes from (an env var name, a file path, a
ClusterSecretStore): a field that would hold a Vault token or AppRole secret itself does not
exist, and writing one gets an error that says which field to use instead.

Which model validates a manifest's ``config`` is the installed backend's declaration
(``SecretsPlugin.config_model``, found through the ``floe.secrets`` entry point by
:func:`secrets_config_model`), so a third-party ``type:`` validates against its own model and
nothing here lists backends. The built-in backends' models are defined here, beside the rules
they share; each plugin class names its own.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from floe_dagster_secrets.manifest.bounds import (
    JINJA_MARKERS,
    BoundExceededError,
    jinja_locations,
)
from floe_dagster_secrets.manifest.naming import EnvVarName, HttpUrlText, ResourceName

__all__ = [
    "VAULT_ROLE_ID_ENV",
    "VAULT_SECRET_ID_ENV",
    "BackendConfig",
    "ExternalSecretsConfig",
    "FrozenModel",
    "K8sSecretsConfig",
    "LocalSecretsConfig",
    "SecretsBackendType",
    "SecretsConfig",
    "VaultSecretsConfig",
    "secrets_config_model",
]

SecretsBackendType = str
"""A ``floe.secrets`` entry-point name (``k8s``, ``vault`` … or a third party's)."""

# Go's time.ParseDuration without a sign: "1h", "30m", "1h30m", "0" (ESO: never refresh).
GO_DURATION_PATTERN = r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)$"
_GO_DURATION_RE = re.compile(GO_DURATION_PATTERN)
_VAULT_PATH_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_MARKERS_TEXT = ", ".join(f"'{marker}'" for marker in JINJA_MARKERS)

VAULT_ROLE_ID_ENV = "VAULT_ROLE_ID"
"""The env var AppRole auth reads the role_id from unless ``role_id_env`` names another."""
VAULT_SECRET_ID_ENV = "VAULT_SECRET_ID"  # noqa: S105 - the NAME of an env var
"""The env var AppRole auth reads the secret_id from unless ``secret_id_env`` names another."""


class FrozenModel(BaseModel):
    """Base of every manifest model: unknown keys are errors, instances are immutable.

    ``hide_input_in_errors`` keeps field values out of ``str(ValidationError)``, which may be
    chained under our own error and printed in a traceback. No key or text anywhere in a
    manifest may hold Jinja (see :mod:`floe_dagster_secrets.manifest.bounds`); the outermost
    model reports it first, so the path given is the full one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _no_jinja(cls, data: Any) -> Any:
        try:
            found = jinja_locations(data)
        except BoundExceededError as e:
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError("floe_too_large", "{why}", {"why": str(e)}),
                    loc=(),
                    input=None,
                )
            ]
            raise ValidationError.from_exception_data(
                cls.__name__, errors, hide_input=True
            ) from None
        if not found:
            return data
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "floe_jinja",
                    "{what} holds Jinja ({markers}), which dbt would evaluate: floe writes "
                    "settings into profiles.yml as they are, so a template here could copy a "
                    "secret into this field or run code; write the plain value",
                    {"what": "a key under it" if is_key else "it", "markers": _MARKERS_TEXT},
                ),
                loc=loc,
                input=None,
            )
            for loc, is_key in found
        ]
        raise ValidationError.from_exception_data(cls.__name__, errors, hide_input=True)


class BackendConfig(FrozenModel):
    """Base of a backend's ``plugins.secrets.config`` model (a third-party backend's too).

    Its fields mirror the plugin constructor's keyword arguments; :meth:`backend_kwargs` turns
    them into those arguments. References only (names of env vars, paths), never a credential.
    """

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the plugin: every field that is set."""
        return self.model_dump(exclude_none=True)


def secrets_config_model(backend: str) -> type[BackendConfig]:
    """The config model the installed backend ``backend`` declares (``config_model``).

    Raises:
        BackendNotInstalledError: no backend of that name is installed.
    """
    from floe_dagster_secrets.backends.registry import load_backend_class

    declared = load_backend_class(backend).config_class()
    return declared if declared is not None else BackendConfig


def _literal_credential_guard(data: Any, replacements: dict[str, str], title: str) -> Any:
    """Reject keys that would hold a credential itself, naming the field to use instead."""
    if not isinstance(data, dict):
        return data
    errors = [
        InitErrorDetails(
            type=PydanticCustomError(
                "floe_literal_credential",
                "never write the credential itself in the manifest: {instead}",
                {"instead": instead},
            ),
            loc=(key,),
            input=None,
        )
        for key, instead in replacements.items()
        if key in data
    ]
    if errors:
        raise ValidationError.from_exception_data(title, errors, hide_input=True)
    return data


class LocalSecretsConfig(BackendConfig):
    """Files on the developer's machine (``floe secrets`` for local runs, never production)."""

    path: str = Field(".floe/secrets", min_length=1, description="Directory holding the secrets.")

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``LocalSecretsPlugin``."""
        return {"path": self.path}


class K8sSecretsConfig(BackendConfig):
    """Kubernetes Secrets (the default): in a pod the service account, else a kubeconfig."""

    kubeconfig: str | None = Field(
        None, min_length=1, description="Path of a kubeconfig file (default: in-cluster/~/.kube)."
    )
    context: str | None = Field(None, min_length=1, description="kubeconfig context to use.")

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``K8sSecretsPlugin``, leaving unset ones to its defaults."""
        return {k: v for k, v in (("kubeconfig", self.kubeconfig), ("context", self.context)) if v}


class ExternalSecretsConfig(BackendConfig):
    """External Secrets Operator: ExternalSecrets that sync from a ClusterSecretStore."""

    _PROVIDER_FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "aws": ("region",),
        "gcp": ("project", "cluster_location", "cluster_name"),
        "azure": ("vault_url",),
        "vault": (
            "vault_address",
            "vault_path",
            "vault_role",
            "vault_auth_mount",
            "vault_token_env",
            "vault_token_file",
        ),
    }
    _PROVIDER_REQUIRED: ClassVar[dict[str, tuple[str, ...]]] = {
        "gcp": ("project",),
        "azure": ("vault_url",),
        "vault": ("vault_address",),
    }

    store: ResourceName = Field(description="Name of the ClusterSecretStore to sync from.")
    refresh_interval: str = Field(
        "1h",
        description="How often ESO re-syncs, as a Go duration (1h, 30m, 1h30m; 0 = never).",
        json_schema_extra={"pattern": GO_DURATION_PATTERN},
    )
    provider: Literal["aws", "gcp", "azure", "vault"] | None = Field(
        None, description="Cloud provider behind the store (checks which fields apply)."
    )
    region: str | None = Field(None, min_length=1, description="AWS region.")
    project: str | None = Field(None, min_length=1, description="GCP project ID.")
    vault_url: HttpUrlText | None = Field(None, description="Azure Key Vault URL.")
    cluster_location: str | None = Field(None, min_length=1, description="GKE cluster location.")
    cluster_name: str | None = Field(None, min_length=1, description="GKE cluster name.")
    service_account: str | None = Field(
        None, min_length=1, description="Service account ESO authenticates as."
    )
    vault_address: HttpUrlText | None = Field(None, description="Vault address (vault provider).")
    vault_path: str | None = Field(
        None, min_length=1, description="Vault KV path (vault provider)."
    )
    vault_role: str | None = Field(None, min_length=1, description="Vault role (vault provider).")
    vault_auth_mount: str | None = Field(
        None, min_length=1, description="Mount path of Vault's Kubernetes auth (vault provider)."
    )
    vault_token_env: EnvVarName | None = Field(
        None, description="NAME of the env var holding the Vault token floe writes values with."
    )
    vault_token_file: str | None = Field(
        None, min_length=1, description="Path of a file holding that Vault token."
    )
    service_account_namespace: str | None = Field(
        None, min_length=1, description="Namespace of service_account (default external-secrets)."
    )
    remote_key_prefix: str = Field(
        "floe/", description="Prefix of each secret's remote key: {prefix}{namespace}/{name}."
    )
    api_version: Literal["v1", "v1beta1"] = Field(
        "v1", description="ExternalSecret API version; v1beta1 only for ESO before 0.17."
    )
    sync_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for ESO to sync after create/rotate."
    )
    kubeconfig: str | None = Field(
        None, min_length=1, description="Path of a kubeconfig file (default: in-cluster/~/.kube)."
    )
    context: str | None = Field(None, min_length=1, description="kubeconfig context to use.")

    @field_validator("refresh_interval")
    @classmethod
    def _go_duration(cls, value: str) -> str:
        if not _GO_DURATION_RE.fullmatch(value):
            raise ValueError(
                "not a Go duration: write a number and a unit, e.g. 1h, 30m, 1h30m or 0 to never "
                "refresh"
            )
        return value

    @model_validator(mode="after")
    def _provider_fields(self) -> ExternalSecretsConfig:
        if self.provider is None:
            return self
        errors: list[InitErrorDetails] = []
        for other, fields in self._PROVIDER_FIELDS.items():
            if other == self.provider:
                continue
            errors.extend(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "floe_provider_field",
                        "{field} belongs to the {other} provider, not {provider}",
                        {"field": field, "other": other, "provider": self.provider},
                    ),
                    loc=(field,),
                    input=None,
                )
                for field in fields
                if getattr(self, field) is not None
            )
        errors.extend(
            InitErrorDetails(
                type=PydanticCustomError(
                    "floe_provider_field",
                    "the {provider} provider needs {field}",
                    {"field": field, "provider": self.provider},
                ),
                loc=(field,),
                input=None,
            )
            for field in self._PROVIDER_REQUIRED.get(self.provider, ())
            if getattr(self, field) is None
        )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors, hide_input=True)
        return self

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the external-secrets plugin: every field."""
        return self.model_dump()


class VaultSecretsConfig(BackendConfig):
    """HashiCorp Vault / OpenBao, KV v2. Credentials are named (env var, file), never written.

    AppRole auth reads ``$VAULT_ROLE_ID`` and ``$VAULT_SECRET_ID`` unless ``role_id_env`` /
    ``secret_id_env`` name other variables (the names Vault users conventionally export), so
    ADR-0023's ``auth_method: approle`` example is complete as written. These defaults are
    declared here once; the resource and the plugin take theirs from this model.
    """

    address: HttpUrlText = Field(description="Vault address, e.g. https://vault.example.com.")
    auth_method: Literal["kubernetes", "approle", "token"] = Field(
        "kubernetes", description="How the plugin logs in to Vault."
    )
    role: str = Field("floe", min_length=1, description="Vault role (kubernetes auth).")
    mount_path: str = Field(
        "kubernetes", description="Mount path of the auth method (kubernetes or approle)."
    )
    secret_path_prefix: str = Field(
        "floe/", description="Prefix of secret paths under the KV mount; ends with '/'."
    )
    kv_mount: str = Field("secret", description="Mount path of the KV v2 engine.")
    token_env: EnvVarName | None = Field(
        None, description="NAME of the env var holding a Vault token (token auth)."
    )
    role_id_env: EnvVarName = Field(
        VAULT_ROLE_ID_ENV,
        description="NAME of the env var holding the AppRole role_id (approle auth).",
    )
    secret_id_env: EnvVarName = Field(
        VAULT_SECRET_ID_ENV,
        description="NAME of the env var holding the AppRole secret_id (approle auth).",
    )
    token_file: str | None = Field(
        None,
        min_length=1,
        description="Path of a file holding the login credential for the auth method (token "
        "auth: a Vault token; kubernetes auth: the service-account JWT).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_credentials(cls, data: Any) -> Any:
        return _literal_credential_guard(
            data,
            {
                "token": "use token_env (the NAME of an env var) or token_file (a path)",
                "role_id": "use role_id_env, the NAME of the env var holding it",
                "secret_id": "use secret_id_env, the NAME of the env var holding it",
                "password": "use an auth method: kubernetes, approle or token",
            },
            cls.__name__,
        )

    @field_validator("mount_path", "kv_mount")
    @classmethod
    def _mount(cls, value: str) -> str:
        if not _VAULT_PATH_RE.fullmatch(value):
            raise ValueError("not a Vault mount path: use letters, digits, '_', '-', '.' and '/'")
        return value

    @field_validator("secret_path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.endswith("/") or not _VAULT_PATH_RE.fullmatch(value[:-1]):
            raise ValueError(
                "must be a relative Vault path ending with '/', e.g. floe/ or teams/data/"
            )
        return value

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the vault plugin: every field."""
        return self.model_dump()


SecretsConfig = BackendConfig
"""Any backend's config model (the built-in four, or a third party's)."""
