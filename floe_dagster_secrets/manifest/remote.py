"""``secrets.<name>.remote``: where the External Secrets Operator finds a secret in a cloud store.

ADR-0023's own ExternalSecrets do not follow one layout: AWS maps three env keys to three
properties of one JSON secret (``remoteRef.key: floe/prod/snowflake``, ``property: account``), GCP
and Azure map one env key to a whole secret (``remoteRef.key: floe-bigquery-sa``, no property).
So the mapping is written per secret in the manifest: its remote key, and for each env key either
the property it comes from (``properties``) or the whole remote secret (``whole``). A secret
without ``remote`` keeps the default layout (``{remote_key_prefix}{namespace}/{name}``, property =
env key), which the ``vault`` backend's KV paths share.

The mapping names places, never values.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from floe_dagster_secrets.manifest.naming import EnvVarName
from floe_dagster_secrets.manifest.secrets_config import FrozenModel

__all__ = ["RemoteSecret"]

REMOTE_KEY_PATTERN = r"^[A-Za-z0-9_.@/+=-]+$"
_REMOTE_KEY_RE = re.compile(REMOTE_KEY_PATTERN)


def _check_remote_key(value: str) -> str:
    if not _REMOTE_KEY_RE.fullmatch(value) or value.startswith("/") or "//" in value:
        raise ValueError(
            "not a remote key: write the secret's name or path in the store, e.g. "
            "floe/prod/snowflake or floe-bigquery-sa (letters, digits and _ . @ / + = -)"
        )
    return value


RemoteKey = Annotated[
    str,
    Field(min_length=1, max_length=512, json_schema_extra={"pattern": REMOTE_KEY_PATTERN}),
    AfterValidator(_check_remote_key),
]
Property = Annotated[str, Field(min_length=1, max_length=253)]


class RemoteSecret(FrozenModel):
    """Where one secret lives in the store behind the ClusterSecretStore, key by key.

    ```yaml
    secrets:
      snowflake-credentials:
        remote:
          key: floe/prod/snowflake          # remoteRef.key
          properties:                       # env key -> remoteRef.property
            SNOWFLAKE_ACCOUNT: account
            SNOWFLAKE_USER: user
            SNOWFLAKE_PASSWORD: password
      bigquery-credentials:
        remote:
          key: floe-bigquery-sa
          whole: GOOGLE_APPLICATION_CREDENTIALS_JSON   # the whole secret, no property
    ```
    """

    key: RemoteKey = Field(description="The secret's key (name or path) in the cloud store.")
    properties: dict[EnvVarName, Property] = Field(
        default_factory=dict,
        description="Env key -> property of the remote secret (a JSON field) it comes from.",
    )
    whole: EnvVarName | None = Field(
        None, description="Env key that receives the whole remote secret (no property)."
    )

    @model_validator(mode="after")
    def _something_mapped(self) -> RemoteSecret:
        if not self.properties and self.whole is None:
            raise ValueError(
                "maps no key: add properties (env key: property) or whole: ENV_KEY for the "
                "whole remote secret"
            )
        if self.whole is not None and self.whole in self.properties:
            raise ValueError(
                f"'{self.whole}' is mapped twice: once as whole and once under properties"
            )
        return self

    def mapping(self) -> list[tuple[str, str | None]]:
        """(env key, property or None for the whole secret), in the manifest's order.

        The order is kept so the rendered ``spec.data`` reads as the manifest does.
        """
        pairs: list[tuple[str, str | None]] = list(self.properties.items())
        if self.whole is not None:
            pairs.append((self.whole, None))
        return pairs

    def env_keys(self) -> list[str]:
        """The env keys this mapping fills, in the manifest's order."""
        return [key for key, _ in self.mapping()]
