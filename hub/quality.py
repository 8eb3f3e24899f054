"""Dataset-level rules over one run's deliveries of a dataset (the Dagster asset checks).

Plain results (name, passed, severity, metadata with counts and rule ids, never values), so
the Dagster layer only translates them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from hub.contracts import Contract, IdentifierKind
from hub.db import quote, scalar
from hub.rules import dataset_rules

ROW_COUNT_FLOOR = 50  # files smaller than this vary too much for a ratio to mean anything


@dataclass
class FileOutcome:
    """One delivery of this run, as validation found it."""

    name: str
    sha256: str
    status: str  # loaded | rejected
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_warned: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: str
    description: str
    metadata: dict


def worst_rules(files: list[FileOutcome], top: int = 5) -> dict[str, int]:
    totals: dict[str, int] = {}
    for f in files:
        for rule, n in f.failures.items():
            totals[rule] = totals.get(rule, 0) + n
    return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top])


def _row_count_changes(con: duckdb.DuckDBPyConnection, contract: Contract, run_id: str, ratio: tuple) -> list[str]:
    rows = con.execute(
        "SELECT file_name, run_id, rows_in, lag(rows_in) OVER (ORDER BY seen_at, file_name) AS previous "
        "FROM deliveries WHERE partner = ? AND dataset = ? AND status = 'loaded' ORDER BY seen_at, file_name",
        [contract.partner, contract.dataset],
    ).fetchall()
    lo, hi = ratio
    return [
        f"{name}: {n} rows after {prev}"
        for name, run, n, prev in rows
        if run == run_id and prev is not None and prev >= ROW_COUNT_FLOOR and not lo <= n / prev <= hi
    ]


def evaluate(
    con: duckdb.DuckDBPyConnection, contract: Contract, files: list[FileOutcome], run_id: str, extra: list[CheckOutcome]
) -> list[CheckOutcome]:
    """Every dataset rule of the contract over this run's files (`extra`: the GX expectations)."""
    by_name = {r.name: r for r in dataset_rules(contract)}
    loaded = [f for f in files if f.status == "loaded"]
    rows_in = sum(f.rows_in for f in loaded)
    quarantined = sum(f.rows_quarantined for f in loaded)
    share = quarantined / rows_in if rows_in else 0.0
    out = []

    def add(name: str, passed: bool, **metadata) -> None:
        rule = by_name[name]
        out.append(CheckOutcome(name, passed, rule.severity, rule.description, {"files": len(files), **metadata}))

    add(
        "quarantine_share",
        share <= contract.checks.max_quarantine_share,
        rows_in=rows_in,
        rows_quarantined=quarantined,
        share=round(share, 4),
        worst_rules=worst_rules(files),
    )
    rejected = {f.name: f.error for f in files if f.status == "rejected"}
    add("files_readable", not rejected, rejected=rejected)
    odd = {f.name: {"missing": f.missing, "unexpected": f.unexpected} for f in loaded if f.missing or f.unexpected}
    add("columns_as_contracted", not odd, files_with_other_columns=odd)
    changes = _row_count_changes(con, contract, run_id, contract.checks.row_count_ratio)
    add("row_count_change", not changes, outside_band=changes)
    if contract.event_date:
        shas = [f.sha256 for f in loaded]
        latest = (
            scalar(
                con,
                f"SELECT CAST(max({quote(contract.event_date)}) AS DATE) FROM {quote(contract.table)} "
                "WHERE list_contains(?, _source_sha256)",
                [shas],
            )
            if shas
            else None
        )
        age = (dt.date.today() - latest).days if latest else None
        add(
            "freshness",
            age is None or age <= contract.checks.freshness_days,
            latest_event=str(latest) if latest else "no new rows",
            age_days=age if age is not None else -1,
        )
    return out + extra


CHECK_LOG_DDL = """
CREATE TABLE IF NOT EXISTS check_log (
    run_id VARCHAR, partner VARCHAR, dataset VARCHAR, check_name VARCHAR, passed BOOLEAN, severity VARCHAR
)
"""


def record_checks(
    con: duckdb.DuckDBPyConnection, contract: Contract, run_id: str, outcomes: list[CheckOutcome]
) -> None:
    """Keep this run's check outcomes beside the deliveries, for the run summary."""
    con.execute(CHECK_LOG_DDL)
    con.execute(
        "DELETE FROM check_log WHERE run_id = ? AND partner = ? AND dataset = ?",
        [run_id, contract.partner, contract.dataset],
    )
    con.executemany(
        "INSERT INTO check_log VALUES (?, ?, ?, ?, ?, ?)",
        [[run_id, contract.partner, contract.dataset, o.name, o.passed, o.severity] for o in outcomes],
    )


