"""The one place that opens DuckDB and quotes names taken from contracts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from sihub.core.run_lock import store_turn


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
    with store_turn():  # the processes of a multiprocess run open the stores in turn
        con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit()})
        con.execute("SET enable_progress_bar = false")  # the CLI draws its own progress
        try:
            yield con
        finally:
            con.close()


@contextmanager
def attached(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The other store attached to `con` as `alias` for the block, detached however it ends
    (a store left attached would keep its file open after the step)."""
    con.execute(f"ATTACH {literal(str(path))} AS {quote(alias)}{' (READ_ONLY)' if read_only else ''}")
    try:
        yield con
    finally:
        con.execute(f"DETACH {quote(alias)}")


@contextmanager
def schema_first(con: duckdb.DuckDBPyConnection, schema: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """For the block, tables are made in `schema` (created if need be) and names are looked up
    there first, then in main: the same SQL builds a second set of tables beside the first."""
    if schema == "main":
        yield con
        return
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    con.execute(f"SET search_path = {literal(schema + ',main')}")
    try:
        yield con
    finally:
        con.execute("RESET search_path")


MEMORY_LIMIT_ENV = "SIHUB_DUCKDB_MEMORY_LIMIT"


def memory_limit() -> str:
    """DuckDB's memory per store, beyond which it spills to disk (`<store>.tmp`). Its own
    default, 80% of the machine, lets the two stores together claim more than the machine
    has. 3 GB each leaves a county refresh untouched (1.6 GB peak) and held the stages of a
    national one that ran to 4 GB; set it higher on a bigger machine."""
    return os.environ.get(MEMORY_LIMIT_ENV, "3GB")


def restrict(path: Path) -> None:
    """Owner-only permissions on a database file and its write-ahead log (the personal zone)."""
    for file in (path, path.with_name(path.name + ".wal")):
        if file.exists():
            file.chmod(0o600)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None):
    """The single value a query returns, with the result fully consumed (DuckDB refuses other
    work on a connection while a result is half-read)."""
    return con.execute(sql, params or []).fetchall()[0][0]


def table_exists(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None, here: bool = False) -> bool:
    """Whether a table (temporary ones included) exists, in `database` when given, and in the
    schema unqualified names are made in when `here` (see `schema_first`)."""
    sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
    params: list = [table]
    if database:
        sql += " AND database_name = ?"
        params.append(database)
    if here:
        sql += " AND schema_name = current_schema()"
    return bool(scalar(con, sql, params))


def matched_key_sql(value_sql: str) -> str:
    """SQL for a key value as records are matched on it: case and every white space ignored
    (`mp 001` re-sent as `MP001`, a trailing tab or carriage return, is the same record)."""
    return f"upper(regexp_replace(CAST({value_sql} AS VARCHAR), '\\s', '', 'g'))"
