"""The manifest: ADR-0023's configuration schema as frozen pydantic models.

``Manifest`` is what every other part reads: the backend and its settings, which secret each
plugin and ingestion source uses, and an optional policy per secret (required keys, maximum
age, what to do on rotation). The model answers the questions the rest of the package asks —
:meth:`Manifest.secret_references`, :meth:`Manifest.secret_policy`,
:meth:`Manifest.assets_for_secret` — so nobody walks the raw structure.

Rules that span the whole manifest (naming convention, one secret per environment) live in
:mod:`floe_dagster_secrets.manifest.rules` and run when a ``Manifest`` is validated; pass
``context={"strict": True}`` to ``Manifest.model_validate`` (or ``strict=True`` to the loader) to
turn their warnings into errors.

ADR-0023's own manifests have no ``environment:`` and, in its "Cloud Provider Integration"
examples, no compute plugin, so both are optional: the environment is resolved as
:mod:`~floe_dagster_secrets.manifest.environment` says (context key ``environment_choices``), and
code that needs a compute plugin asks :meth:`Manifest.require_compute`, whose error says what to
write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from floe_dagster_secrets.errors import InvalidManifestError
from floe_dagster_secrets.manifest.environment import (
    DEFAULT_ENVIRONMENT,
    ENVIRONMENT_VARIABLE,
    EnvironmentChoice,
    EnvironmentProblem,
    resolve_environment,
)
from floe_dagster_secrets.manifest.naming import DnsLabel, EnvVarName, SecretName, dotted_path
from floe_dagster_secrets.manifest.plugins import ComputePluginConfig, Plugins
from floe_dagster_secrets.manifest.remote import RemoteSecret
from floe_dagster_secrets.manifest.rules import apply_rules
from floe_dagster_secrets.manifest.secrets_config import FrozenModel

__all__ = [
    "Ingestion",
    "Manifest",
    "Pipeline",
    "PipelineSource",
    "SecretPolicy",
    "SecretReference",
]

ASSET_KEY_PATTERN = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
_ASSET_KEY_RE = re.compile(ASSET_KEY_PATTERN)
_WORD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_WORD_RE = re.compile(_WORD_PATTERN)
_FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
_FIELD_RE = re.compile(_FIELD_PATTERN)


def _check_word(value: str) -> str:
    if not _WORD_RE.fullmatch(value):
        raise ValueError(
            "use 1 to 63 letters, digits, '_', '-' and '.', starting with a letter or digit"
        )
    return value


def _check_field(value: str) -> str:
    if not _FIELD_RE.fullmatch(value):
        raise ValueError(
            "not a source field name: use letters, digits, '_', '-' and '.', starting with a "
            "letter or '_'"
        )
    return value


Word = Annotated[
    str, AfterValidator(_check_word), Field(json_schema_extra={"pattern": _WORD_PATTERN})
]
SourceField = Annotated[
    str, AfterValidator(_check_field), Field(json_schema_extra={"pattern": _FIELD_PATTERN})
]


def _check_asset_key(value: str) -> str:
    if not _ASSET_KEY_RE.fullmatch(value):
        raise ValueError(
            "not an asset key: write its parts separated by '/', e.g. marts/orders; parts use "
            "letters, digits, '_', '-' and '.'"
        )
    return value


AssetKeyText = Annotated[
    str, AfterValidator(_check_asset_key), Field(json_schema_extra={"pattern": ASSET_KEY_PATTERN})
]


def _unique(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"lists the same {what} twice")
        seen.add(value)
    return values


class SecretPolicy(FrozenModel):
    """``secrets.<name>``: what one secret must hold and what happens when it changes."""

    keys: Annotated[list[EnvVarName], AfterValidator(lambda v: _unique(v, "key"))] = Field(
        default_factory=list,
        description="Keys the secret must hold (each reaches the pod as an env var).",
    )
    max_age_days: Annotated[int, Field(strict=True, gt=0)] | None = Field(
        None, description="Rotate at least this often; older secrets are reported as stale."
    )
    on_rotation: Literal["rematerialize", "checks", "none"] = Field(
        "rematerialize",
        description="When the secret changes: re-run its assets, run their checks, or nothing.",
    )
    assets: Annotated[list[AssetKeyText], AfterValidator(lambda v: _unique(v, "asset"))] = Field(
        default_factory=list, description="Asset keys ('a/b' for multi-part) that use the secret."
    )
    remote: RemoteSecret | None = Field(
        None,
        description="external-secrets only: the secret's remote key in the store and, per env "
        "key, the property it comes from (or the whole secret). Without it: "
        "{remote_key_prefix}{namespace}/{name}, property = env key.",
    )

    @model_validator(mode="after")
    def _keys_match_remote(self) -> SecretPolicy:
        """The mapped env keys are the required keys; ``keys`` may repeat them, not differ."""
        if self.remote is None:
            return self
        mapped = self.remote.env_keys()
        if not self.keys:
            self.__dict__["keys"] = mapped  # frozen for users; filled once, while validating
        elif set(self.keys) != set(mapped):
            raise ValueError(
                f"keys ({', '.join(self.keys)}) and the keys remote maps ({', '.join(mapped)}) "
                "differ: list the same keys in both, or drop keys (remote's are used)"
            )
        return self


@dataclass(frozen=True)
class SecretReference:
    """One secret the manifest uses, where it is named first, and the keys it must hold.

    ``required_keys`` comes from the secret's policy (``secrets.<name>.keys``); the dbt layer adds
    the keys its adapter needs for the compute connection secret.
    """

    name: str
    field_path: str
    required_keys: tuple[str, ...] = ()


class PipelineSource(FrozenModel):
    """``ingestion.pipelines[].source``: the source system and the secrets its fields come from."""

    type: Word = Field(description="Source connector, e.g. salesforce.")
    secret_refs: dict[SourceField, SecretName] = Field(
        default_factory=dict,
        description="Source field -> name of the secret that supplies it.",
    )


class Pipeline(FrozenModel):
    """``ingestion.pipelines[]``: one ingestion pipeline."""

    name: Word = Field(description="Pipeline name.")
    source: PipelineSource


class Ingestion(FrozenModel):
    """``ingestion:``."""

    pipelines: list[Pipeline] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Ingestion:
        first: dict[str, int] = {}
        errors: list[InitErrorDetails] = []
        for index, pipeline in enumerate(self.pipelines):
            if pipeline.name in first:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "floe_duplicate_pipeline",
                            "pipeline name '{name}' is already used by pipelines[{first}]",
                            {"name": pipeline.name, "first": first[pipeline.name]},
                        ),
                        loc=("pipelines", index, "name"),
                        input=None,
                    )
                )
            first.setdefault(pipeline.name, index)
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors, hide_input=True)
        return self


class Manifest(FrozenModel):
    """``manifest.yaml``: one environment's secrets backend and every secret it references."""

    environment: DnsLabel = Field(
        DEFAULT_ENVIRONMENT,
        description="Environment this manifest deploys (dev, staging, prod …); secrets MUST NOT "
        "be shared across environments. Optional: else --environment, $"
        f"{ENVIRONMENT_VARIABLE}, a file name manifest.<environment>.yaml, the environment the "
        f"secret names embed (snowflake-prod-credentials), else '{DEFAULT_ENVIRONMENT}'.",
    )
    plugins: Plugins
    ingestion: Ingestion = Field(default_factory=Ingestion)
    secrets: dict[SecretName, SecretPolicy] = Field(
        default_factory=dict, description="Optional policy per secret name."
    )
    _environment_source: str = PrivateAttr("manifest")

    @model_validator(mode="after")
    def _manifest_rules(self, info: ValidationInfo) -> Manifest:
        context: dict[str, Any] = info.context if isinstance(info.context, dict) else {}
        self._resolve_environment(context.get("environment_choices") or ())
        apply_rules(
            self,
            strict=bool(context.get("strict", False)),
            source=str(context.get("source", "manifest")),
        )
        return self

    def _resolve_environment(self, choices: Any) -> None:
        declared = self.environment if "environment" in self.model_fields_set else None
        try:
            environment, origin = resolve_environment(
                declared,
                [name for _, name in self.secret_name_locations()],
                [choice for choice in choices if isinstance(choice, EnvironmentChoice)],
            )
        except EnvironmentProblem as e:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("floe_environment", "{why}", {"why": str(e)}),
                        loc=("environment",),
                        input=None,
                    )
                ],
                hide_input=True,
            ) from None
        # The model is frozen for its users; filling in a field that was left out, once, while
        # it is being validated, is what a default_factory with access to the other fields would do.
        self.__dict__["environment"] = environment
        self._environment_source = origin

    @property
    def environment_source(self) -> str:
        """Where :attr:`environment` came from, as messages name it.

        ``manifest``, ``--environment``, ``$FLOE_ENVIRONMENT``, ``the file name
        manifest.prod.yaml``, ``the secret names`` or ``default``.
        """
        return self._environment_source

    def require_compute(self, purpose: str) -> ComputePluginConfig:
        """``plugins.compute``, or an error saying what to write when the manifest has none.

        Args:
            purpose: What needs it, for the message, e.g. ``render a dbt profile``.

        Raises:
            InvalidManifestError: The manifest has no ``plugins.compute``.
        """
        if self.plugins.compute is None:
            raise InvalidManifestError(
                f"the manifest has no plugins.compute, which floe needs to {purpose}",
                fix="add the compute plugin under plugins:, e.g. `compute: {type: snowflake, "
                "connection_secret_ref: snowflake-credentials}` (type is one of snowflake, "
                "bigquery, databricks, postgres, duckdb)",
                path="plugins.compute",
            )
        return self.plugins.compute

    def secret_name_locations(self) -> list[tuple[tuple[int | str, ...], str]]:
        """Every place a secret is named, as (pydantic loc, name), policies last."""
        found: list[tuple[tuple[int | str, ...], str]] = []
        if self.plugins.compute is not None:
            found.append(
                (
                    ("plugins", "compute", "connection_secret_ref"),
                    self.plugins.compute.connection_secret_ref,
                )
            )
        if self.plugins.catalog is not None:
            found.append(
                (
                    ("plugins", "catalog", "config", "client_secret_ref"),
                    self.plugins.catalog.config.client_secret_ref,
                )
            )
        for index, pipeline in enumerate(self.ingestion.pipelines):
            found.extend(
                (("ingestion", "pipelines", index, "source", "secret_refs", field), name)
                for field, name in pipeline.source.secret_refs.items()
            )
        found.extend((("secrets", name), name) for name in self.secrets)
        return found

    def secret_references(self) -> list[SecretReference]:
        """Each secret the manifest uses, once, in first-seen order.

        Order: the compute connection secret, the catalog secret, every ingestion
        ``secret_refs`` entry, then names that only have a policy. ``field_path`` is the dotted
        path of the first mention, e.g. ``ingestion.pipelines[0].source.secret_refs.client_id``.
        """
        refs: dict[str, SecretReference] = {}
        for loc, name in self.secret_name_locations():
            if name not in refs:
                refs[name] = SecretReference(
                    name=name,
                    field_path=dotted_path(loc),
                    required_keys=tuple(self.secret_policy(name).keys),
                )
        return list(refs.values())

    def secret_policy(self, name: str) -> SecretPolicy:
        """The policy for ``name``, or the default policy when ``secrets:`` has none for it."""
        return self.secrets.get(name) or SecretPolicy()

    def assets_for_secret(self, name: str) -> tuple[str, ...]:
        """Asset keys (``a/b`` for multi-part) that the policy of ``name`` says depend on it."""
        return tuple(self.secret_policy(name).assets)
