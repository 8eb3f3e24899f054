"""File names are personal data: a partner may name a delivery after a child. The name stays
in the personal zone; every published output, Dagster event and log line names the delivery
by a safe label (partner, dataset, delivery date and sequence) and its SHA-256."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.instance import hub_instance
from pipelines.refresh import run_refresh

NAME = "9434765919 Jane SMITHERSON NR1 3QU referral.csv"
PARTS = ("9434765919", "SMITHERSON", "NR1 3QU")


@pytest.fixture(scope="module")
def named(first_run, home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    copy = tmp_path_factory.mktemp("named") / "home"
    shutil.copytree(home, copy, symlinks=True)
    episodes = copy / "landing" / "police" / "missing_episodes"
    source = sorted(episodes.glob("*.csv"))[0]
    (episodes / NAME).write_text(source.read_text().replace("MP0", "MPN"))  # new content, loaded
    outcome = run_refresh(copy)
    assert outcome.success, outcome.reason
    return copy, outcome.run_id


def test_a_file_name_reaches_no_published_output(named) -> None:
    home, _ = named
    for path in (home / "published").rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for part in PARTS:
                assert part.encode() not in data, (path.relative_to(home), part)
    with duckdb.connect(str(home / "published" / "metrics.duckdb"), read_only=True) as con:
        deliveries = [r[0] for r in con.execute("SELECT delivery FROM publication").fetchall()]
    assert any(d.startswith("police/missing_episodes ") and "#" in d for d in deliveries)


def test_a_file_name_reaches_no_dagster_event(named) -> None:
    home, run_id = named
    for record in hub_instance(home).all_logs(run_id):
        text = str(record.user_message) + str(record.dagster_event or "")
        assert not any(part in text for part in PARTS), text[:200]


def test_the_name_stays_in_the_personal_zone(named) -> None:
    home, _ = named
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM deliveries WHERE file_name = ?", [NAME]).fetchone()[0] == 1
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        for (table,) in con.execute("SHOW TABLES").fetchall():
            columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall() if r[1] == "VARCHAR"]
            for column in columns:
                hits = con.execute(f'SELECT count(*) FROM "{table}" WHERE contains("{column}", ?)', [PARTS[1]])
                assert hits.fetchone()[0] == 0, (table, column)
