"""Which typed rows stand: the dataset's current state, as the shared store, linkage and the
dataset checks see it. Every delivery's rows stay in the personal zone (its history); what
stands follows the contract's delivery mode, and leaves out held deliveries.

- `append`: every row (a key already held is quarantined as an overlap when validated);
- `upsert`: per unique key, the row of the newest delivery (arrival order), so a re-sent or
  corrected record replaces the one held and a re-sent file counts once;
- `replace`: a delivery replaces every row of earlier deliveries in the months its event
  dates fall in, so a year-to-date file or a re-sent census replaces the months it repeats.

Keys match whatever their case and white space; the newest delivery is the latest to arrive
(within one night, the latest written).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from sihub.core.contracts import Contract
from sihub.core.db import literal, matched_key_sql, quote


def _of(contract: Contract) -> str:
    return f"partner = {literal(contract.partner)} AND dataset = {literal(contract.dataset)}"


def _in(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def held_sql(contract: Contract, schema: str | None = None) -> str:
    """SQL: the hashes of the dataset's deliveries held now."""
    return f"SELECT sha256 FROM {_in(schema, 'held_deliveries')} WHERE {_of(contract)} AND released_at IS NULL"


def delivery_order_sql(contract: Contract, schema: str | None = None) -> str:
    """SQL: each loaded delivery's place in arrival order (`_seq`, 1 the oldest): by the hour it
    first arrived, and within one night's arrivals by the file's modification time (a
    correction written after a re-run extract is the newer, whatever the files are called)."""
    return (
        "SELECT sha256 AS _source_sha256, row_number() OVER (ORDER BY date_trunc('hour', min(seen_at)), "
        "max(mtime_ns), min(file_name), sha256) AS _seq "
        f"FROM {_in(schema, 'deliveries')} WHERE {_of(contract)} AND status = 'loaded' GROUP BY sha256"
    )


def key_sql(column: str, row: str | None = None) -> str:
    """A key part as deliveries are matched on it (`matched_key_sql`)."""
    return matched_key_sql(f"{row}.{quote(column)}" if row else quote(column))


def current_rows(contract: Contract, schema: str | None = None) -> str:
    """A parenthesised query of the rows that stand, with the typed table's columns and
    `_rowid` (the row's place in the typed table), for `FROM {current_rows(...)} t`."""
    table = _in(schema, quote(contract.table))
    kept = f"SELECT t.rowid AS _rowid, t.* FROM {table} t WHERE t._source_sha256 NOT IN ({held_sql(contract, schema)})"
    if contract.mode == "append":
        return f"({kept})"
    # a row of no logged delivery (a table built by hand) counts as the oldest
    ordered = f"SELECT * FROM ({kept}) LEFT JOIN ({delivery_order_sql(contract, schema)}) USING (_source_sha256)"
    if contract.mode == "upsert":
        # the newest delivery holding a key decides it (several rows of one delivery with a
        # blank key part all stand: within a delivery, keys are the unique rule's business)
        key = ", ".join(key_sql(k) for k in contract.unique_key)
        return (
            f"(SELECT * EXCLUDE (_seq, _newest) FROM (SELECT *, max(_seq) OVER (PARTITION BY {key}) AS _newest "
            f"FROM ({ordered})) WHERE _seq IS NOT DISTINCT FROM _newest)"
        )
    # replace: a delivery replaces the months it has rows in (not every month between its
    # first and last: one mistyped date must not wipe the years between)
    month = contract.event_month_sql()
    return (
        f"(WITH o AS (SELECT *, {month} AS _month FROM ({ordered})), "
        "months AS (SELECT DISTINCT _seq, _month FROM o) "
        "SELECT o.* EXCLUDE (_seq, _month) FROM o WHERE NOT EXISTS "
        "(SELECT 1 FROM months m WHERE m._seq > o._seq AND m._month = o._month))"
    )


def retention_start_sql(contract: Contract, row: str = "t", delivered: str = "d.seen_at") -> str:
    """SQL for the date a row's retention period starts from: its closing date (NULL while the
    record is open: never purged), else its event date, else its delivery (`delivered`)."""
    if contract.retention:
        return f"CAST({row}.{quote(contract.retention.closed_by)} AS DATE)"
    if contract.event_date:
        return f"CAST({row}.{quote(contract.event_date)} AS DATE)"
    return f"CAST({delivered} AS DATE)"


@dataclass(frozen=True)
class DatasetState:
    """What the dataset holds now, whatever this run brought: for the analyst's view."""

    rows_standing: int
    deliveries: int  # loaded, held ones included
    held: int
    first_month: str | None  # of the standing rows' events
    last_month: str | None


def dataset_state(con: duckdb.DuckDBPyConnection, contract: Contract) -> DatasetState:
    """The dataset's state in the personal zone (the connection's main database)."""
    month = contract.event_month_sql() or "NULL::DATE"
    rows, first, last = con.execute(
        f"SELECT count(*), strftime(min({month}), '%Y-%m'), strftime(max({month}), '%Y-%m') "
        f"FROM {current_rows(contract)} t"
    ).fetchone()
    (deliveries,) = con.execute(
        f"SELECT count(DISTINCT sha256) FROM deliveries WHERE {_of(contract)} AND status = 'loaded'"
    ).fetchone()
    (held,) = con.execute(f"SELECT count(*) FROM ({held_sql(contract)})").fetchone()
    return DatasetState(rows, deliveries, held, first, last)
