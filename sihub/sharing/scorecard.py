"""The data-quality scorecard in the shared store (`dq_monthly`, published as `dq_scorecard`):
per partner dataset and month, what was received, loaded and quarantined and how complete,
valid, unique, timely and identifiable it was. Counts only; computed from the personal zone."""

from __future__ import annotations

import duckdb

from sihub.core.contracts import Contract, IdentifierKind
from sihub.core.db import quote, scalar

SCORECARD_DDL = """
CREATE TABLE IF NOT EXISTS dq_monthly (
    partner VARCHAR, dataset VARCHAR, period_month DATE, rows_received BIGINT, rows_loaded BIGINT,
    rows_quarantined BIGINT, rows_with_warnings BIGINT, completeness DOUBLE, validity DOUBLE, uniqueness DOUBLE,
    timeliness_days INTEGER, nhs_number_coverage DOUBLE, upn_coverage DOUBLE, rows_purged BIGINT
)
"""


def refresh_scorecard(con: duckdb.DuckDBPyConnection, contract: Contract, personal: str) -> int:
    """Replace the dataset's rows of `dq_monthly` (shared store) from the attached personal zone:
    per month of event (its date's, or its term's; of delivery, where a row has no readable
    one), rows received, completeness of required fields, validity, uniqueness, delivery lag
    after the month's end, identifier coverage (share of loaded rows carrying a valid NHS
    number / UPN), and rows purged for retention (received + purged = every row ever delivered
    for the month)."""
    table = f"{personal}.{quote(contract.table)}"
    event_month = contract.event_month_sql("t.")
    nhs, upn = (
        f"t.{quote(c)}" if (c := contract.identifier_column(k)) else "NULL"
        for k in (IdentifierKind.nhs_number, IdentifierKind.upn)
    )
    # a quarantined row whose event date is unreadable has no month: it counts under 'unknown'
    delivery_month = "CAST(date_trunc('month', d.seen_at) AS DATE)"
    quarantined_month = "q.event_month" if event_month else delivery_month
    con.execute(SCORECARD_DDL)
    con.execute("DELETE FROM dq_monthly WHERE partner = ? AND dataset = ?", [contract.partner, contract.dataset])
    con.execute(
        f"""
        INSERT INTO dq_monthly
        WITH delivered AS (SELECT sha256, min(seen_at) AS seen_at FROM {personal}.deliveries GROUP BY sha256),
        rows AS (
            SELECT coalesce({event_month or "NULL"}, {delivery_month}) AS period_month, d.seen_at,
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
        ),
        purged AS (
            SELECT period_month, sum(rows_purged + quarantine_rows_purged) AS purged FROM {personal}.purge_log
            WHERE partner = ? AND dataset = ? GROUP BY period_month
        )
        SELECT ?, ?, period_month, coalesce(received, 0), coalesce(loaded_rows, 0), coalesce(quarantined, 0),
               coalesce(warned, 0), completeness, loaded_rows / received, uniqueness, lag_days,
               {"nhs_cov" if contract.identifier_column(IdentifierKind.nhs_number) else "NULL"},
               {"upn_cov" if contract.identifier_column(IdentifierKind.upn) else "NULL"}, coalesce(purged, 0)
        FROM monthly FULL JOIN purged USING (period_month) ORDER BY period_month
        """,
        [contract.partner, contract.dataset] * 3,
    )
    return scalar(
        con, "SELECT count(*) FROM dq_monthly WHERE partner = ? AND dataset = ?", [contract.partner, contract.dataset]
    )
