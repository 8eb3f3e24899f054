"""What the quarantine holds for a dataset, for the analyst: each rule broken with its count
and where (delivery label, row, line), never a value. Reasons are the rules' own words;
quarantined values stay in the personal zone."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from sihub.core.contracts import Contract
from sihub.core.db import table_exists

EXAMPLES = 5  # places listed per rule: enough to open the file at, not a dump


@dataclass(frozen=True)
class BrokenRule:
    rule_id: str
    column: str | None
    reason: str
    rows: int
    places: list[tuple[str, int, int]]  # (delivery label, row, line), the first few


def broken_rules(con: duckdb.DuckDBPyConnection, contract: Contract) -> list[BrokenRule]:
    """The rules the dataset's quarantined rows broke (the first broken rule of each row),
    most rows first. Reasons that quote a cell are never built: see `conform`."""
    if not table_exists(con, "quarantine"):
        return []
    rows = con.execute(
        f"""
        WITH q AS (
            SELECT q.rule_id, q.column_name, q.reason, q.source_row, q.source_line,
                   coalesce(d.label, 'delivery ' || left(q.source_sha256, 12)) AS delivery
            FROM quarantine q
            LEFT JOIN (SELECT sha256, any_value(label) AS label FROM deliveries GROUP BY sha256) d
                   ON d.sha256 = q.source_sha256
            WHERE q.partner = ? AND q.dataset = ?
        )
        SELECT rule_id, any_value(column_name), any_value(reason), count(*),
               list((delivery, source_row, source_line) ORDER BY delivery, source_row)[1:{EXAMPLES}]
        FROM q GROUP BY rule_id ORDER BY count(*) DESC, rule_id
        """,
        [contract.partner, contract.dataset],
    ).fetchall()
    return [BrokenRule(rule, column, reason, n, [tuple(p) for p in places]) for rule, column, reason, n, places in rows]
