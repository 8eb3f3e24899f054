"""Retention: personal-zone records past their dataset's retention period are deleted, with
their quarantine rows and, once every row of a delivered file is past retention, the raw
archive file itself. What was purged is counted (never listed) in the audit log.

A record's age is its event date (delivery date for datasets without one); the period is the
covering agreement's `retention_years`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from governance import audit
from governance.agreements import Register
from sihub.core.contracts import Contract
from sihub.core.db import quote, table_exists


@dataclass(frozen=True)
class Purged:
    dataset: str
    cutoff: dt.date
    rows: int
    quarantined: int
    files: int


def cutoff_for(register: Register, contract: Contract, today: dt.date) -> dt.date | None:
    mine = [a for a in register.agreements if a.partner == contract.partner and contract.dataset in a.datasets]
    if not mine:
        return None
    years = max(mine, key=lambda a: a.valid_to).retention_years
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def purge(con: duckdb.DuckDBPyConnection, contract: Contract, register: Register, today: dt.date) -> Purged | None:
    """Delete what is past retention for one dataset (personal zone connection)."""
    cutoff = cutoff_for(register, contract, today)
    if cutoff is None or not table_exists(con, contract.table):
        return None
    table = quote(contract.table)
    seen = "(SELECT sha256, min(seen_at) AS seen_at FROM deliveries GROUP BY sha256)"
    age = f"CAST(t.{quote(contract.event_date)} AS DATE)" if contract.event_date else "CAST(d.seen_at AS DATE)"
    # files whose every row (typed or quarantined) is past retention go from the raw archive too;
    # a file with no rows (or a dataset with no event date) is judged by its delivery date.
    # Rows are summed up per file first: a few groups, where a join of every row to its file
    # would hold the whole table (85 million rows at national scale) in memory.
    newest = f"max({age})" if contract.event_date else "NULL::DATE"
    recent_rows = "r.newest >= ?" if contract.event_date else "CAST(d.seen_at AS DATE) >= ?"
    expired_files = [
        r[0]
        for r in con.execute(
            f"""
            WITH r AS (SELECT _source_sha256 AS sha256, {newest} AS newest FROM {table} t GROUP BY ALL),
            q AS (
                SELECT source_sha256 AS sha256,
                       bool_or(event_month IS NULL OR event_month >= date_trunc('month', ?::DATE)) AS recent
                FROM quarantine GROUP BY ALL
            )
            SELECT m.sha256 FROM archive_manifest m JOIN {seen} d USING (sha256)
            LEFT JOIN r USING (sha256) LEFT JOIN q USING (sha256)
            WHERE m.partner = ? AND m.dataset = ? AND m.archived_path IS NOT NULL
              AND NOT (r.sha256 IS NOT NULL AND coalesce({recent_rows}, false))
              AND NOT coalesce(q.recent, false)
              AND (CAST(d.seen_at AS DATE) < ? OR ({"true" if contract.event_date else "false"}
                   AND (r.sha256 IS NOT NULL OR q.sha256 IS NOT NULL)))
            """,
            [cutoff, contract.partner, contract.dataset, cutoff, cutoff],
        ).fetchall()
    ]
    # a DELETE answers with the number of rows it deleted: nothing per row comes back to Python
    # (at national scale a purge deletes tens of millions of rows)
    (rows,) = con.execute(
        f"DELETE FROM {table} t USING {seen} d WHERE d.sha256 = t._source_sha256 AND {age} < ?", [cutoff]
    ).fetchone()
    (quarantined,) = con.execute(
        "DELETE FROM quarantine WHERE partner = ? AND dataset = ? AND (event_month < date_trunc('month', ?::DATE) "
        "OR list_contains(?, source_sha256))",
        [contract.partner, contract.dataset, cutoff, expired_files],
    ).fetchone()
    for sha, path in con.execute(
        "SELECT sha256, archived_path FROM archive_manifest WHERE list_contains(?, sha256)", [expired_files]
    ).fetchall():
        file = Path(path)
        if file.exists():
            file.chmod(0o640)
            file.unlink()
        con.execute("UPDATE archive_manifest SET archived_path = NULL WHERE sha256 = ?", [sha])
    return Purged(contract.key, cutoff, rows, quarantined, len(expired_files))


def purge_all(
    con: duckdb.DuckDBPyConnection, contracts: list[Contract], register: Register, today: dt.date, home: Path, why: str
) -> list[Purged]:
    """Purge every dataset (personal-zone connection); what went is counted in the audit log
    under `why` (the command or the run that purged)."""
    done = []
    for contract in contracts:
        purged = purge(con, contract, register, today)
        if purged is None:
            continue
        done.append(purged)
        if purged.rows or purged.quarantined or purged.files:
            audit.record(
                home,
                "erasure",
                why,
                f"{purged.dataset}: records, quarantine rows and raw files before {purged.cutoff}",
                purged.rows + purged.quarantined,
            )
    return done
