"""Open the encrypted DuckDB warehouse in-process: check the key before dbt, count rows after.

Checking the key first turns DuckDB's "Wrong encryption key" (which dbt would bury in a stack
trace) into our error naming the secret and the database file.

DuckDB is imported when a step opens the warehouse, not when the code location loads (every
code server and run process loads it; only the dbt step needs DuckDB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from floe_dagster_secrets.dbt import duckdb_extension_directory
from floe_dagster_secrets.errors import InvalidSecretValueError

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def open_warehouse(
    path: Path, key: str, *, secret: str, namespace: str, backend: str
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection with the encrypted database attached under its file's stem.

    DuckDB records the catalog of a view's dependencies by the database's own name (the file
    stem), so the views dbt built only resolve when the file is attached under that name.

    Raises:
        InvalidSecretValueError: the key in ``secret`` does not open the database.
    """
    import duckdb  # at step time (module docstring)

    conn = duckdb.connect(
        ":memory:",
        config={
            "extension_directory": duckdb_extension_directory(),
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        },
    )
    try:
        conn.execute("LOAD httpfs")
        alias = path.stem
        try:
            conn.execute(
                f'ATTACH {_quote(str(path))} AS "{alias}" (ENCRYPTION_KEY {_quote(key)}, READ_ONLY)'
            )
        except duckdb.Error as e:
            if "encryption key" not in str(e).lower():
                raise
            raise InvalidSecretValueError(
                f"Wrong encryption key: DUCKDB_ENCRYPTION_KEY in '{secret}' does not open the "
                "DuckDB warehouse",
                fix=f"put back the key the database was created with into '{secret}', or "
                "delete the database file to rebuild it with the new key",
                backend=backend,
                secret=secret,
                namespace=namespace,
                path=str(path),
            ) from e
        yield conn
    finally:
        conn.close()


def check_key(path: Path, key: str, *, secret: str, namespace: str, backend: str) -> None:
    """Fail with our error if the warehouse exists and ``key`` does not open it."""
    if path.exists():
        with open_warehouse(path, key, secret=secret, namespace=namespace, backend=backend):
            pass


def row_counts(
    path: Path,
    key: str,
    relations: Iterable[tuple[str, str]],
    *,
    secret: str,
    namespace: str,
    backend: str,
) -> dict[str, int]:
    """``{name: row count}`` for ``(name, "schema.table")`` relations in the warehouse."""
    counts: dict[str, int] = {}
    with open_warehouse(path, key, secret=secret, namespace=namespace, backend=backend) as conn:
        for name, relation in relations:
            schema, table = relation.split(".", 1)
            row = conn.execute(
                f'select count(*) from "{path.stem}"."{schema}"."{table}"'  # noqa: S608 - dbt names
            ).fetchone()
            counts[name] = int(row[0]) if row else 0
    return counts
