"""The refresh under Dagster's multiprocess executor: each step in a process of its own, two at
a time, publishing the same facts as the in-process run of the same landing files."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

from pipelines.refresh import RefreshOutcome, run_refresh
from sihub.synthetic.generate import GenerationResult
from tests.test_crash_safety import RUN_COLUMNS, without_day


def _published(home: Path) -> dict[str, list[tuple]]:
    """Every table of the published DuckDB file, rows sorted, without run-specific columns."""
    with duckdb.connect(str(home / "published" / "metrics.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        out = {}
        for table in tables:
            columns = [
                c
                for (c, kind) in con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                    [table],
                ).fetchall()
                if c not in RUN_COLUMNS and not kind.startswith("TIMESTAMP")
            ]
            select = ", ".join(without_day(c) for c in columns)
            out[table] = sorted(con.execute(f'SELECT {select} FROM "{table}"').fetchall(), key=repr)
        return out


def test_multiprocess_run_publishes_what_the_in_process_run_does(
    small: GenerationResult, home: Path, first_run: RefreshOutcome, tmp_path: Path
) -> None:
    copy = tmp_path / "home"
    shutil.copytree(small.out, copy / "landing")
    shutil.copytree(small.out.parent / "reference", copy / "reference")
    with DagsterInstance.local_temp() as instance:
        outcome = run_refresh(copy, instance=instance, processes=2)
        assert outcome.success, outcome.reason
        starts = instance.get_event_records(EventRecordsFilter(DagsterEventType.STEP_START), limit=1000)
        step_pids = {r.event_log_entry.dagster_event.pid for r in starts if r.event_log_entry.run_id == outcome.run_id}
    assert len(step_pids) > 10  # the steps ran in processes of their own

    ours, theirs = _published(copy), _published(home)
    assert ours.keys() == theirs.keys()
    for table in theirs:
        assert ours[table] == theirs[table], table
