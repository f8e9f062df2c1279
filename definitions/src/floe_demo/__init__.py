"""The floe demo as a dg project: dbt on an encrypted DuckDB, its key in a secrets store."""
