"""Landing to raw archive: every delivered file is copied once per dataset that reads it, and
every sighting of a file is recorded. An identical re-delivery is a recorded no-op.

A delivery is a file as one dataset reads it: its id (`sha256` in every table) is the SHA-256
of `partner/dataset` and the file's bytes, and `archive_manifest.content_sha256` is the file's
own SHA-256 (to check the archived copy against). So one workbook or XML return feeding
several datasets (Annex A's lists, the CIN census's record types) is one delivery of each,
with rows, holds, erasures and purges of its own, and duplicate detection is per dataset: the
same bytes sent for another dataset are not "identical to an earlier delivery". (A store from
before kept the file's own hash as the id; its deliveries keep theirs.)

Tables (personal zone): `archive_manifest` (one row per distinct file content),
`deliveries` (one row per file seen in landing, with its outcome), `held_deliveries`
(deliveries kept out of the shared store after failing a dataset check, until released),
`purge_log` (rows purged for retention, counted per month: what was delivered and is gone)
and `purged_rows` (which file row each purged record came from: re-reading the archive never
brings one back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from contextlib import nullcontext
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import duckdb

from sihub.core.contracts import Contract
from sihub.core.db import scalar

DDL = """
CREATE TABLE IF NOT EXISTS archive_manifest (
    sha256 VARCHAR PRIMARY KEY, partner VARCHAR, dataset VARCHAR, file_name VARCHAR,
    size_bytes BIGINT, archived_path VARCHAR, archived_at TIMESTAMP, run_id VARCHAR
);
ALTER TABLE archive_manifest ADD COLUMN IF NOT EXISTS content_sha256 VARCHAR;
CREATE TABLE IF NOT EXISTS deliveries (
    run_id VARCHAR, partner VARCHAR, dataset VARCHAR, file_name VARCHAR, landing_path VARCHAR,
    sha256 VARCHAR, size_bytes BIGINT, mtime_ns BIGINT, seen_at TIMESTAMP, status VARCHAR,
    rows_in BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, error VARCHAR, label VARCHAR
);
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS missing_columns VARCHAR[];
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS unexpected_columns VARCHAR[];
CREATE TABLE IF NOT EXISTS purge_log (
    run_id VARCHAR, partner VARCHAR, dataset VARCHAR, period_month DATE, cutoff DATE, rows_purged BIGINT,
    quarantine_rows_purged BIGINT, purged_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS purged_rows (sha256 VARCHAR, source_row BIGINT);
CREATE TABLE IF NOT EXISTS held_deliveries (
    sha256 VARCHAR, partner VARCHAR, dataset VARCHAR, reason VARCHAR, held_at TIMESTAMP, run_id VARCHAR,
    released_at TIMESTAMP, released_by VARCHAR
);
"""


@dataclass(frozen=True)
class Sighting:
    file_name: str
    sha256: str
    size_bytes: int
    status: str  # archived (new, to be read), duplicate, held or rejected (refused unread)


class Refused(Exception):
    """A landing entry the hub will not read; the message says why, in one line."""


def refusal(landing: Path, path: Path) -> str | None:
    """Why `path` must not be read, or None for a regular file inside landing that no other
    name reaches. Judged on the entry itself (lstat), never through a link: a link to the
    key file or to a file elsewhere is refused before it is opened."""
    here = path
    while here != landing:  # the file and every folder between it and landing
        if here.is_symlink():
            return "refused: a symbolic link (only regular files inside landing are read)"
        here = here.parent
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        return "refused: not a regular file"
    if info.st_nlink > 1:
        return "refused: a hard-linked file (another name reaches the same data)"
    if not path.resolve().is_relative_to(landing.resolve()):
        return "refused: the path leads out of landing"
    return None


def _open_beneath(landing: Path, path: Path) -> int:
    """Open `path` one step at a time from `landing`, each folder and the file itself without
    following a link: a folder swapped for a link after the path was judged is refused, not
    followed (opening the whole path at once follows links in every folder on the way)."""
    parts = path.relative_to(landing).parts
    folder = os.open(landing, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
    finally:
        os.close(folder)


def open_landing_file(landing: Path, path: Path) -> int:
    """A read-only descriptor of a landing file, opened without following any link and
    checked again once open (the entry may have been swapped since it was judged)."""
    if reason := refusal(landing, path):
        raise Refused(reason)
    try:
        fd = _open_beneath(landing, path)
    except (OSError, ValueError) as err:
        why = err.strerror if isinstance(err, OSError) else "outside landing"
        raise Refused(f"refused: could not be opened without following a link ({why})") from err
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise Refused("refused: changed while being read (no longer a single regular file)")
    return fd


@dataclass(frozen=True)
class Digest:
    content: str  # the file's SHA-256
    delivery: str  # the delivery's id: SHA-256 of `partner/dataset\n` and the file's bytes


def _copy_and_hash(fd: int, partial: Path | None, contract: Contract | None = None) -> Digest:
    """Hash an open landing file (and, for `contract`, its delivery id), copying it to
    `partial` on the way when given: the file is read once."""
    content = hashlib.sha256()
    delivery = hashlib.sha256(f"{contract.key}\n".encode()) if contract else None
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(fd, "rb") as source, partial.open("wb") if partial else nullcontext() as target:
        for block in iter(lambda: source.read(1 << 20), b""):
            content.update(block)
            if delivery:
                delivery.update(block)
            if target:
                target.write(block)
    return Digest(content.hexdigest(), delivery.hexdigest() if delivery else "")


def hash_landing_file(landing: Path, path: Path) -> str:
    """The SHA-256 of a landing file, read as the archive reads it (never through a link)."""
    return _copy_and_hash(open_landing_file(landing, path), None).content


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)
    # a store from before delivery ids: each file's id was its own hash
    con.execute("UPDATE archive_manifest SET content_sha256 = sha256 WHERE content_sha256 IS NULL")
    if scalar(
        con,
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
        "AND table_name = 'deliveries' AND column_name = 'label'",
    ):
        return
    # a store from before labels, once: its deliveries are labelled from what it holds
    con.execute("ALTER TABLE deliveries ADD COLUMN label VARCHAR")
    con.execute(
        "UPDATE deliveries SET label = partner || '/' || dataset || ' ' || strftime(seen_at, '%Y-%m-%d') || ' #' || n "
        "FROM (SELECT rowid AS r, row_number() OVER (PARTITION BY partner, dataset ORDER BY seen_at, sha256) AS n "
        "FROM deliveries) q WHERE q.r = deliveries.rowid AND label IS NULL"
    )


def label(con: duckdb.DuckDBPyConnection, contract: Contract, when: dt.datetime) -> str:
    """A delivery's safe name, `partner/dataset date #n` (the n-th the dataset has had): the
    file's own name is personal data (a partner may name it after a child) and stays in the
    personal zone; outputs, Dagster and logs use this with the SHA-256."""
    (n,) = con.execute(
        "SELECT count(*) + 1 FROM deliveries WHERE partner = ? AND dataset = ?", [contract.partner, contract.dataset]
    ).fetchone()
    return f"{contract.key} {when:%Y-%m-%d} #{n}"


def landing_folder(landing: Path, contract: Contract) -> Path:
    """Where the dataset's files land: `landing/partner/dataset`, or the folder its contract
    shares with the other datasets read from the same files (`source.folder`)."""
    return landing / contract.partner / (contract.source.folder or contract.dataset)


def landing_files(landing: Path, contract: Contract) -> list[Path]:
    """Every entry of the dataset's landing folder that matches the contract's pattern (links
    and other non-regular entries included, so they are refused with a reason, not ignored)."""
    folder = landing_folder(landing, contract)
    if not folder.is_dir():
        return []
    pattern = contract.source.file_pattern.lower()  # `Episodes.CSV` is an episodes file
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and fnmatchcase(p.name.lower(), pattern))


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
    folder = raw / contract.partner / contract.dataset
    for path in landing_files(landing, contract):
        info = path.lstat()
        relative = path.relative_to(landing).as_posix()
        if (relative, info.st_size, info.st_mtime_ns) in seen:
            continue
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        sha, status, error, partial = "", "archived", None, None
        try:
            fd = open_landing_file(landing, path)
        except Refused as refused:
            status, error = "rejected", str(refused)
        else:  # held (no live agreement): hashed only, nothing written to the archive
            partial = None if held_reason else folder / f".{run_id}.partial"
            digest = _copy_and_hash(fd, partial, contract)
            sha = digest.delivery
        con.execute("BEGIN")  # manifest and delivery log together: a crash leaves neither, never a "duplicate"
        con.execute("DELETE FROM deliveries WHERE landing_path = ? AND status = 'held'", [relative])
        known = (
            sha
            and con.execute(
                "SELECT 1 FROM archive_manifest WHERE partner = ? AND dataset = ? AND content_sha256 = ?",
                [contract.partner, contract.dataset, digest.content],
            ).fetchall()
        )
        if status == "rejected":
            pass
        elif held_reason:
            status, error = "held", held_reason
        elif known:
            status, error = "duplicate", "identical to an earlier delivery of this dataset; skipped"
        else:
            target = folder / f"{sha}{path.suffix.lower()}"
            os.replace(partial, target)
            target.chmod(0o440)
            con.execute(
                "INSERT INTO archive_manifest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [sha, contract.partner, contract.dataset, path.name, info.st_size, str(target), now, run_id,
                 digest.content],
            )  # fmt: skip
        con.execute(
            "INSERT INTO deliveries (run_id, partner, dataset, file_name, landing_path, sha256, size_bytes, mtime_ns, "
            "seen_at, status, rows_in, rows_loaded, rows_quarantined, error, label) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
            [run_id, contract.partner, contract.dataset, path.name, relative, sha, info.st_size,
             info.st_mtime_ns, now, status, error, label(con, contract, now)],
        )  # fmt: skip
        con.execute("COMMIT")
        if partial is not None and partial.exists():
            partial.unlink()  # held or duplicate: not kept
        out.append(Sighting(path.name, sha, info.st_size, status))
    return out


def archived_file(raw: Path, partner: str, dataset: str, archived_path: str) -> Path:
    """Where an archived file is in the home whose raw folder is `raw`. The manifest keeps the
    path it was first written to, which a copied, restored or moved home does not share (a
    purge there deleted the original home's files); its name, the file's hash, is what holds."""
    return raw / partner / dataset / Path(archived_path).name


def pending(con: duckdb.DuckDBPyConnection, contract: Contract, raw: Path) -> list[tuple[str, str, str, Path]]:
    """Archived files not yet read (this run's, or left by an interrupted run): (sha256,
    file_name, label, the file in the home whose raw folder is `raw`)."""
    ensure_tables(con)
    found = con.execute(
        "SELECT d.sha256, d.file_name, d.label, m.archived_path "
        "FROM deliveries d JOIN archive_manifest m USING (sha256) "
        "WHERE d.partner = ? AND d.dataset = ? AND d.status = 'archived' AND m.archived_path IS NOT NULL "
        "ORDER BY d.seen_at, d.file_name",
        [contract.partner, contract.dataset],
    ).fetchall()
    return [
        (sha, name, label, archived_file(raw, contract.partner, contract.dataset, path))
        for sha, name, label, path in found
    ]


def record_outcome(
    con: duckdb.DuckDBPyConnection,
    sha256: str,
    run_id: str,
    status: str,
    rows: tuple[int, int, int],
    error: str | None,
    columns: tuple[list[str], list[str]] = ([], []),
) -> None:
    """A delivery's outcome, with the contract's columns it lacked and the columns it had that
    the contract does not name (header names only, never a cell: see `readers.RawFile`)."""
    con.execute(
        "UPDATE deliveries SET status = ?, run_id = ?, rows_in = ?, rows_loaded = ?, rows_quarantined = ?, error = ?, "
        "missing_columns = ?, unexpected_columns = ? WHERE sha256 = ? AND status = 'archived'",
        [status, run_id, *rows, error, *columns, sha256],
    )


def reopen(con: duckdb.DuckDBPyConnection, contract: Contract) -> int:
    """Mark the dataset's loaded and rejected files for reading again from the raw archive
    (after a contract fix): the next refresh re-validates them, replacing their typed and
    quarantined rows. Returns the number of files."""
    ensure_tables(con)
    # a file the retention purge removed from the archive is gone: nothing to read again
    reopened = con.execute(
        "UPDATE deliveries SET status = 'archived' WHERE partner = ? AND dataset = ? "
        "AND status IN ('loaded', 'rejected') AND sha256 IN "
        "(SELECT sha256 FROM archive_manifest WHERE archived_path IS NOT NULL) RETURNING sha256",
        [contract.partner, contract.dataset],
    ).fetchall()
    return len(reopened)
