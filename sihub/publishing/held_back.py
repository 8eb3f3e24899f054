"""Metrics held back from a publication. When the leak guard finds an identifier in one
dataset's shared table (or in a view built from it), only the metrics built on that dataset
stop: they keep the values last published, marked stale with the reason, and everything else
publishes. A finding that no dataset explains (a table of the hub's own, or one someone
added by hand) still stops the whole publication, since nothing says which figures it
could have reached.

The leak guard records what it found per dataset table in the shared store (`leak_held`);
publication reads it there. Only table, column and kind are recorded, never a value.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from sihub.core.contracts import Contract, feeds
from sihub.core.db import attached, quote, table_exists
from sihub.linkage.views import load_views
from sihub.privacy.text_guard import Finding

HELD_DDL = (
    "CREATE OR REPLACE TABLE leak_held (source_table VARCHAR, found_in VARCHAR, column_name VARCHAR, kind VARCHAR)"
)
# the published tables whose rows belong to one metric, carried over from the last snapshot
PER_METRIC = ("fact_metric_value", "alerts")


def record_leaks(con: duckdb.DuckDBPyConnection, findings: list[Finding], contracts: list[Contract]) -> list[Finding]:
    """Replace `leak_held` with the dataset tables the findings reach (a dataset's own table,
    the tables a view is built from, and the table a statutory return feeds); return the
    findings no dataset explains."""
    datasets = {c.table for c in contracts}
    views = {v.name: [s.replace("/", "__") for s in v.sources] for v in load_views()}
    fed_by = feeds(contracts)
    rows, unexplained = [], []
    for f in findings:
        tables = [f.table] if f.table in datasets else views.get(f.table, [])
        if not tables:
            unexplained.append(f)
            continue
        tables += [fed for fed, feeders in fed_by.items() if set(feeders) & set(tables)]
        rows += [[t, f.table, f.column, f.kind] for t in tables]
    con.execute(HELD_DDL)
    if rows:
        con.executemany("INSERT INTO leak_held VALUES (?, ?, ?, ?)", rows)
    return unexplained


def held_metrics(con: duckdb.DuckDBPyConnection, shared: str) -> dict[str, str]:
    """Metric -> why it is held back, for every metric built on a table in `leak_held` of the
    attached shared store `shared`."""
    if not table_exists(con, "leak_held", shared):
        return {}
    rows = con.execute(
        f"""
        WITH found AS (
            SELECT source_table, replace(found_in, '__', '/') || ' (' || column_name || ': ' || kind || ')' AS what
            FROM {shared}.leak_held
        )
        SELECT s.metric_id, string_agg(DISTINCT f.what, '; ' ORDER BY f.what)
        FROM {shared}.metric_sources s JOIN found f USING (source_table)
        GROUP BY ALL ORDER BY ALL
        """
    ).fetchall()
    return {m: f"not updated: the leak guard found identifiers in {where}" for m, where in rows}


def hold_back(con: duckdb.DuckDBPyConnection, previous: Path | None, held: dict[str, str]) -> dict[str, str]:
    """In a snapshot being built: the held metrics' rows replaced by those of the `previous`
    snapshot's file (none where there is none), and `dim_metric` saying so. Returns each held
    metric's status: `stale` (last values kept) or `withheld` (none published before)."""
    if not held:
        return {}
    ids = sorted(held)
    for table in PER_METRIC:
        con.execute(f"DELETE FROM {table} WHERE list_contains(?, metric_id)", [ids])
    kept: set[str] = set()
    if previous is not None and previous.exists():
        with attached(con, previous, "last", read_only=True):
            for table in PER_METRIC:
                _carry_over(con, table, "WHERE list_contains(?, metric_id)", [ids])
            kept = {m for (m,) in con.execute(
                "SELECT DISTINCT metric_id FROM last.fact_metric_value WHERE list_contains(?, metric_id)", [ids]
            ).fetchall()}  # fmt: skip
            _carry_over(con, "dim_period", "WHERE period_id NOT IN (SELECT period_id FROM dim_period)", [])
    status = {m: "stale" if m in kept else "withheld" for m in ids}
    notes = {
        "stale": "; the values shown are those last published",
        "withheld": "; nothing was published for it before",
    }
    con.executemany(
        "UPDATE dim_metric SET status = ?, status_note = ? WHERE metric_id = ?",
        [[status[m], held[m] + notes[status[m]], m] for m in ids],
    )
    return status


def _carry_over(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> None:
    """Rows of `last.<table>` into `<table>`, by the columns both have (a snapshot from an
    older version may lack a column: it is left empty)."""
    columns = [
        c
        for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'last' AND table_name = ? "
            "AND column_name IN (SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name = ?)",
            [table, table],
        ).fetchall()
    ]
    names = ", ".join(map(quote, columns))
    con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM last.{table} {where}", params)
