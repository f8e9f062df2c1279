"""What to write when a manifest lacks a required field.

Pydantic says ``Field required`` and nothing more. A user with ADR-0023 open beside the CLI needs
the field, the place it goes, the backend it is for and a line to copy, so every missing-field
error is rewritten here into, e.g.::

    plugins.secrets.config.store: Field required: the external-secrets backend needs the name
    of the ClusterSecretStore to sync from; write the line `store: aws-secrets-manager` under
    plugins.secrets.config

The examples are ADR-0023's own values. A field this table does not know yet still gets its
place, the backend and a line to fill in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from floe_dagster_secrets.manifest.naming import dotted_path

__all__ = ["backend_of", "missing_field_message"]

# loc with list indices as "*" -> (what the field is, example line). ADR-0023's values.
_HINTS: dict[tuple[str, ...], tuple[str, str]] = {
    ("plugins",): (
        "the plugins section, with at least the secrets backend",
        "plugins: {secrets: {type: k8s}}",
    ),
    ("plugins", "compute", "type"): (
        "the compute engine (snowflake, bigquery, databricks, postgres or duckdb)",
        "type: snowflake",
    ),
    ("plugins", "compute", "connection_secret_ref"): (
        "the name of the secret holding the compute connection credentials",
        "connection_secret_ref: snowflake-credentials",
    ),
    ("plugins", "catalog", "type"): ("the catalog implementation", "type: polaris"),
    ("plugins", "catalog", "config"): (
        "the catalog settings, with the secret holding its OAuth2 client credentials",
        "config: {client_secret_ref: polaris-credentials}",
    ),
    ("plugins", "catalog", "config", "client_secret_ref"): (
        "the name of the secret holding the catalog's OAuth2 client credentials",
        "client_secret_ref: polaris-credentials",
    ),
    ("plugins", "secrets", "config", "store"): (
        "the name of the ClusterSecretStore to sync from",
        "store: aws-secrets-manager",
    ),
    ("plugins", "secrets", "config", "address"): (
        "the address of the Vault server",
        "address: https://vault.example.com",
    ),
    ("ingestion", "pipelines", "*", "name"): ("the pipeline's name", "name: salesforce-sync"),
    ("ingestion", "pipelines", "*", "source"): (
        "the pipeline's source and the secrets its fields come from",
        "source: {type: salesforce, secret_refs: {client_id: salesforce-credentials}}",
    ),
    ("ingestion", "pipelines", "*", "source", "type"): (
        "the source connector",
        "type: salesforce",
    ),
}


def backend_of(data: Any) -> str:
    """``plugins.secrets.type`` of raw manifest data, ``k8s`` (the default) when unset or odd."""
    plugins = data.get("plugins") if isinstance(data, Mapping) else None
    secrets = plugins.get("secrets") if isinstance(plugins, Mapping) else None
    backend = secrets.get("type") if isinstance(secrets, Mapping) else None
    return backend if isinstance(backend, str) and backend else "k8s"


def missing_field_message(loc: Sequence[int | str], backend: str) -> str:
    """The text for a ``Field required`` error at ``loc`` of a manifest for ``backend``."""
    key = tuple("*" if isinstance(part, int) else str(part) for part in loc)
    field = key[-1] if key else "(top level)"
    parent = dotted_path(loc[:-1]) if len(loc) > 1 else "the top level of the manifest"
    what, example = _HINTS.get(key, (f"{field}", f"{field}: <value>"))
    if key[:3] == ("plugins", "secrets", "config"):
        who = f"the {backend} backend needs {what}"
    else:
        who = f"the manifest (secrets backend {backend}) needs {what}"
    return (
        f"Field required: {who}; write the line `{example}` under {parent} (`floe manifest "
        "schema` prints every field)"
    )
