"""No data is not zero: a few early rows in one dataset stretch the months only of the metrics
that read it; every other metric shows those months as "no data", never as 0."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd

from pipelines.refresh import run_refresh


def early_rows(source: Path, date_columns: list[str], ref_column: str, prefix: str, when: dt.datetime) -> list[dict]:
    """Five rows of a delivered file moved back to `when`, under new references, for children
    old enough then (born before 2012)."""
    with source.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("date_of_birth", "2000")[:4] < "2012"]
    out = []
    for i, row in enumerate(rows[:5]):
        moved = {**row, ref_column: f"{prefix}{i:05d}"}
        for column in date_columns:
            if moved[column]:
                moved[column] = (when + dt.timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S")
        out.append(moved)
    return out


def test_months_outside_a_metrics_sources_are_no_data(first_run, home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    folder = copy / "landing" / "police" / "missing_episodes"
    source = sorted(folder.glob("*.csv"))[0]
    when = dt.datetime(2020, 9, 7, 10, 0)
    rows = early_rows(source, ["reported_missing_datetime", "found_datetime"], "episode_ref", "MPEARLY", when)
    for row in rows:
        row["return_interview_date"] = ""
    with (folder / "missing_episodes_2020_backlog.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with source.open(encoding="utf-8", newline="") as f:
        first_month = min(r["reported_missing_datetime"][:7] for r in csv.DictReader(f))
    assert first_month > "2020-09"

    contacts = copy / "landing" / "childrens_services" / "contacts"
    with sorted(contacts.glob("*.csv"))[-1].open(encoding="cp1252", newline="") as f:
        header, first = next(csv.reader(f)), next(csv.reader(f))
    typo = dict(zip(header, first, strict=True)) | {"Contact ID": "CTFUTURE01", "Contact Date": "15/06/2031"}
    with (contacts / "contacts_keyed_in_error.csv").open("w", encoding="cp1252", newline="") as f:
        csv.writer(f).writerows([header, [typo[h] for h in header]])

    outcome = run_refresh(copy)
    assert outcome.success, outcome.reason

    published = copy / "published" / "parquet"
    facts = pd.read_parquet(published / "fact_metric_value.parquet")
    periods = pd.read_parquet(published / "dim_period.parquet")
    months = periods.loc[periods["period_type"] == "month", "period_id"]
    assert months.min() == "2020-09"  # the missing-episodes metrics reach back to the backlog
    assert months.max() < "2027-01"  # a contact dated 2031 is quarantined, not a reason for years of zeros
    county = facts[(facts["geography_code"] == "E10000020") & (facts["breakdown"] == "all")]
    before = county[county["period_id"].isin(["2020-09", "2020-12", "2021-03"])]
    # contacts began in April 2021: the months before are no data, not zero contacts
    contacts = before[before["metric_id"] == "contacts_per_10k"]
    assert len(contacts) == 3 and set(contacts["value_status"]) == {"no data"}
    assert contacts["numerator"].isna().all() and contacts["value"].isna().all()
    assert not contacts["suppressed"].any()
    # the missing-episodes metric has its five in September and true zeros after
    episodes = before[before["metric_id"] == "missing_episodes_per_10k"].set_index("period_id")
    assert episodes.loc["2020-09", "value_status"] in ("value", "suppressed")
    # (shown, or hidden beside a small month: a 0, never "no data")
    december = episodes.loc["2020-12"]
    assert december["value_status"] in ("value", "suppressed")
    assert december["numerator"] == 0 if december["value_status"] == "value" else pd.isna(december["numerator"])
    # whatever is not a value has no value, and no count but the 0 of "no events"
    shown, none = facts["value_status"] == "value", facts["value_status"] == "no events"
    assert facts.loc[~shown, "value"].isna().all() and facts.loc[~shown & ~none, "numerator"].isna().all()
    assert (facts.loc[none, "numerator"] == 0).all()
    assert set(facts["value_status"]) <= {"value", "suppressed", "no data", "no events", "not applicable"}
