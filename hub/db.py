"""The one place that opens DuckDB and quotes names taken from contracts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


def quote(name: str) -> str:
    """A SQL identifier, safely quoted (contract names are checked, but never trusted)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal, for DDL where DuckDB takes no parameters (ATTACH, COPY)."""
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a DuckDB file, closed on exit; the folder is created if need be."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def restrict(path: Path) -> None:
    """Owner-only permissions on a database file and its write-ahead log (the personal zone)."""
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists():
            file.chmod(0o600)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The single value a query returns, with the result fully consumed (DuckDB refuses other
    work on a connection while a result is half-read)."""
    return con.execute(sql, params or []).fetchall()[0][0]
