"""Change tracking: a stage re-does its work only when what it reads has changed.

Each stage that rebuilds tables (a dataset's governed split, linkage with the multi-agency
view, metrics, publication) computes a fingerprint of everything its output
depends on, and compares it with the one recorded when that output was last built:

- the *context*: the code, SQL, contracts and reference data in the repository, the home's
  own reference files, the agreements register, the pseudonymisation key's id, and the
  month (open plans and episodes run to the current month);
- for a dataset, a content hash of its typed rows, quarantine and delivery log in the
  personal zone (DuckDB `hash` summed over rows: order-free, 0.8 s for all of `county`);
- for later stages, the fingerprints of the stages before them.

The record of a stage is deleted before its work starts and written after the work has
committed, so a crash in between always leaves the stage to be done again. Fingerprints are
hashes of hashes; they say nothing about any person. They live in the shared store. (The
leak guard and disclosure control keep finer records of their own, per table and per
metric-month: `governance.leak_guard.scan_changed`, `governance.disclosure.protect`.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import duckdb

from governance.keys import load_key
from hub.db import connect, quote, table_exists
from hub.paths import REPO_ROOT

DDL = """
CREATE TABLE IF NOT EXISTS stage_fingerprints (
    stage VARCHAR PRIMARY KEY, fingerprint VARCHAR, run_id VARCHAR, recorded_at TIMESTAMP
)
"""
# What in the repository decides the outputs (not the CLI, the tests or the benchmarks).
SOURCE_FOLDERS = ("hub", "governance", "assets", "sql", "data_contracts", "reference")


def digest(parts: Iterable[object]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _files_digest(folders: Iterable[Path]) -> str:
    files = sorted(
        (p.relative_to(folder.parent).as_posix(), p)
        for folder in folders
        if folder.is_dir()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    return digest((name, hashlib.sha256(p.read_bytes()).hexdigest()) for name, p in files)


@cache
def source_digest() -> str:
    """The repository's code and configuration, hashed once per process."""
    return _files_digest(REPO_ROOT / f for f in SOURCE_FOLDERS)


def context(home: Path, today: dt.date | None = None) -> str:
    """What every stage depends on besides the data: code, configuration, key and month."""
    key_id = load_key(home).key_id
    month = (today or dt.date.today()).strftime("%Y-%m")
    agreements = Path(os.environ.get("SIHUB_AGREEMENTS", REPO_ROOT / "governance" / "agreements.yaml"))
    register = hashlib.sha256(agreements.read_bytes()).hexdigest() if agreements.is_file() else "none"
    return digest((source_digest(), _files_digest([home / "reference"]), register, key_id, month))


def dataset_inputs(con: duckdb.DuckDBPyConnection, personal: str, partner: str, dataset: str) -> list[str]:
    """A dataset's typed rows, quarantine, warnings and delivery log in the attached personal zone."""
    where, params = "WHERE partner = ? AND dataset = ?", [partner, dataset]
    return [
        content(con, f"{personal}.{partner}__{dataset}"),
        *(content(con, f"{personal}.{log}", where, params) for log in ("quarantine", "validation_warnings")),
        content(con, f"{personal}.deliveries", where, params),
    ]


def content(con: duckdb.DuckDBPyConnection, table: str, where: str = "", params: list | None = None) -> str:
    """An order-free hash of a table's rows (with their count), or 'absent'."""
    schema, _, name = table.rpartition(".")
    if not table_exists(con, name, schema or None):
        return "absent"
    qualified = f"{schema}.{quote(name)}" if schema else quote(name)
    count, total = con.execute(
        f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {qualified} t {where}", params or []
    ).fetchone()
    return f"{count}:{total}"


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def recorded(con: duckdb.DuckDBPyConnection, stage: str) -> tuple[str, str] | None:
    """(fingerprint, run_id) of the stage's last completed build, if any."""
    ensure(con)
    row = con.execute("SELECT fingerprint, run_id FROM stage_fingerprints WHERE stage = ?", [stage]).fetchone()
    return (row[0], row[1]) if row else None


def unchanged(con: duckdb.DuckDBPyConnection, stage: str, fingerprint: str) -> str | None:
    """The run that built the stage from the same inputs, when there was one."""
    last = recorded(con, stage)
    return last[1] if last and last[0] == fingerprint else None


def forget(con: duckdb.DuckDBPyConnection, stage: str) -> None:
    """Before a stage's work: whatever happens next, its old record no longer holds."""
    ensure(con)
    con.execute("DELETE FROM stage_fingerprints WHERE stage = ?", [stage])


def remember(con: duckdb.DuckDBPyConnection, stage: str, fingerprint: str, run_id: str) -> None:
    """After a stage's work has committed."""
    ensure(con)
    con.execute(
        "INSERT OR REPLACE INTO stage_fingerprints VALUES (?, ?, ?, now()::TIMESTAMP)", [stage, fingerprint, run_id]
    )


def stages(con: duckdb.DuckDBPyConnection, prefix: str) -> list[tuple[str, str]]:
    """Recorded (stage, fingerprint) pairs whose name starts with `prefix`, sorted."""
    ensure(con)
    return con.execute(
        "SELECT stage, fingerprint FROM stage_fingerprints WHERE starts_with(stage, ?) ORDER BY stage", [prefix]
    ).fetchall()


def upstream(shared: Path, ctx: str, prefix: str) -> str:
    """A fingerprint from the context and the recorded fingerprints of earlier stages."""
    with connect(shared) as con:
        return digest([ctx, *stages(con, prefix)])


def begin(shared: Path, stage: str, fingerprint: str) -> str | None:
    """The run that built `stage` from these same inputs, if any. Otherwise the stage's record
    is deleted (its work is about to change the output) and None says: do the work."""
    with connect(shared) as con:
        if built_by := unchanged(con, stage, fingerprint):
            return built_by
        forget(con, stage)
    return None


def finish(shared: Path, stage: str, fingerprint: str, run_id: str) -> None:
    with connect(shared) as con:
        remember(con, stage, fingerprint, run_id)
