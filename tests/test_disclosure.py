"""Disclosure control of the published outputs: no small count visible, none recoverable
(the recovery attack), the rates built on shown counts only, and the NHS policy's rounding."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sihub.privacy.disclosure import Policy, load_policy, protect
from tests.sdc_attack import attack

REPO = Path(__file__).parents[1]
DISTRICTS = pd.read_csv(REPO / "reference" / "districts.csv", dtype=str)


def _published(home: Path, table: str) -> pd.DataFrame:
    return pq.read_table(home / "published" / "parquet" / f"{table}.parquet").to_pandas()


def test_the_default_policy_is_the_dfe_one() -> None:
    policy = load_policy()
    assert policy.threshold == 5 and policy.round_to is None


def test_no_count_from_1_to_the_threshold_is_visible_anywhere(first_run, home: Path) -> None:
    t = load_policy().threshold
    counted = set(_published(home, "dim_metric").query("denominator_type == 'count'")["metric_id"])
    fact = _published(home, "fact_metric_value")
    assert not fact["numerator"].between(1, t).any()
    assert not fact.loc[fact["metric_id"].isin(counted), "denominator"].between(1, t).any()
    scorecard = _published(home, "dq_scorecard")
    for column in ("rows_received", "rows_loaded", "rows_quarantined", "rows_with_warnings"):
        assert not scorecard[column].between(1, t).any(), column


def test_shown_cells_carry_the_true_counts_and_suppressed_cells_nothing(first_run, home: Path) -> None:
    fact = _published(home, "fact_metric_value")
    metrics = _published(home, "dim_metric").set_index("metric_id")
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        truth = con.execute("SELECT * FROM metric_values WHERE NOT hidden").df()
    merged = fact.merge(truth, on=["metric_id", "period_id", "geography_code", "breakdown"], suffixes=("", "_true"))
    assert len(merged) == len(fact) == len(truth)
    t = load_policy().threshold
    assert merged.loc[merged["numerator_true"].between(1, t), "suppressed"].all()
    hidden = merged[merged["suppressed"]]
    assert hidden[["numerator", "value"]].isna().all().all()
    counted = hidden["metric_id"].map(metrics["denominator_type"]) == "count"
    assert hidden.loc[counted, "denominator"].isna().all()
    # outside its sources' coverage a cell is "no data", with no number: nothing was counted in
    # such a month (a quarter or rolling year reaching outside is incomplete, so no data too)
    nodata = merged[merged["value_status"] == "no data"]
    assert nodata[["numerator", "value"]].isna().all().all()
    assert (nodata.loc[nodata["period_type"] == "month", "numerator_true"] == 0).all()
    shown = merged[merged["value_status"] == "value"]
    statuses = merged["value_status"].value_counts()
    assert (~shown["suppressed"]).all() and statuses.sum() == len(merged)
    assert set(statuses.index) == {"value", "suppressed", "no data"}
    assert (shown["numerator"] == shown["numerator_true"]).all()
    assert (shown["denominator"] == shown["denominator_true"]).all()
    rate = shown["numerator"] * shown["metric_id"].map(metrics["multiplier"]) / shown["denominator"]
    assert ((shown["value"] - rate).abs() < 1e-9)[shown["denominator"] > 0].all()
    assert shown.loc[shown["denominator"] == 0, "value"].isna().all()
    assert 0 < len(hidden) < len(merged)


def _assert_attack_fails(home: Path) -> None:
    t = load_policy().threshold
    found = attack(home / "published" / "metrics.duckdb", home / "warehouse" / "shared.duckdb", DISTRICTS, t)
    assert ((found["true"] >= found["lower"] - 1e-6) & (found["true"] <= found["upper"] + 1e-6)).all()
    protect_ = ~found["hidden"] | found["true"].between(1, t)
    narrow = found[protect_ & (found["upper"] - found["lower"] <= t)]
    assert narrow.empty, narrow.head(10).to_string()
    assert (~found["hidden"]).sum() > 100, "the attack should have cells to attack"


def test_no_suppressed_cell_can_be_recovered_from_the_published_totals(first_run, home: Path) -> None:
    _assert_attack_fails(home)


@pytest.mark.skipif("SIHUB_COUNTY_HOME" not in os.environ, reason="set SIHUB_COUNTY_HOME to a refreshed county home")
def test_no_suppressed_cell_can_be_recovered_at_county_scale() -> None:
    _assert_attack_fails(Path(os.environ["SIHUB_COUNTY_HOME"]))


def test_nhs_policy_suppresses_to_7_and_rounds_the_rest_to_5(first_run, home: Path, tmp_path: Path) -> None:
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        protect(con, Policy(description="NHS England", threshold=7, round_to=5))
        shown = con.execute(
            "SELECT p.numerator, v.numerator AS truth, p.denominator, v.denominator AS true_denominator, "
            "c.denominator_type FROM metric_protected p JOIN metric_values v USING (metric_id, period_id, "
            "geography_code, breakdown) JOIN metric_catalogue c USING (metric_id)"
        ).df()
    numerators = shown["numerator"].dropna()
    assert (numerators % 5 == 0).all() and not numerators.between(1, 7).any()
    kept = shown.dropna(subset=["numerator"])
    assert ((kept["numerator"] - kept["truth"]).abs() <= 2.5).all()
    assert shown.loc[shown["truth"].between(1, 7), "numerator"].isna().all()
    counted = kept[kept["denominator_type"] == "count"]
    assert (counted["denominator"] % 5 == 0).all()


def test_protection_after_a_change_equals_protection_from_scratch(first_run, home: Path, tmp_path: Path) -> None:
    """Months kept from the last protection must end exactly as a full protection would."""
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    policy = load_policy()
    cells = (
        "SELECT metric_id, measure, period_type, end_month, geography_code, breakdown, suppressed FROM sdc_cells "
        "ORDER BY ALL"
    )
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        assert protect(con, policy, basis="b").reused_months == 0  # nothing recorded under this basis yet
        # a day's delivery: one metric's latest three months change in one district
        changed = con.execute(
            "UPDATE metric_values SET numerator = numerator + 3 WHERE metric_id = 'missing_episodes_per_10k' "
            "AND period_type = 'month' AND end_month >= (SELECT max(end_month) - INTERVAL 2 MONTH FROM metric_values) "
            "AND geography_code = (SELECT min(district_code) FROM ref_district) AND breakdown = 'all'"
        ).fetchone()[0]
        assert changed == 3
        units = con.execute(
            "SELECT count(DISTINCT (metric_id, end_month)) FROM metric_values WHERE period_type = 'month'"
        ).fetchone()[0]
        incremental = protect(con, policy, basis="b")
        assert incremental.reused_months == units - 3
        kept = con.execute(cells).fetchall()
        con.execute("DROP TABLE sdc_basis")
        assert protect(con, policy, basis="b").reused_months == 0
        assert con.execute(cells).fetchall() == kept
        assert protect(con, policy, basis="other code").reused_months == 0  # a new basis reuses nothing
