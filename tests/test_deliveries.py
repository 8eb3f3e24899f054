"""Deliveries as partners send them, over several nights on a copy of the refreshed `small`
partnership: re-sent and overlapping extracts replace instead of double counting, a corrected
record replaces the one held, and a delivery that fails a check stays held until it is
re-validated under a fixed contract or released."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from pipelines.refresh import run_refresh
from sihub.core import paths
from sihub.core.db import connect
from sihub.intake import archive

SIHUB = str(Path(sys.executable).parent / "sihub")
FACT_COLUMNS = ["metric_id", "period_id", "geography_code", "breakdown", "numerator", "denominator", "suppressed"]


def copy_home(home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    return copy


def facts(home: Path) -> pd.DataFrame:
    """Every published count about children: the data-quality metrics (from the scorecard of
    rows delivered, where a re-sent row is one more row delivered) left out."""
    published = home / "published" / "parquet"
    metrics = pd.read_parquet(published / "dim_metric.parquet")
    about_children = set(metrics.loc[metrics["sources"] != "dataset_quality", "metric_id"])
    table = pd.read_parquet(published / "fact_metric_value.parquet", columns=FACT_COLUMNS)
    table = table[table["metric_id"].isin(about_children)]
    return table.sort_values(FACT_COLUMNS[:4]).reset_index(drop=True)


def shared_rows(home: Path, table: str, where: str = "true", params: list | None = None) -> int:
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params or []).fetchall()[0][0]


def read_csv(path: Path, encoding: str) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding=encoding, newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows([header, *rows])


def summary_entry(home: Path, key: str) -> dict:
    """The dataset's entry in the run summary: {} when it had no delivery and holds none."""
    summary = json.loads((home / "operations" / "run_summary.json").read_text())
    return next((d for d in summary["datasets"] if f"{d['partner']}/{d['dataset']}" == key), {})


