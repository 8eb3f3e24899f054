"""Retention: personal-zone records past their dataset's retention period are deleted, with
their quarantine rows and, once nothing of a delivered file is left, the raw archive file
itself. What was purged is counted (never listed) per month in `purge_log` and in the audit
log.

A record's retention period starts when it closes: at the date in the contract's
`retention.closed_by` column (an episode's end, a plan's end, the day a missing child was
found); a record with that date blank is open — a child in care today — and is never purged.
A dataset without a closing column counts from the event date (or the delivery date, for a
dataset without one). Where a record is re-sent under its key (`delivery_mode: upsert`), the
record that stands decides for every version of it: an episode delivered open and later
closed goes when its closing date is past, all versions together, and never while it is
open. A quarantined row counts from its event month, or its delivery when that is unreadable.
The period is the covering agreement's `retention_years`.
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
from sihub.core.paths import HubPaths
from sihub.intake.archive import archived_file
from sihub.privacy.text_guard import forget_known_names
from sihub.validation.current import current_rows, key_sql, retention_start_sql


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


# each delivery's first arrival: the age of rows with no date of their own
ARRIVED = "(SELECT sha256, min(seen_at) AS seen_at FROM deliveries GROUP BY sha256)"
# a quarantined row's month: its event's, else its delivery's (an unreadable date)
QUARANTINE_MONTH = "coalesce(q.event_month, CAST(date_trunc('month', d.seen_at) AS DATE))"


def _purge_id() -> str:
    """The name of a purge run from the command line (a refresh's purge takes its run's id)."""
    return f"purge-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}"


def _expiring_rows(con: duckdb.DuckDBPyConnection, contract: Contract, cutoff: dt.date) -> None:
    """`_expiring`: the rowids of the typed rows to purge, with their event month."""
    table = quote(contract.table)
    month = (
        f"CAST(date_trunc('month', t.{quote(contract.event_date)}) AS DATE)"
        if contract.event_date
        else "CAST(date_trunc('month', d.seen_at) AS DATE)"
    )
    own = retention_start_sql(contract)
    if contract.mode == "upsert":
        key = ", ".join(f"{key_sql(k, 's')} AS _k{i}" for i, k in enumerate(contract.unique_key))
        on = " AND ".join(f"s._k{i} = {key_sql(k, 't')}" for i, k in enumerate(contract.unique_key))
        start = retention_start_sql(contract, "s", "s._seen")
        standing = f"(SELECT {key}, {start} AS _age FROM ({_with_seen(contract)}) s)"
        # every version of a record follows the version that stands; a version with no
        # standing record (its delivery held) follows its own date
        age = f"CASE WHEN s._key IS NULL THEN {own} ELSE s._age END"
        join = f"LEFT JOIN (SELECT *, true AS _key FROM {standing}) s ON {on}"
    else:
        age, join = own, ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _expiring AS SELECT t.rowid AS _rid, {month} AS period_month "
        f"FROM {table} t JOIN {ARRIVED} d ON d.sha256 = t._source_sha256 {join} WHERE {age} < ?",
        [cutoff],
    )


def _with_seen(contract: Contract) -> str:
    """The standing rows, each with its delivery's arrival (`_seen`)."""
    standing = current_rows(contract)
    return f"SELECT c.*, d.seen_at AS _seen FROM {standing} c JOIN {ARRIVED} d ON d.sha256 = c._source_sha256"