SCORECARD_DDL = """
CREATE TABLE IF NOT EXISTS dq_monthly (
    partner VARCHAR, dataset VARCHAR, period_month DATE, rows_received BIGINT, rows_loaded BIGINT,
    rows_quarantined BIGINT, rows_with_warnings BIGINT, completeness DOUBLE, validity DOUBLE, uniqueness DOUBLE,
    timeliness_days INTEGER, nhs_number_coverage DOUBLE, upn_coverage DOUBLE
)
"""


def refresh_scorecard(con: duckdb.DuckDBPyConnection, contract: Contract, personal: str) -> int:
    """Replace the dataset's rows of `dq_monthly` (shared store) from the attached personal zone:
    per month of event (of delivery, where a row has no readable event date), rows received,
    completeness of required fields, validity, uniqueness, delivery lag after the month's end
    and identifier coverage (share of loaded rows carrying a valid NHS number / UPN)."""
    table = f"{personal}.{quote(contract.table)}"
    month = f"CAST(date_trunc('month', t.{quote(contract.event_date)}) AS DATE)" if contract.event_date else "NULL"
    nhs, upn = (
        f"t.{quote(c)}" if (c := contract.identifier_column(k)) else "NULL"
        for k in (IdentifierKind.nhs_number, IdentifierKind.upn)
    )
    # a quarantined row whose event date is unreadable has no month: it counts under 'unknown'
    delivery_month = "CAST(date_trunc('month', d.seen_at) AS DATE)"
    quarantined_month = "q.event_month" if contract.event_date else delivery_month
    con.execute(SCORECARD_DDL)
    con.execute("DELETE FROM dq_monthly WHERE partner = ? AND dataset = ?", [contract.partner, contract.dataset])
    con.execute(
        f"""
        INSERT INTO dq_monthly
        WITH delivered AS (SELECT sha256, min(seen_at) AS seen_at FROM {personal}.deliveries GROUP BY sha256),
        rows AS (
            SELECT coalesce({month}, CAST(date_trunc('month', d.seen_at) AS DATE)) AS period_month, d.seen_at,
                   true AS loaded, [] AS rules, {nhs} AS nhs_number, {upn} AS upn,
                   EXISTS (SELECT 1 FROM {personal}.validation_warnings w
                           WHERE w.source_sha256 = t._source_sha256 AND w.source_row = t._row) AS warned
            FROM {table} t JOIN delivered d ON d.sha256 = t._source_sha256
            UNION ALL
            SELECT {quarantined_month}, d.seen_at, false,
                   q.all_rules, NULL, NULL, false
            FROM {personal}.quarantine q JOIN delivered d ON d.sha256 = q.source_sha256
            WHERE q.partner = ? AND q.dataset = ?
        ),
        monthly AS (
            SELECT period_month, count(*) AS received, count(*) FILTER (loaded) AS loaded_rows,
                   count(*) FILTER (NOT loaded) AS quarantined, count(*) FILTER (warned) AS warned,
                   1 - avg(CAST(len(list_filter(rules, lambda r: r LIKE 'required:%')) > 0 AS INTEGER)) AS completeness,
                   1 - avg(CAST(len(list_filter(rules, lambda r: r = 'duplicate_row' OR r LIKE 'unique:%')) > 0
                                AS INTEGER)) AS uniqueness,
                   date_diff('day', last_day(period_month), CAST(min(seen_at) AS DATE)) AS lag_days,
                   avg(CASE WHEN loaded THEN CAST(nhs_number IS NOT NULL AS INTEGER) END) AS nhs_cov,
                   avg(CASE WHEN loaded THEN CAST(upn IS NOT NULL AS INTEGER) END) AS upn_cov
            FROM rows GROUP BY period_month
        )
        SELECT ?, ?, period_month, received, loaded_rows, quarantined, warned, completeness,
               loaded_rows / received, uniqueness, lag_days,
               {"nhs_cov" if contract.identifier_column(IdentifierKind.nhs_number) else "NULL"},
               {"upn_cov" if contract.identifier_column(IdentifierKind.upn) else "NULL"}
        FROM monthly ORDER BY period_month
        """,
        [contract.partner, contract.dataset, contract.partner, contract.dataset],
    )
    return scalar(
        con, "SELECT count(*) FROM dq_monthly WHERE partner = ? AND dataset = ?", [contract.partner, contract.dataset]
    )
