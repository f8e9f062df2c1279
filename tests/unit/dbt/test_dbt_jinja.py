"""The dbt renderer refuses settings holding Jinja (issue 17, point 1), as its own line of defence.

The manifest loader refuses them first; these call the renderer directly, as a program that
builds settings without a manifest would.
"""

from __future__ import annotations

from typing import Any

import pytest

from floe_dagster_secrets.dbt import render_profiles_yml
from floe_dagster_secrets.errors import InvalidManifestError

SECRET_REF = "{{ env_var('DBT_ENV_SECRET_DUCKDB_ENCRYPTION_KEY') }}"


@pytest.mark.parametrize(
    ("compute_type", "settings", "field"),
    [
        ("duckdb", {"path": "w.duckdb", "schema": SECRET_REF}, "plugins.compute.config.schema"),
        ("duckdb", {"path": "w.duckdb", "role": "{{ modules.os.system('id') }}"}, "config.role"),
        ("duckdb", {"path": "{% if 1 %}w{% endif %}.duckdb"}, "plugins.compute.config.path"),
        ("postgres", {"host": "h", "database": "d", "x": {"y": ["{# c #}"]}}, "config.x.y[0]"),
        ("snowflake", {"database": "d", "warehouse": "w", "{{ k }}": 1}, "plugins.compute.config"),
    ],
)
def test_jinja_in_settings_is_refused_naming_the_field(
    compute_type: str, settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidManifestError) as info:
        render_profiles_yml(compute_type, settings)
    message = str(info.value)
    assert field in message
    assert "Jinja" in message
    assert "DBT_ENV_SECRET_DUCKDB" not in message.split("Fix:")[0]
    assert "os.system" not in message


def test_settings_too_deep_to_be_real_are_refused() -> None:
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    with pytest.raises(InvalidManifestError, match="more than 64 levels deep"):
        render_profiles_yml("duckdb", {"path": "w.duckdb", "deep": deep})


def test_the_only_jinja_in_a_rendered_profile_is_floes_env_var_references() -> None:
    text = render_profiles_yml("duckdb", {"path": "w.duckdb", "schema": "main"})
    assert text.count("{{") == 1
    assert SECRET_REF in text
