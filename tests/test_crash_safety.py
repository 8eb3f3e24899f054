"""Crash safety and idempotency, on real processes: a `sihub refresh` killed with SIGKILL at
several stages and started again ends with the same stores and published tables as an
uninterrupted refresh; a refresh with nothing new changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType

from pipelines.instance import hub_instance
from sihub.core.db import quote
from sihub.privacy.leak_guard import without_label_date

SIHUB = str(Path(sys.executable).parent / "sihub")
# a stage each: validation (a slow dataset, so the kill lands inside it), linkage, metrics, publication
KILL_AT = (
    "validated__business_unit__rapid_reviews",
    "linked__child_index",
    "metrics__metric_values",
    "published__metrics_store",
)
# columns that say when or in which run something happened, or where a home keeps its archive
RUN_COLUMNS = {"run_id", "seen_at", "archived_at", "archived_path", "recorded_at", "published_at", "timeliness_days"}
# columns holding a delivery's safe label ("partner/dataset 2026-12-06 #1"), which carries the
# day its file was first seen: two runs either side of midnight label one file with two days
LABEL_COLUMNS = {"label", "delivery"}


def without_day(column: str) -> str:
    """A column as SQL, a label's day left out (as the leak guard leaves it out)."""
    return without_label_date(quote(column)) if column in LABEL_COLUMNS else quote(column)


# a log of runs, not data: one row per check per run; and the fingerprints of stages, of
# clean leak scans and of what each dataset's links, view and metric were built from, which
# hash the delivery log (when and in which run each file arrived)
RUN_LOGS = {"check_log", "stage_fingerprints", "leak_scanned", "link_inputs", "view_inputs", "metric_inputs"}


def digests(db: Path) -> dict[str, tuple[int, int]]:
    """Per table: row count and an order-free hash of its rows (run columns left out)."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
            "WHERE database_name = current_database() GROUP BY ALL"
        ).fetchall()
        out = {}
        for table, columns in tables:
            kept = ", ".join(without_day(c) for c in columns if c not in RUN_COLUMNS)
            if table not in RUN_LOGS and kept:
                out[table] = con.execute(
                    f'SELECT count(*), coalesce(sum(hash({kept})::HUGEINT), 0) FROM "{table}"'
                ).fetchone()
        return out


def stores(home: Path) -> dict[str, dict]:
    return {
        name: digests(path)
        for name, path in {
            "personal": home / "warehouse" / "personal.duckdb",
            "shared": home / "warehouse" / "shared.duckdb",
            "published": home / "published" / "metrics.duckdb",
        }.items()
    }


def refresh(home: Path) -> subprocess.Popen:
    env = {**os.environ, "SIHUB_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    return subprocess.Popen([SIHUB, "refresh"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def started_steps(home: Path) -> set[str]:
    """Steps the newest run has started, read from the hub's Dagster instance as it runs."""
    instance = hub_instance(home)
    runs = instance.get_runs(limit=1)
    if not runs:
        return set()
    return {e.step_key for e in instance.all_logs(runs[0].run_id, of_type=DagsterEventType.STEP_START)}


def kill_inside(home: Path, step: str) -> None:
    process = refresh(home)
    deadline = time.monotonic() + 600
    while step not in started_steps(home):
        assert process.poll() is None, f"the refresh ended before {step} started"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)  # into the step's work
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


@pytest.fixture(scope="module")
def resumed(first_run, small, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose refresh was killed at each stage in turn, then run to the end."""
    home = tmp_path_factory.mktemp("killed_home")
    shutil.copytree(small.out, home / "landing")
    shutil.copytree(small.out.parent / "reference", home / "reference")
    for step in KILL_AT:
        kill_inside(home, step)
    process = refresh(home)
    assert process.wait() == 0, process.stderr.read().decode()
    return home


def _label_without_day(label: str) -> str:
    """A label from the run summary with its day left out, by the same SQL as `without_day`."""
    return duckdb.execute(f"SELECT {without_label_date('$1')}", [label]).fetchall()[0][0]


def files_reported(summary: dict) -> list[tuple]:
    fields = ("name", "sha256", "status", "rows_in", "rows_loaded", "rows_quarantined")
    rows = (
        (d["partner"], d["dataset"], _label_without_day(f["name"]), *(f[k] for k in fields[1:]))
        for d in summary["datasets"]
        for f in d["files"]
    )
    return sorted(rows)


def test_a_refresh_killed_at_each_stage_ends_as_an_uninterrupted_one(resumed: Path, home: Path, first_run) -> None:
    assert len(hub_instance(resumed).get_runs()) == len(KILL_AT) + 1
    # the resumed run reports the files the killed runs loaded, as the uninterrupted run did
    summary = json.loads((resumed / "operations" / "run_summary.json").read_text())
    assert files_reported(summary) == files_reported(first_run.summary)
    killed, uninterrupted = stores(resumed), stores(home)
    for store in ("personal", "shared", "published"):
        assert killed[store].keys() == uninterrupted[store].keys(), store
        differ = sorted(t for t in killed[store] if killed[store][t] != uninterrupted[store][t])
        assert not differ, f"{store}: {differ}"
    assert not list((resumed / "published" / "snapshots").glob(".building-*"))  # no half-built snapshot left


def test_a_second_refresh_with_nothing_new_changes_nothing(resumed: Path) -> None:
    published = resumed / "published"

    def files() -> dict[str, int]:
        return {p.relative_to(published).as_posix(): p.lstat().st_mtime_ns for p in published.rglob("*")}

    def governance_rows() -> dict[str, int]:  # the audit log and registers
        with sqlite3.connect(resumed / "governance" / "governance.db") as db:
            names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}

    before, listing, registers = stores(resumed), files(), governance_rows()
    process = refresh(resumed)
    assert process.wait() == 0, process.stderr.read().decode()
    assert stores(resumed) == before
    assert files() == listing  # the same snapshot stays current; nothing is rewritten
    assert governance_rows() == registers  # no access to audit: nothing was read again
