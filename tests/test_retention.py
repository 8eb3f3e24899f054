"""Retention by lifecycle on a copy of the refreshed `small` partnership: a record is purged its
retention period after it closes, never while it is open (a child in care today), and what is
purged is reported beside what was delivered."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd

from governance.agreements import load_register
from governance.retention import purge_all
from pipelines.refresh import run_refresh
from sihub.core.contracts import load_contracts
from sihub.intake import archive

AS_OF = dt.date(2029, 6, 1)  # children's services keep 7 years: closed before 2022-06-01 goes
CUTOFF = dt.date(2022, 6, 1)


def episodes(home: Path, manifest: pd.DataFrame) -> dict[str, tuple[dt.date, dt.date | None]]:
    """Every looked-after episode delivered and not spoiled by the generator: start and end."""
    spoiled = set(zip(manifest["file"], manifest["row"], strict=True))
    out = {}
    for path in sorted((home / "landing" / "childrens_services" / "cla_episodes").glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as f:
            for i, row in enumerate(csv.DictReader(f), start=1):
                if (f"childrens_services/cla_episodes/{path.name}", i) in spoiled:
                    continue
                start = dt.datetime.strptime(row["Episode Start Date"], "%d/%m/%Y").date()
                end = row["Episode End Date"]
                out[row["Episode ID"]] = (start, dt.datetime.strptime(end, "%d/%m/%Y").date() if end else None)
    return out


def raw_files(home: Path) -> set[str]:
    return {p.relative_to(home).as_posix() for p in (home / "raw").rglob("*") if p.is_file()}


def test_a_purge_of_a_copied_home_deletes_its_own_raw_files_and_none_of_another_homes(first_run, home: Path, tmp_path):
    """A home copied, restored or moved keeps the manifest of where its files were first
    written: a purge there must delete the expired files of that home, never the original's."""
    original, copy = tmp_path / "original", tmp_path / "copy"
    shutil.copytree(home, original, symlinks=True)
    shutil.copytree(original, copy, symlinks=True)  # the copy's manifest names the original's files
    before = raw_files(original)
    assert before == raw_files(copy)
    saved = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'known_names'"
    with duckdb.connect(str(copy / "warehouse" / "personal.duckdb")) as con:
        assert con.execute(saved).fetchall() == [(1,)]  # the refresh saved the names the text guard looks for
        done = purge_all(con, load_contracts(), load_register(), AS_OF, copy, "test purge")
        # they may name someone purged: the next refresh saves them again
        assert con.execute(saved).fetchall() == [(0,)]
    files = sum(p.files for p in done)
    assert files > 0
    assert raw_files(original) == before
    assert len(raw_files(copy)) == len(before) - files


def test_an_open_episode_outlives_retention_and_a_closed_one_goes(first_run, home: Path, manifest, tmp_path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    truth = episodes(copy, manifest)
    closed_long_ago = {e for e, (_, end) in truth.items() if end and end < CUTOFF}
    open_and_old = {e for e, (start, end) in truth.items() if end is None and start < CUTOFF}
    assert closed_long_ago and open_and_old  # the generator's world has both

    contracts = load_contracts()
    with duckdb.connect(str(copy / "warehouse" / "personal.duckdb")) as con:
        done = {p.dataset: p for p in purge_all(con, contracts, load_register(), AS_OF, copy, "test purge")}
        left = {r[0] for r in con.execute("SELECT episode_id FROM childrens_services__cla_episodes").fetchall()}
        logged = con.execute(
            "SELECT sum(rows_purged) FROM purge_log WHERE dataset = 'cla_episodes' AND cutoff = ?", [CUTOFF]
        ).fetchall()[0][0]
        kept_files = con.execute(
            "SELECT archived_path FROM archive_manifest WHERE dataset = 'cla_episodes' AND archived_path IS NOT NULL"
        ).fetchall()

    purged = done["childrens_services/cla_episodes"]
    assert purged.cutoff == CUTOFF and purged.rows == len(closed_long_ago) == logged
    assert open_and_old <= left  # children in care today stay, however long ago they came in
    assert not closed_long_ago & left
    # a file holding an open episode stays in the raw archive
    assert kept_files and all(
        archive.archived_file(copy / "raw", "childrens_services", "cla_episodes", p).exists() for (p,) in kept_files
    )

    cla = next(c for c in contracts if c.dataset == "cla_episodes")
    with duckdb.connect(str(copy / "warehouse" / "personal.duckdb")) as con:
        assert archive.reopen(con, cla) > 0  # the files still held are read again: what went stays gone
    outcome = run_refresh(copy)  # the next summary and scorecard report what went
    assert outcome.success, outcome.reason
    summary = json.loads((copy / "operations" / "run_summary.json").read_text())
    entry = next(d for d in summary["datasets"] if d["dataset"] == "cla_episodes")
    assert entry["rows_purged"] == purged.rows + purged.quarantined
    with duckdb.connect(str(copy / "warehouse" / "shared.duckdb"), read_only=True) as con:
        (scorecard,) = con.execute("SELECT sum(rows_purged) FROM dq_monthly WHERE dataset = 'cla_episodes'").fetchone()
        (shared_open,) = con.execute(
            "SELECT count(*) FROM childrens_services__cla_episodes WHERE episode_end IS NULL AND episode_start < ?",
            [CUTOFF],
        ).fetchone()
    assert scorecard == purged.rows + purged.quarantined
    assert shared_open == len(open_and_old)
    with duckdb.connect(str(copy / "warehouse" / "personal.duckdb"), read_only=True) as con:
        again = {r[0] for r in con.execute("SELECT episode_id FROM childrens_services__cla_episodes").fetchall()}
    assert not closed_long_ago & again and open_and_old <= again
