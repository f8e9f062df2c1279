"""The floe demo code location: a dbt project on an encrypted DuckDB, its key in a secrets store."""
