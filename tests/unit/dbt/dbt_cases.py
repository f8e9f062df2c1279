"""Settings per golden case: what a manifest's ``plugins.compute`` would hold, nothing secret."""

from __future__ import annotations

from typing import Any

# case name (golden file stem) -> (compute type, plugins.compute.config)
GOLDEN_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "snowflake": (
        "snowflake",
        {"database": "ANALYTICS", "schema": "MARTS", "warehouse": "TRANSFORMING", "role": "DBT"},
    ),
    "snowflake_key_pair": (
        "snowflake",
        {"auth": "key_pair", "database": "ANALYTICS", "schema": "MARTS", "threads": 8},
    ),
    "bigquery": ("bigquery", {"project": "floe-analytics", "dataset": "marts", "location": "EU"}),
    "databricks": ("databricks", {"catalog": "main", "schema": "marts"}),
    "postgres": ("postgres", {"database": "warehouse", "schema": "marts", "port": 5433}),
    "duckdb": (
        "duckdb",
        {
            "path": "/var/lib/floe/warehouse.duckdb",
            # Explicit, so the golden file does not depend on where the venv lives.
            "extension_directory": "/opt/floe/duckdb/extensions",
        },
    ),
}

# A minimal valid settings mapping per compute type.
MINIMAL: dict[str, dict[str, Any]] = {
    "snowflake": {"database": "DB", "schema": "S"},
    "bigquery": {"project": "p", "dataset": "d"},
    "databricks": {"schema": "s"},
    "postgres": {"dbname": "db", "schema": "s"},
    "duckdb": {"path": "/data/w.duckdb", "extension_directory": "/ext"},
}
