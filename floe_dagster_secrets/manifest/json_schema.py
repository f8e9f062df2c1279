"""The manifest's JSON Schema, for editors (YAML language servers) and CI linters.

Pydantic derives it from the models; this module adds what pydantic cannot express: the model of
``plugins.secrets.config`` is chosen by ``plugins.secrets.type`` (``if``/``then``), and an
omitted ``config`` means that backend's defaults. Rules that span the whole manifest (naming,
environments) are checked by the loader only.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from floe_dagster_secrets.manifest.schema import Manifest

__all__ = ["JSON_SCHEMA_DIALECT", "manifest_json_schema", "write_json_schema"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_CONFIG_DEFS = {
    "k8s": "K8sSecretsConfig",
    "local": "LocalSecretsConfig",
    "external-secrets": "ExternalSecretsConfig",
    "vault": "VaultSecretsConfig",
}
_CONFIG_REQUIRED = frozenset({"external-secrets", "vault"})


def _secrets_plugin_conditions() -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = []
    for backend, definition in _CONFIG_DEFS.items():
        condition: dict[str, Any] = {"properties": {"type": {"const": backend}}}
        if backend != "k8s":  # an omitted type means k8s, so only k8s matches without one
            condition["required"] = ["type"]
        then: dict[str, Any] = {
            "properties": {
                "config": {"anyOf": [{"$ref": f"#/$defs/{definition}"}, {"type": "null"}]}
            }
        }
        if backend in _CONFIG_REQUIRED:
            then = {"properties": {"config": {"$ref": f"#/$defs/{definition}"}}}
            then["required"] = ["config"]
        conditions.append({"if": condition, "then": then})
    return conditions


def _close_pattern_maps(node: Any) -> None:
    """Mappings with key patterns (``secrets``, ``secret_refs``) accept no other keys."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for child in node.values():
            _close_pattern_maps(child)
    elif isinstance(node, list):
        for child in node:
            _close_pattern_maps(child)


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``manifest.yaml``."""
    schema = Manifest.model_json_schema()
    _close_pattern_maps(schema)
    plugin = schema["$defs"]["SecretsPluginConfig"]
    config = plugin["properties"]["config"]
    config["anyOf"] = [*config.get("anyOf", []), {"type": "null"}]
    plugin["allOf"] = _secrets_plugin_conditions()
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "floe manifest.yaml (ADR-0023 secrets configuration)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def write_json_schema(stream: TextIO) -> None:
    """Write the schema as indented JSON (``python -m floe_dagster_secrets.manifest``)."""
    stream.write(json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n")
