"""The manifest's JSON Schema, for editors (YAML language servers) and CI linters.

Pydantic derives it from the models; this module adds what pydantic cannot express: the model of
``plugins.secrets.config`` is chosen by ``plugins.secrets.type`` (``if``/``then``), and an
omitted ``config`` means that backend's defaults. The backends and their models are the installed
ones (each plugin class's ``config_model`` and ``config_required``, found through the
``floe.secrets`` entry points), so a third-party backend's config is in the schema too. Rules that
span the whole manifest (naming, environments) are checked by the loader only.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from floe_dagster_secrets.manifest.schema import Manifest
from floe_dagster_secrets.manifest.secrets_config import BackendConfig

__all__ = ["JSON_SCHEMA_DIALECT", "manifest_json_schema", "write_json_schema"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

DEFAULT_BACKEND = "k8s"
"""What an omitted ``plugins.secrets.type`` means."""


def _installed_configs(defs: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Backend → (its config model's ``$defs`` name, config required); models added to ``defs``.

    A backend whose class cannot be imported here is left out (the loader reports it).
    """
    from floe_dagster_secrets.backends.registry import available_backends, load_backend_class
    from floe_dagster_secrets.errors import BackendNotInstalledError

    found: dict[str, tuple[str, bool]] = {}
    for backend in sorted(available_backends()):
        try:
            plugin_class = load_backend_class(backend)
        except BackendNotInstalledError:
            continue
        model = plugin_class.config_class() or BackendConfig
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
        found[backend] = (model.__name__, plugin_class.config_required)
    return found


def _secrets_plugin_conditions(configs: dict[str, tuple[str, bool]]) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = []
    for backend, (definition, required) in configs.items():
        condition: dict[str, Any] = {"properties": {"type": {"const": backend}}}
        if backend != DEFAULT_BACKEND:  # an omitted type means k8s: only k8s matches without one
            condition["required"] = ["type"]
        then: dict[str, Any] = {
            "properties": {
                "config": {"anyOf": [{"$ref": f"#/$defs/{definition}"}, {"type": "null"}]}
            }
        }
        if required:
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
    defs: dict[str, Any] = schema["$defs"]
    configs = _installed_configs(defs)
    plugin = defs["SecretsPluginConfig"]
    config = plugin["properties"]["config"]
    config.pop("$ref", None)
    refs = [{"$ref": f"#/$defs/{name}"} for name in dict.fromkeys(n for n, _ in configs.values())]
    config["anyOf"] = [*refs, {"type": "null"}]
    plugin["properties"]["type"]["enum"] = sorted(configs)
    plugin["allOf"] = _secrets_plugin_conditions(configs)
    if "BackendConfig" in defs and all(name != "BackendConfig" for name, _ in configs.values()):
        del defs["BackendConfig"]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "floe manifest.yaml (ADR-0023 secrets configuration)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def write_json_schema(stream: TextIO) -> None:
    """Write the schema as indented JSON (``python -m floe_dagster_secrets.manifest``)."""
    stream.write(json.dumps(manifest_json_schema(), indent=2, sort_keys=True) + "\n")