def purge(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    register: Register,
    today: dt.date,
    home: Path,
    run_id: str | None = None,
) -> Purged | None:
    """Delete what is past retention for one dataset (personal zone connection, raw files
    under `home`); `run_id` names the purge in `purge_log` (a refresh's run, else the time of
    the purge)."""
    run_id = run_id or _purge_id()
    cutoff = cutoff_for(register, contract, today)
    if cutoff is None or not table_exists(con, contract.table):
        return None
    table = quote(contract.table)
    where = [contract.partner, contract.dataset]
    con.execute("BEGIN")  # counted, remembered and deleted together: a crash leaves all or none
    _expiring_rows(con, contract, cutoff)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _expiring_quarantine AS SELECT q.rowid AS _rid, {QUARANTINE_MONTH} AS "
        f"period_month FROM quarantine q JOIN {ARRIVED} d ON d.sha256 = q.source_sha256 "
        f"WHERE q.partner = ? AND q.dataset = ? AND {QUARANTINE_MONTH} < date_trunc('month', ?::DATE)",
        [*where, cutoff],
    )
    con.execute(
        "INSERT INTO purge_log SELECT ?, ?, ?, period_month, ?, sum(rows), sum(quarantined), now()::TIMESTAMP FROM ("
        "SELECT period_month, 1 AS rows, 0 AS quarantined FROM _expiring UNION ALL "
        "SELECT period_month, 0, 1 FROM _expiring_quarantine) GROUP BY period_month",
        [run_id, *where, cutoff],
    )
    # which file rows went: a re-read of the raw archive (revalidation) leaves them out
    con.execute(
        f"INSERT INTO purged_rows SELECT _source_sha256, _row FROM {table} "
        "WHERE rowid IN (SELECT _rid FROM _expiring) UNION ALL SELECT source_sha256, source_row FROM quarantine "
        "WHERE rowid IN (SELECT _rid FROM _expiring_quarantine)"
    )
    # a DELETE answers with the number of rows it deleted: nothing per row comes back to Python
    # (at national scale a purge deletes tens of millions of rows)
    (rows,) = con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT _rid FROM _expiring)").fetchone()
    (quarantined,) = con.execute(
        "DELETE FROM quarantine WHERE rowid IN (SELECT _rid FROM _expiring_quarantine)"
    ).fetchone()
    con.execute("COMMIT")
    # a raw file goes when nothing of it is left: no typed row, no quarantine row, and it had
    # rows (all purged) or, with none, was delivered before the cutoff
    expired = con.execute(
        f"""
        SELECT m.sha256, m.archived_path FROM archive_manifest m
        JOIN (SELECT sha256, min(seen_at) AS seen_at, max(rows_in) AS rows_in FROM deliveries GROUP BY sha256) d
            USING (sha256)
        WHERE m.partner = ? AND m.dataset = ? AND m.archived_path IS NOT NULL
          AND m.sha256 NOT IN (SELECT DISTINCT _source_sha256 FROM {table})
          AND m.sha256 NOT IN (SELECT DISTINCT source_sha256 FROM quarantine WHERE partner = ? AND dataset = ?)
          AND (coalesce(d.rows_in, 0) > 0 OR CAST(d.seen_at AS DATE) < ?)
        """,
        [*where, *where, cutoff],
    ).fetchall()
    raw = HubPaths(home).raw
    for sha, path in expired:
        file = archived_file(raw, contract.partner, contract.dataset, path)
        if file.exists():
            file.chmod(0o640)
            file.unlink()
        con.execute("UPDATE archive_manifest SET archived_path = NULL WHERE sha256 = ?", [sha])
        if table_exists(con, "recodings"):  # the values sent go with the file
            con.execute("DELETE FROM recodings WHERE source_sha256 = ?", [sha])
    con.execute("DROP TABLE _expiring")
    con.execute("DROP TABLE _expiring_quarantine")
    return Purged(contract.key, cutoff, rows, quarantined, len(expired))


def purge_all(
    con: duckdb.DuckDBPyConnection,
    contracts: list[Contract],
    register: Register,
    today: dt.date,
    home: Path,
    why: str,
    run_id: str | None = None,
) -> list[Purged]:
    """Purge every dataset (personal-zone connection); what went is counted in the audit log
    under `why` (the command or the run that purged)."""
    done = []
    run_id = run_id or _purge_id()
    for contract in contracts:
        purged = purge(con, contract, register, today, home, run_id)
        if purged is None:
            continue
        done.append(purged)
        if purged.rows or purged.quarantined or purged.files:
            audit.record(
                home,
                "erasure",
                why,
                f"{purged.dataset}: records, quarantine rows and raw files past retention ({purged.cutoff})",
                purged.rows + purged.quarantined,
            )
    if any(d.rows or d.quarantined for d in done):
        forget_known_names(con)  # the next refresh saves them again, without the purged
    return done
