"""``plugins:``: where secrets live, and which secret each compute/catalog plugin reads.

Compute and catalog sections only *name* secrets. Their ``config`` carries non-secret settings
(host, database, warehouse …); a key there that looks like a credential is rejected, because the
manifest is committed to git (ADR-0023: credentials MUST NOT be committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import (
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from floe_dagster_secrets.credential_names import SETTING_KEY_PATTERN, is_credential_setting_key
from floe_dagster_secrets.errors import BackendNotInstalledError
from floe_dagster_secrets.manifest.naming import DnsLabel, HttpUrlText, SecretName
from floe_dagster_secrets.manifest.secrets_config import (
    FrozenModel,
    K8sSecretsConfig,
    SecretsBackendType,
    SecretsConfig,
    secrets_config_model,
)

__all__ = [
    "CREDENTIAL_KEY_PATTERN",
    "CatalogPluginConfig",
    "ComputePluginConfig",
    "ComputeType",
    "Plugins",
    "PolarisCatalogConfig",
    "SecretsPluginConfig",
    "looks_like_credential",
]

ComputeType = Literal["snowflake", "bigquery", "databricks", "postgres", "duckdb"]


CREDENTIAL_KEY_PATTERN = SETTING_KEY_PATTERN
"""Keys that name a credential; the JSON Schema uses the same pattern for editors (the rule
lives in :mod:`floe_dagster_secrets.credential_names`)."""


def looks_like_credential(key: str) -> bool:
    """Whether a settings key names a credential (``password``, ``clientSecret``, ``api_key`` …).

    Deliberately broad: a false alarm costs moving one setting into the secret, a miss puts a
    credential in git.
    """
    return is_credential_setting_key(key)


def _credential_keys(
    value: Any, loc: tuple[int | str, ...] = ()
) -> Iterator[tuple[int | str, ...]]:
    """Paths of every credential-looking key in nested settings."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*loc, key if isinstance(key, str | int) else str(key))
            if looks_like_credential(str(key)):
                yield here
            else:
                yield from _credential_keys(item, here)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _credential_keys(item, (*loc, index))


class SecretsPluginConfig(FrozenModel):
    """``plugins.secrets``: the backend that holds the secrets and the namespace jobs run in."""

    type: SecretsBackendType = Field(
        "k8s",
        min_length=1,
        description="Secret backend: an installed `floe.secrets` entry point (k8s, "
        "external-secrets, vault, local, or a third party's).",
    )
    namespace: DnsLabel = Field(
        "floe-jobs", description="Kubernetes namespace of the job pods and their Secrets."
    )
    # SerializeAsAny: dumped as the backend's own model (its fields), not the declared base.
    config: SerializeAsAny[SecretsConfig] = Field(
        None,
        validate_default=True,
        description="Backend settings; the model is chosen by `type`, omitted means defaults.",
    )

    @field_validator("type")
    @classmethod
    def _installed(cls, value: str) -> str:
        # Checked against what is installed, not a fixed list: a third-party backend registered
        # through the `floe.secrets` entry point is a valid `type`.
        try:
            secrets_config_model(value)
        except BackendNotInstalledError as e:
            raise PydanticCustomError(
                "floe_backend", "{problem}; {fix}", {"problem": e.problem, "fix": e.fix}
            ) from None
        return value

    @field_validator("config", mode="wrap")
    @classmethod
    def _config_for_type(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> SecretsConfig:
        # The model is chosen by `type`, not guessed from the keys: a typo in a vault config must
        # be reported against the vault model, not as "matches none of four models".
        del handler
        backend = info.data.get("type")
        if backend is None:  # `type` itself failed; that error is enough.
            return K8sSecretsConfig()
        model = secrets_config_model(backend)  # the installed backend's declaration
        if value is None:
            value = {}
        if isinstance(value, FrozenModel) and not isinstance(value, model):
            raise PydanticCustomError(
                "floe_config_type",
                "a {given} does not configure the {backend} backend",
                {"given": type(value).__name__, "backend": backend},
            )
        return model.model_validate(value)


class ComputePluginConfig(FrozenModel):
    """``plugins.compute``: the dbt target and the secret holding its connection credentials."""

    type: ComputeType = Field(description="dbt adapter / compute engine.")
    connection_secret_ref: SecretName = Field(
        description="Name of the secret holding the connection credentials (every key reaches "
        "the pod as DBT_ENV_SECRET_<KEY>)."
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Non-secret settings (host, database, schema, warehouse, path, threads …).",
        json_schema_extra={"propertyNames": {"not": {"pattern": CREDENTIAL_KEY_PATTERN}}},
    )

    @field_validator("config")
    @classmethod
    def _no_credentials(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        ref = info.data.get("connection_secret_ref")
        where = (
            f"the secret named by connection_secret_ref ('{ref}')"
            if ref
            else ("the secret named by connection_secret_ref")
        )
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "floe_credential_in_config",
                    "looks like a credential, and the manifest is committed to git: put it in "
                    "{where} and remove it here",
                    {"where": where},
                ),
                loc=loc,
                input=None,
            )
            for loc in _credential_keys(value)
        ]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors, hide_input=True)
        return value


class PolarisCatalogConfig(FrozenModel):
    """``plugins.catalog.config`` for Polaris: OAuth2 client credentials live in a secret."""

    uri: HttpUrlText | None = Field(None, description="Polaris REST catalog URI.")
    client_secret_ref: SecretName = Field(
        description="Name of the secret holding the OAuth2 client id and secret."
    )
    warehouse: str | None = Field(None, min_length=1, description="Catalog warehouse name.")
    scope: str | None = Field(None, min_length=1, description="OAuth2 scope to request.")


class CatalogPluginConfig(FrozenModel):
    """``plugins.catalog``: the Iceberg catalog."""

    type: Literal["polaris"] = Field(description="Catalog implementation.")
    config: PolarisCatalogConfig


def _no_default(schema: dict[str, Any]) -> None:
    """Drop ``default: null`` from an optional section's schema: absent is right, null is not."""
    schema.pop("default", None)


class Plugins(FrozenModel):
    """``plugins:``."""

    secrets: SecretsPluginConfig = Field(default_factory=SecretsPluginConfig)
    # Optional: ADR-0023's cloud-store examples configure only the secrets backend. Absent, not
    # null: the JSON Schema keeps one shape for it, so editors report errors inside it.
    compute: ComputePluginConfig | SkipJsonSchema[None] = Field(None, json_schema_extra=_no_default)
    catalog: CatalogPluginConfig | None = None

    @field_validator("compute", mode="wrap")
    @classmethod
    def _compute_or_absent(
        cls, value: Any, handler: ValidatorFunctionWrapHandler
    ) -> ComputePluginConfig | None:
        # Validated as the one model it is, so errors read plugins.compute.type, not one per
        # member of `ComputePluginConfig | None`.
        del handler
        if value is None or isinstance(value, ComputePluginConfig):
            return value
        return ComputePluginConfig.model_validate(value)