@pytest.fixture(scope="module")
def resent(first_run, home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A night on which the police re-send the 2025-26 missing episodes under a new name with
    one found time corrected, and children's services send a year-to-date contacts file that
    repeats the first half of the year."""
    copy = copy_home(home, tmp_path_factory.mktemp("resent"))
    before = facts(copy)
    episodes = copy / "landing" / "police" / "missing_episodes"
    header, rows = read_csv(episodes / "missing_episodes_2025-26.csv", "utf-8")
    found = header.index("found_datetime")
    every_found = [r[found] for f in episodes.glob("*.csv") for r in read_csv(f, "utf-8")[1]]
    row = next(r for r in rows if r[found] and every_found.count(r[found]) == 1)
    old = dt.datetime.strptime(row[found], "%Y-%m-%d %H:%M:%S")
    new = old + dt.timedelta(minutes=7)
    assert new.strftime("%Y-%m-%d %H:%M:%S") not in every_found
    row[found] = new.strftime("%Y-%m-%d %H:%M:%S")
    ref = header.index("episode_ref")
    for i, other in enumerate(rows[1:31]):  # re-keyed as another system would: case, spaces, tabs
        other[ref] = [other[ref].lower(), f"{other[ref][:2]} {other[ref][2:]}", other[ref] + "\t"][i % 3]
    write_csv(episodes / "missing_episodes_2025-26_resent.csv", header, rows, "utf-8")

    contacts = copy / "landing" / "childrens_services" / "contacts"
    header, rows = read_csv(contacts / "contacts_2025-26.csv", "cp1252")
    day = header.index("Contact Date")
    first_half = [r for r in rows if r[day][3:5] in ("04", "05", "06", "07", "08", "09")]
    assert len(first_half) > 50
    write_csv(contacts / "contacts_2025-26_ytd_to_september.csv", header, first_half, "cp1252")

    episodes_before = shared_rows(copy, "police__missing_episodes")
    contacts_before = shared_rows(copy, "childrens_services__contacts")
    outcome = run_refresh(copy)
    assert outcome.success, outcome.reason
    return {
        "home": copy,
        "before": before,
        "episodes_before": episodes_before,
        "contacts_before": contacts_before,
        "old": old,
        "new": new,
    }


def test_a_resent_file_and_an_overlapping_extract_change_no_published_count(resent: dict) -> None:
    home = resent["home"]
    assert shared_rows(home, "police__missing_episodes") == resent["episodes_before"]
    assert shared_rows(home, "childrens_services__contacts") == resent["contacts_before"]
    pd.testing.assert_frame_equal(facts(home), resent["before"])
    # both files were read and loaded in full: the history stays in the personal zone
    for key in ("police/missing_episodes", "childrens_services/contacts"):
        (file,) = summary_entry(home, key)["files"]
        assert file["status"] == "loaded" and file["rows_loaded"] > 0


def test_missing_episodes_stand_once_per_episode_as_the_truth_has_them(resent: dict, small, manifest) -> None:
    """The shared store holds one row per episode the generator made, less the rows it spoiled
    (every planted defect is quarantined: test_refresh's scorecard test)."""
    truth = pd.read_parquet(small.truth / "records.parquet")
    episodes = (truth["dataset"] == "missing_episodes").sum()
    spoiled = (manifest["dataset"] == "missing_episodes").sum()
    assert shared_rows(resent["home"], "police__missing_episodes") == episodes - spoiled


def test_a_corrected_record_replaces_the_one_held(resent: dict) -> None:
    home = resent["home"]
    assert shared_rows(home, "police__missing_episodes", "found_at = ?", [resent["new"]]) == 1
    assert shared_rows(home, "police__missing_episodes", "found_at = ?", [resent["old"]]) == 0


def test_a_resent_census_replaces_the_census_of_its_month(first_run, home: Path, tmp_path: Path, manifest) -> None:
    """School census extracts replace by period: a census re-sent without the pupils who left
    leaves them out of that census (less the rows the generator spoiled), and no other census
    changes."""
    copy = copy_home(home, tmp_path)
    census = copy / "landing" / "education" / "school_census"
    header, rows = read_csv(census / "school_census_2024.csv", "utf-8-sig")
    upn, date = header.index("UPN"), header.index("CensusDate")
    with duckdb.connect(str(copy / "warehouse" / "shared.duckdb"), read_only=True) as con:
        per_census = dict(
            con.execute("SELECT census_date, count(*) FROM education__school_census GROUP BY 1").fetchall()
        )
    census_day = dt.date(2024, 1, 18)
    spoiled = set(manifest.loc[manifest["file"] == "education/school_census/school_census_2024.csv", "row"])
    dated = [(i, r) for i, r in enumerate(rows, start=1) if r[date] == census_day.strftime("%d/%m/%Y")]
    assert len(dated) > 100 and per_census.get(census_day)
    leavers = {r[upn] for _, r in dated[:40]}
    kept = [r for _, r in dated if r[upn] not in leavers]
    standing = sum(r[upn] not in leavers and i not in spoiled for i, r in dated)
    kept[0] = [*kept[0]]
    kept[0][date] = "20/01/2022"  # one date mistyped: the 2022 census gains a row, none between is lost
    standing -= 1
    write_csv(census / "school_census_2024_corrected.csv", header, kept, "utf-8-sig")
    outcome = run_refresh(copy)
    assert outcome.success, outcome.reason
    with duckdb.connect(str(copy / "warehouse" / "shared.duckdb"), read_only=True) as con:
        after = dict(con.execute("SELECT census_date, count(*) FROM education__school_census GROUP BY 1").fetchall())
    assert after[census_day] == standing < per_census[census_day]
    typo = dt.date(2022, 1, 20)
    assert after.pop(typo) == 1
    assert {d: n for d, n in after.items() if d != census_day} == {
        d: n for d, n in per_census.items() if d != census_day and d.replace(day=1) != typo.replace(day=1)
    }


def flag_rows(header: list[str], count: int, bad: int) -> list[list[str]]:
    """Exploitation flags for new references; `bad` of them with an impossible flag date."""
    base = {"flag_ref": "", "flag_raised_date": "2026-03-02", "flag_type": "CCE", "flag_status": "Active"}
    rows = []
    for i in range(count):
        values = {**base, "flag_ref": f"EXHELD{i:05d}"}
        if i < bad:
            values["flag_raised_date"] = "2026-02-31"
        rows.append([values.get(column, "") for column in header])
    return rows


def test_a_delivery_failing_a_check_stays_held_until_released(first_run, home: Path, tmp_path: Path) -> None:
    copy = copy_home(home, tmp_path)
    flags = copy / "landing" / "police" / "exploitation_flags"
    header, _ = read_csv(flags / "exploitation_flags_2025-26.csv", "utf-8")
    write_csv(flags / "flags_extra_march.csv", header, flag_rows(header, 30, 15), "utf-8")
    held_before = shared_rows(copy, "police__exploitation_flags")
    before = facts(copy)

    first = run_refresh(copy)
    assert first.success, first.reason  # the rest of the partnership publishes
    entry = summary_entry(copy, "police/exploitation_flags")
    (file,) = entry["files"]
    assert file["status"] == "held" and "15 of 30 rows quarantined" in file["error"]
    assert [h["sha256"] for h in entry["held"]] == [file["sha256"]] and entry["checks_failed"] >= 1
    assert "type:flag_date 15" in entry["held"][0]["reason"]
    alerts = [json.loads(p.read_text()) for p in (copy / "operations" / "alerts").glob("held-*.json")]
    assert [a["kind"] for a in alerts] == ["delivery_held"] and alerts[0]["partner"] == "police"

    second = run_refresh(copy)  # nothing new: the delivery stays held
    assert second.success, second.reason
    for _ in (first, second):
        assert shared_rows(copy, "police__exploitation_flags") == held_before
    pd.testing.assert_frame_equal(facts(copy), before)

    env = {**os.environ, "SIHUB_HOME": str(copy)}
    env.pop("DAGSTER_HOME", None)
    released = subprocess.run(
        [SIHUB, "release", "police/exploitation_flags", "--yes"], env=env, capture_output=True, text=True, check=False
    )
    assert released.returncode == 0, released.stderr
    third = run_refresh(copy)
    assert third.success, third.reason
    assert shared_rows(copy, "police__exploitation_flags") == held_before + 15
    assert summary_entry(copy, "police/exploitation_flags").get("held", []) == []
    from sihub.core.contracts import load_contracts

    (contract,) = [c for c in load_contracts() if c.key == "police/exploitation_flags"]
    with connect(copy / "warehouse" / "personal.duckdb") as con:
        assert archive.reopen(con, contract) > 0
    assert run_refresh(copy).success  # read again, unchanged contract: the release stands
    assert shared_rows(copy, "police__exploitation_flags") == held_before + 15


def test_a_held_delivery_goes_in_after_a_contract_fix_and_revalidation(
    first_run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manifest
) -> None:
    """Contacts sent with ISO dates, which the contract does not read: every row quarantined,
    the delivery held. The contract gains the format; revalidation reads it again and it goes in."""
    copy = copy_home(home, tmp_path)
    contacts = copy / "landing" / "childrens_services" / "contacts"
    header, rows = read_csv(contacts / "contacts_2025-26.csv", "cp1252")
    ref, day = header.index("Contact ID"), header.index("Contact Date")
    spoiled = set(manifest.loc[manifest["file"] == "childrens_services/contacts/contacts_2025-26.csv", "row"])
    clean = [r for i, r in enumerate(rows, start=1) if i not in spoiled and r[day][6:] == "2026"][:40]
    iso = []
    for i, row in enumerate(clean):
        iso.append([f"CTISO{i:05d}" if c == ref else row[c] for c in range(len(row))])
        iso[-1][day] = dt.datetime.strptime(row[day], "%d/%m/%Y").date().isoformat()
    assert len(iso) == 40
    write_csv(contacts / "contacts_march_iso.csv", header, iso, "cp1252")
    before = shared_rows(copy, "childrens_services__contacts")
    assert run_refresh(copy).success
    assert shared_rows(copy, "childrens_services__contacts") == before
    assert summary_entry(copy, "childrens_services/contacts")["files"][0]["status"] == "held"

    project = tmp_path / "project"
    root = paths.project_dir()
    for part in ("data_contracts", "sql", "reference", "governance", "dagster.yaml"):
        (shutil.copytree if (root / part).is_dir() else shutil.copy)(root / part, project / part)
    contract_file = project / "data_contracts" / "childrens_services" / "contacts.yaml"
    contract = yaml.safe_load(contract_file.read_text())
    contract["date_formats"] = [*contract.get("date_formats", ["%d/%m/%Y"]), "%Y-%m-%d"]
    contract_file.write_text(yaml.safe_dump(contract, sort_keys=False))
    monkeypatch.setenv(paths.PROJECT_ENV, str(project))
    paths.project_dir.cache_clear()
    try:
        from sihub.core.contracts import load_contracts

        (fixed,) = [c for c in load_contracts() if c.key == "childrens_services/contacts"]
        with connect(copy / "warehouse" / "personal.duckdb") as con:
            assert archive.reopen(con, fixed) == 6
        outcome = run_refresh(copy)
    finally:
        monkeypatch.delenv(paths.PROJECT_ENV)
        paths.project_dir.cache_clear()
    assert outcome.success, outcome.reason
    assert shared_rows(copy, "childrens_services__contacts") == before + len(iso)
    assert summary_entry(copy, "childrens_services/contacts").get("held", []) == []
