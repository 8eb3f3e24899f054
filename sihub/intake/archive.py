"""Landing to raw archive: every delivered file is copied once, content-addressed by SHA-256,
and every sighting of a file is recorded. An identical re-delivery is a recorded no-op.

Tables (personal zone): `archive_manifest` (one row per distinct file content),
`deliveries` (one row per file seen in landing, with its outcome), `held_deliveries`
(deliveries kept out of the shared store after failing a dataset check, until released) and
`purge_log` (rows purged for retention, counted per month: what was delivered and is gone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sihub.core.contracts import Contract

DDL = """
CREATE TABLE IF NOT EXISTS archive_manifest (
    sha256 VARCHAR PRIMARY KEY, partner VARCHAR, dataset VARCHAR, file_name VARCHAR,
    size_bytes BIGINT, archived_path VARCHAR, archived_at TIMESTAMP, run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS deliveries (
    run_id VARCHAR, partner VARCHAR, dataset VARCHAR, file_name VARCHAR, landing_path VARCHAR,
    sha256 VARCHAR, size_bytes BIGINT, mtime_ns BIGINT, seen_at TIMESTAMP, status VARCHAR,
    rows_in BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, error VARCHAR
);
CREATE TABLE IF NOT EXISTS purge_log (
    run_id VARCHAR, partner VARCHAR, dataset VARCHAR, period_month DATE, cutoff DATE, rows_purged BIGINT,
    quarantine_rows_purged BIGINT, purged_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS held_deliveries (
    sha256 VARCHAR, partner VARCHAR, dataset VARCHAR, reason VARCHAR, held_at TIMESTAMP, run_id VARCHAR,
    released_at TIMESTAMP, released_by VARCHAR
);
"""
FINAL = ("loaded", "rejected", "duplicate", "held")


@dataclass(frozen=True)
class Sighting:
    file_name: str
    sha256: str
    size_bytes: int
    status: str  # archived (new, to be read) or duplicate


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def landing_files(landing: Path, contract: Contract) -> list[Path]:
    folder = landing / contract.partner / contract.dataset
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(contract.source.file_pattern) if p.is_file() and not p.name.startswith("."))


def archive(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    landing: Path,
    raw: Path,
    run_id: str,
    held_reason: str | None = None,
) -> list[Sighting]:
    """Archive the dataset's new landing files; returns what this run saw.

    A file already seen at the same path, size and modification time is not hashed again.
    With `held_reason` (no live data-sharing agreement) nothing is archived: each file is
    recorded as `held` and stays in landing, to be looked at again next run.
    """
    ensure_tables(con)
    raw.mkdir(parents=True, exist_ok=True)
    raw.chmod(0o700)  # the raw archive holds personal data as delivered
    seen = {
        (path, size, mtime)
        for path, size, mtime in con.execute(
            "SELECT landing_path, size_bytes, mtime_ns FROM deliveries WHERE partner = ? AND dataset = ? "
            "AND status <> 'held'",
            [contract.partner, contract.dataset],
        ).fetchall()
    }
    out = []
    for path in landing_files(landing, contract):
        stat = path.stat()
        relative = path.relative_to(landing).as_posix()
        if (relative, stat.st_size, stat.st_mtime_ns) in seen:
            continue
        sha = sha256_of(path)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        con.execute("BEGIN")  # manifest and delivery log together: a crash leaves neither, never a "duplicate"
        con.execute("DELETE FROM deliveries WHERE landing_path = ? AND status = 'held'", [relative])
        known = con.execute("SELECT 1 FROM archive_manifest WHERE sha256 = ?", [sha]).fetchall()
        if held_reason:
            status, error = "held", held_reason
        elif known:
            status, error = "duplicate", "identical to an earlier delivery; skipped"
        else:
            status, error = "archived", None
            target = raw / contract.partner / contract.dataset / f"{sha}{path.suffix.lower()}"
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".partial")
            shutil.copyfile(path, partial)
            os.replace(partial, target)
            target.chmod(0o440)
            con.execute(
                "INSERT INTO archive_manifest VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [sha, contract.partner, contract.dataset, path.name, stat.st_size, str(target), now, run_id],
            )
        con.execute(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?)",
            [run_id, contract.partner, contract.dataset, path.name, relative, sha, stat.st_size,
             stat.st_mtime_ns, now, status, error],
        )  # fmt: skip
        con.execute("COMMIT")
        out.append(Sighting(path.name, sha, stat.st_size, status))
    return out


def pending(con: duckdb.DuckDBPyConnection, contract: Contract) -> list[tuple[str, str, str]]:
    """Archived files not yet read (this run's, or left by an interrupted run):
    (sha256, file_name, archived_path)."""
    ensure_tables(con)
    return con.execute(
        "SELECT d.sha256, d.file_name, m.archived_path FROM deliveries d JOIN archive_manifest m USING (sha256) "
        "WHERE d.partner = ? AND d.dataset = ? AND d.status = 'archived' ORDER BY d.seen_at, d.file_name",
        [contract.partner, contract.dataset],
    ).fetchall()


def record_outcome(
    con: duckdb.DuckDBPyConnection,
    sha256: str,
    run_id: str,
    status: str,
    rows: tuple[int, int, int],
    error: str | None,
) -> None:
    con.execute(
        "UPDATE deliveries SET status = ?, run_id = ?, rows_in = ?, rows_loaded = ?, rows_quarantined = ?, error = ? "
        "WHERE sha256 = ? AND status = 'archived'",
        [status, run_id, *rows, error, sha256],
    )


def reopen(con: duckdb.DuckDBPyConnection, contract: Contract) -> int:
    """Mark the dataset's loaded and rejected files for reading again from the raw archive
    (after a contract fix): the next refresh re-validates them, replacing their typed and
    quarantined rows. Returns the number of files."""
    ensure_tables(con)
    reopened = con.execute(
        "UPDATE deliveries SET status = 'archived' WHERE partner = ? AND dataset = ? "
        "AND status IN ('loaded', 'rejected') RETURNING sha256",
        [contract.partner, contract.dataset],
    ).fetchall()
    return len(reopened)
