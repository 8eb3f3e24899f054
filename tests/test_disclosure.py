"""Disclosure control of the published outputs, tier by tier: no small count visible, none
recoverable (the recovery attack), the rates built on shown counts only, each tier's marking on
every sheet and table, and the NHS policy's rounding."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from openpyxl import load_workbook
from scipy.optimize import linprog

from sihub.core.db import literal, schema_first
from sihub.metrics.catalogue import ROLLUP_SQL, UNASSIGNED, load_catalogue
from sihub.privacy import headline_periods
from sihub.privacy.disclosure import LONGEST_LAG, ROUND_SQL, SAME_SQL, UNION_SQL, Policy, protect
from sihub.privacy.tiers import Tier, load_policy, load_tiers
from tests.sdc_attack import attack, attack_cells, read_as_published

REPO = Path(__file__).parents[1]
DISTRICTS = pd.read_csv(REPO / "reference" / "districts.csv", dtype=str)
TIERS = load_tiers()
by_tier = pytest.mark.parametrize("tier", TIERS, ids=[t.name for t in TIERS])
# child protection plans open (a stock), started and ended (its flows)
STOCK, STARTED, ENDED = "cp_plans_per_10k", "repeat_cp_plans", "cp_plans_ended_after_2_years"


def _published(home: Path, table: str, tier: Tier = TIERS[0]) -> pd.DataFrame:
    return pq.read_table(tier.published(home / "published") / "parquet" / f"{table}.parquet").to_pandas()


def test_the_partnership_reads_under_its_own_rule_and_the_public_under_the_dfe_one() -> None:
    tiers = {t.name: t for t in TIERS}
    assert TIERS[0].name == "partnership" and TIERS[0].folder == "."
    assert tiers["public"].policy.name == "dfe" and tiers["public"].policy.threshold == 5
    assert tiers["partnership"].policy.threshold < tiers["public"].policy.threshold
    assert tiers["partnership"].marking == "OFFICIAL-SENSITIVE"
    assert load_policy() == tiers["partnership"].policy


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["tiers"]["public"].update(folder="."), "exactly one tier"),
        (lambda c: c["tiers"]["public"].update(policy="none"), "names policy 'none'"),
        (lambda c: c["tiers"]["public"].update(folder="../elsewhere"), "inside published/"),
        (lambda c: c["tiers"]["public"].update(folder=""), "inside published/"),
        (lambda c: c["tiers"]["public"].update(folder="public/restricted"), "inside published/"),
        (lambda c: c["tiers"]["public"].update(folder="snapshots"), "published/ itself uses"),
        # where earlier versions wrote Data Docs and alerts, which a refresh moves to operations/
        (lambda c: c["tiers"]["public"].update(folder="alerts"), "published/ itself uses"),
        (lambda c: c["tiers"]["public"].update(folder="data_quality"), "published/ itself uses"),
        (lambda c: c["tiers"].update(copy=dict(c["tiers"]["public"], folder="./public/")), "share a folder"),
        (lambda c: c["tiers"]["public"].update(policy="partnership", marking=""), "marking"),
        (lambda c: c["policies"]["dfe"].update(threshold=1), "suppress less than the home tier"),
        (lambda c: c.update(policy="dfe") or c.pop("tiers"), "old format"),
    ],
)
def test_a_tier_file_that_would_mix_audiences_is_refused(tmp_path: Path, change, message: str) -> None:
    config = yaml.safe_load((REPO / "governance" / "disclosure.yaml").read_text(encoding="utf-8"))
    change(config)
    (tmp_path / "disclosure.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_tiers(tmp_path / "disclosure.yaml")


@by_tier
def test_no_count_from_1_to_the_threshold_is_visible_anywhere(first_run, home: Path, tier: Tier) -> None:
    t = tier.policy.threshold
    counted = set(_published(home, "dim_metric", tier).query("denominator_type == 'count'")["metric_id"])
    fact = _published(home, "fact_metric_value", tier)
    assert not fact["numerator"].between(1, t).any()
    assert not fact.loc[fact["metric_id"].isin(counted), "denominator"].between(1, t).any()
    # nor the rest of a denominator that counts people: 2 flagged children not known to
    # children's services, or 1 missing episode with no return interview
    metric = _published(home, "dim_metric", tier)
    rest = set(metric.loc[metric["complement_definition"].fillna("") != "", "metric_id"])
    assert {"exploited_children_known_to_cs", "return_interviews_within_72_hours", "re_referrals_12_months"} <= rest
    rows = fact[fact["metric_id"].isin(rest)]
    small_rest = rows[(rows["denominator"] - rows["numerator"]).between(1, t)]
    assert small_rest.empty, small_rest.groupby("metric_id").size().to_dict()
    scorecard = _published(home, "dq_scorecard", tier)
    for column in ("rows_received", "rows_loaded", "rows_with_warnings"):
        assert not scorecard[column].between(1, t).any(), column
    # rows quarantined are rows failing checks, received less loaded: shown with both, never alone
    shown = scorecard[scorecard["rows_quarantined"].notna()]
    assert (shown["rows_quarantined"] == shown["rows_received"] - shown["rows_loaded"]).all()


def _all_in_one_hidden_part(home: Path, tier: Tier) -> pd.DataFrame:
    """Hidden small totals whose parts are shown as 0 but for one hidden part (a part no one
    sees counting as shown where it is 0): the reader learns every count is in that part, a
    breakdown's unrecorded rest included (SEND not recorded). The whole total in the records
    with no district places it nowhere."""
    t = tier.policy.threshold
    fact = _published(home, "fact_metric_value", tier)
    counted = set(_published(home, "dim_metric", tier).query("denominator_type == 'count'")["metric_id"])
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        truth = con.execute(
            "SELECT metric_id, period_id, geography_code, breakdown, numerator, denominator FROM metric_values"
        ).df()
    key = ["metric_id", "period_id", "geography_code", "breakdown"]
    cells = []
    for measure in ("numerator", "denominator"):
        both = truth.merge(fact[[*key, measure]], on=key, how="left", suffixes=("", "_shown"), indicator=True)
        both = both if measure == "numerator" else both[both["metric_id"].isin(counted)]
        both = both.assign(
            measure=measure, true=both[measure], shown=both[f"{measure}_shown"], unseen=both["_merge"] == "left_only"
        )
        cells.append(both[[*key, "measure", "true", "shown", "unseen"]])
    cells = pd.concat(cells, ignore_index=True)
    cells["open"] = cells["shown"].isna() & ~(cells["unseen"] & cells["true"].eq(0))
    county = DISTRICTS["county_code"].iloc[0]
    by_place = cells[cells["geography_code"].isin({*DISTRICTS["district_code"], UNASSIGNED})]
    split = cells[cells["breakdown"] != "all"].assign(dimension=lambda d: d["breakdown"].str.split(":").str[0])
    totals = cells[cells["breakdown"].eq("all")]
    same = ["metric_id", "measure", "period_id"]
    relations = {"county": (cells[cells["geography_code"].eq(county)], by_place, [*same, "breakdown"])}
    for dimension, parts in split.groupby("dimension"):
        relations[dimension] = (totals, parts, [*same, "geography_code"])
    found = []
    for name, (totals, parts, on) in relations.items():
        hidden_small = totals[totals["shown"].isna() & ~totals["unseen"] & totals["true"].between(1, t)]
        parts = parts.assign(named=parts["open"] & parts["geography_code"].ne(UNASSIGNED))
        summary = parts.groupby(on).agg(open=("open", "sum"), named=("named", "sum"), shown=("shown", "sum"))
        pinned = hidden_small.merge(summary.reset_index(), on=on, suffixes=("", "_parts"))
        whole = (pinned["open_parts"] == 1) & (pinned["named"] == 1) & (pinned["shown_parts"] == 0)
        found.append(pinned[whole].assign(relation=name))
    return pd.concat(found, ignore_index=True)


@by_tier
def test_no_hidden_total_sits_whole_in_one_hidden_part_beside_shown_zeros(first_run, home: Path, tier: Tier) -> None:
    """Six districts shown with no events and the county hidden place its events in the seventh
    (a child's death, in that district): the value stays hidden, the place does not (IG-4). So
    too an age band hidden beside bands of 0. A 0 beside it is hidden too."""
    found = _all_in_one_hidden_part(home, tier)
    assert found.empty, found.groupby(["relation", "metric_id"]).size().to_string()


def test_the_dictionary_says_which_rests_of_a_denominator_are_protected(first_run, home: Path) -> None:
    text = (home / "published" / "metric_dictionary.md").read_text(encoding="utf-8")
    rest = "- **Denominator less numerator**: flagged children not known to children's services"
    assert f"{rest} in the same 12 months (protected like the numerator)" in text
    assert text.count("- **Denominator less numerator**: not a count (the denominator is a population") > 5


@by_tier
def test_shown_cells_carry_the_true_counts_and_suppressed_cells_nothing(first_run, home: Path, tier: Tier) -> None:
    fact = _published(home, "fact_metric_value", tier)
    metrics = _published(home, "dim_metric", tier).set_index("metric_id")
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        truth = con.execute("SELECT * FROM metric_values WHERE NOT hidden").df()
    merged = fact.merge(truth, on=["metric_id", "period_id", "geography_code", "breakdown"], suffixes=("", "_true"))
    assert len(merged) == len(fact) == len(truth)
    t = tier.policy.threshold
    # (a "no data" cell publishes nothing, so it hides nothing either: never flagged suppressed)
    small = merged["numerator_true"].between(1, t) & (merged["value_status"] != "no data")
    assert merged.loc[small, "suppressed"].all()
    hidden = merged[merged["suppressed"]]
    assert hidden[["numerator", "value"]].isna().all().all()
    counted = hidden["metric_id"].map(metrics["denominator_type"]) == "count"
    assert hidden.loc[counted, "denominator"].isna().all()
    # outside its sources' coverage a cell is "no data", with no number: nothing was counted in
    # such a month (a quarter or rolling year reaching outside is incomplete, so no data too)
    nodata = merged[merged["value_status"] == "no data"]
    assert nodata[["numerator", "value"]].isna().all().all() and not nodata["suppressed"].any()
    # (but a month its metric's history does not reach yet: counted, but not its whole window)
    history = {m.id: m.history_months for m in load_catalogue()}
    whole = nodata[(nodata["period_type"] == "month") & (nodata["metric_id"].map(history) == 0)]
    assert len(whole) and (whole["numerator_true"] == 0).all()
    shown = merged[merged["value_status"] == "value"]
    statuses = merged["value_status"].value_counts()
    assert (~shown["suppressed"]).all() and statuses.sum() == len(merged)
    assert set(statuses.index) == {"value", "suppressed", "no data", "no events", "not applicable"}
    assert (shown["numerator"] == shown["numerator_true"]).all()
    assert (shown["denominator"] == shown["denominator_true"]).all()
    rate = shown["numerator"] * shown["metric_id"].map(metrics["multiplier"]) / shown["denominator"]
    assert ((shown["value"] - rate).abs() < 1e-9)[shown["denominator"] > 0].all()
    assert shown.loc[shown["denominator"] == 0, "value"].isna().all()
    assert 0 < len(hidden) < len(merged)


def _recovered(found: pd.DataFrame, t: int) -> pd.DataFrame:
    """The hidden small counts (suppressed, or in a cell no one sees) the attack pins within the
    threshold; a complement (0 or above the threshold) may be worked out."""
    assert ((found["true"] >= found["lower"] - 1e-6) & (found["true"] <= found["upper"] + 1e-6)).all()
    return found[found["true"].between(1, t) & (found["upper"] - found["lower"] <= t)]


def _assert_attack_fails(home: Path, tier: Tier) -> None:
    t = tier.policy.threshold
    published = tier.published(home / "published") / "metrics.duckdb"
    found = attack(published, home / "warehouse" / "shared.duckdb", DISTRICTS, t)
    narrow = _recovered(found, t)
    # bar the scorecard's rows quarantined: rows failing checks, shown as received less loaded
    # (as a share's complement is), not a count of children the rule suppresses
    narrow = narrow[narrow["measure"] != "rows_quarantined"]
    assert narrow.empty, narrow.head(10).to_string()
    assert (~found["hidden"]).sum() > 100, "the attack should have cells to attack"
    assert (found["metric_id"] == "dq_scorecard").sum() > 10, "the attack should have scorecard cells to attack"


@by_tier
def test_the_scorecard_lists_every_month_the_metrics_cover_rows_or_none(first_run, home: Path, tier: Tier) -> None:
    """Were a dataset-month listed only when rows arrived, each listed month would be known to
    hold at least 1, and with a partner total shown, hidden months pinned (seed 3: 58 and 181)."""
    card, fact = _published(home, "dq_scorecard", tier), _published(home, "fact_metric_value", tier)
    covered = set(fact.loc[fact["metric_id"] == "identifier_validity", "period_id"]) & set(card["period_id"])
    listed = card[card["period_id"].isin(covered)].groupby(["partner", "dataset"])["period_id"].nunique()
    assert len(listed) > 10 and (listed == len(covered)).all(), listed[listed < len(covered)]
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        with_rows = con.execute(
            "SELECT partner, dataset, strftime(period_month, '%Y-%m') AS period_id FROM dq_monthly "
            "WHERE rows_received > 0"
        ).df()
    empty = card.merge(with_rows, how="left", indicator=True).query("_merge == 'left_only' and period_id in @covered")
    # each shown as 0, or hidden where a 0 protects a small count beside it (never a number)
    assert len(empty) and (empty["rows_received"] == 0).any() and empty["validity"].isna().all()
    assert (empty["rows_received"].fillna(0) == 0).all()


@by_tier
def test_the_scorecard_shows_timeliness_only_beside_the_rows_it_describes(first_run, home: Path, tier: Tier) -> None:
    """Timeliness is empty exactly when no rows arrived: beside a hidden count of rows it would
    tell a reader whether the month held none (and a hidden 0 a year before a small month, with
    two rolling years shown, gives the month away)."""
    card = _published(home, "dq_scorecard", tier)
    hidden = card[card["rows_received"].isna() & (card["period_id"] != "unknown")]
    assert len(hidden) > 10, "the scorecard should hide some months' rows"
    assert hidden["timeliness_days"].isna().all(), hidden.loc[hidden["timeliness_days"].notna(), "period_id"].head()
    assert card["timeliness_days"].notna().sum() > 100


@by_tier
def test_no_suppressed_cell_can_be_recovered_from_the_published_totals(first_run, home: Path, tier: Tier) -> None:
    _assert_attack_fails(home, tier)


@by_tier
def test_two_shown_months_of_a_stock_give_away_no_hidden_flow(first_run, home: Path, tier: Tier) -> None:
    """Plans open at a month's end are those open a month before, plus plans started, less plans
    ended (checked here on the truth). Where both months of the stock are shown, a hidden small
    count of plans started must not sit beside a shown count of plans ended, nor the reverse: the
    one shown and the stock's change would give it exactly (seed 1: 88 and 177 such cells)."""
    fact = _published(home, "fact_metric_value", tier)
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        truth = con.execute("SELECT * FROM metric_values WHERE period_type = 'month' AND breakdown = 'all'").df()
    both = truth.merge(fact, on=["metric_id", "period_id", "geography_code", "breakdown"], suffixes=("_true", ""))
    both["month"] = pd.PeriodIndex(both["period_id"], freq="M")
    series = {"stock": (STOCK, "numerator"), "started": (STARTED, "denominator"), "ended": (ENDED, "denominator")}
    key = ["geography_code", "month"]
    table = pd.concat(
        {name: both[both["metric_id"] == m].set_index(key)[[c, f"{c}_true"]].set_axis(["shown", "true"], axis=1)
         for name, (m, c) in series.items()},
        axis=1,
    )  # fmt: skip
    before = table["stock"].rename(index=lambda p: p + 1, level="month")
    table = table.join(pd.concat({"before": before}, axis=1), how="inner")
    change = table[("stock", "true")] - table[("before", "true")]
    assert len(table) > 500 and (change == table[("started", "true")] - table[("ended", "true")]).all()
    t = tier.policy.threshold
    stock_shown = table[("stock", "shown")].notna() & table[("before", "shown")].notna()
    for flow, other in (("started", "ended"), ("ended", "started")):
        small = table[(flow, "true")].between(1, t) & table[(flow, "shown")].isna()
        given_away = table[small & stock_shown & table[(other, "shown")].notna()]
        assert given_away.empty, (flow, len(given_away))


@by_tier
@pytest.mark.skipif("SIHUB_COUNTY_HOME" not in os.environ, reason="set SIHUB_COUNTY_HOME to a refreshed county home")
def test_no_suppressed_cell_can_be_recovered_at_county_scale(tier: Tier) -> None:
    _assert_attack_fails(Path(os.environ["SIHUB_COUNTY_HOME"]), tier)


def _county_rolling_years(home: Path, tier: Tier) -> pd.DataFrame:
    """Each county rolling year of a flow metric (breakdown `all`), whether it is shown, its
    true count, and how many of its months are suppressed, from the tier's published tables."""
    fact, period = _published(home, "fact_metric_value", tier), _published(home, "dim_period", tier)
    metric, geography = _published(home, "dim_metric", tier), _published(home, "dim_geography", tier)
    county = geography.loc[geography["geography_type"] == "county", "geography_code"].item()
    flows = set(metric.loc[metric["aggregation"] == "flow", "metric_id"])
    cells = fact[(fact["geography_code"] == county) & (fact["breakdown"] == "all") & fact["metric_id"].isin(flows)]
    cells = cells.merge(period, on="period_id")
    months = cells[cells["period_type"] == "month"]
    years = cells[(cells["period_type"] == "rolling_12") & (cells["value_status"] != "no data")]
    pairs = years.merge(months, on="metric_id", suffixes=("", "_month"))
    pairs = pairs[(pairs["start_date_month"] >= pairs["start_date"]) & (pairs["end_date_month"] <= pairs["end_date"])]
    hidden_months = pairs.groupby(["metric_id", "period_id"])["suppressed_month"].sum().rename("hidden_months")
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        truth = con.execute(
            "SELECT metric_id, period_id, numerator AS true_count FROM metric_values WHERE geography_code = ? "
            "AND breakdown = 'all' AND period_type = 'rolling_12'",
            [county],
        ).df()
    return years.join(hidden_months, on=["metric_id", "period_id"]).merge(truth, on=["metric_id", "period_id"])


@by_tier
def test_a_county_rolling_year_is_not_hidden_just_because_a_month_in_it_is(first_run, home: Path, tier: Tier) -> None:
    """The headline figure survives a small month (the attack above shows none is recoverable)."""
    years = _county_rolling_years(home, tier)
    t = tier.policy.threshold
    shown_over_hidden_months = years[~years["suppressed"] & (years["hidden_months"] > 0)]
    assert len(shown_over_hidden_months) > 0  # none could be under the rule that a period follows its months
    # and one is never hidden without cause: it is small, or a month in it is hidden
    without_cause = years[years["suppressed"] & ~years["true_count"].between(1, t) & (years["hidden_months"] == 0)]
    assert without_cause.empty, without_cause.head().to_string()


BUSY = "referrals_per_10k"


def _busy_series(home: Path, store: Path, small_month: str) -> None:
    """The shared store with referrals at forty times the rate, a dozen a month with no district
    (a postcode outside the county), but for one month with a single referral in one district."""
    shutil.copy(home / "warehouse" / "shared.duckdb", store)
    with duckdb.connect(str(store)) as con:
        con.execute(
            "UPDATE metric_district_values SET numerator = numerator * 40 "
            "+ CASE WHEN district_code IS NULL AND breakdown = 'all' THEN 12 ELSE 0 END WHERE metric_id = ?",
            [BUSY],
        )
        con.execute(
            "UPDATE metric_district_values SET numerator = (breakdown = 'all' AND district_code = "
            "(SELECT min(district_code) FROM ref_district))::INT WHERE metric_id = ? AND period_month = ?",
            [BUSY, small_month],
        )
        con.execute(ROLLUP_SQL.format(unassigned=literal(UNASSIGNED)))
        con.execute("DELETE FROM metric_values WHERE metric_id <> ?", [BUSY])


def _county_series_range(con: duckdb.DuckDBPyConnection, month: str) -> tuple[float, float]:
    """The least and greatest value a reader could give the county's count in `month`, from the
    county's shown months, quarters and rolling years of the series (each the sum of its
    months) and, under each hidden month, what its shown districts, localities or age bands
    already add up to; worked out here by linear programming, apart from the hub's audit."""
    county = con.execute("SELECT geography_code FROM ref_geography WHERE geography_type = 'county'").fetchone()[0]
    cells = con.execute(
        "SELECT period_type, start_month, end_month, CAST(value AS DOUBLE) AS value, suppressed FROM sdc_cells "
        "WHERE metric_id = ? AND measure = 'numerator' AND breakdown = 'all' AND geography_code = ? "
        "AND NOT no_data ORDER BY end_month",
        [BUSY, county],
    ).df()
    months = cells[cells["period_type"] == "month"].reset_index(drop=True)
    hidden = months[months["suppressed"]]
    column = {pd.Timestamp(m): i for i, m in enumerate(hidden["end_month"])}
    floor = con.execute(
        "SELECT end_month, max(shown) FROM (SELECT c.end_month, "
        "sum(c.value) FILTER (WHERE NOT (c.suppressed OR c.hidden)) AS shown "
        "FROM sdc_cells c LEFT JOIN ref_geography g USING (geography_code) WHERE c.metric_id = ? "
        "AND c.measure = 'numerator' AND c.period_type = 'month' AND (c.breakdown = 'all' AND g.geography_type "
        "IN ('district', 'locality') OR c.breakdown <> 'all' AND c.geography_code = ?) "
        "GROUP BY c.end_month, g.geography_type, c.breakdown = 'all') GROUP BY end_month",
        [BUSY, county],
    ).fetchall()
    lower = [0.0] * len(column)
    for end, shown in floor:
        if pd.Timestamp(end) in column:
            lower[column[pd.Timestamp(end)]] = float(shown or 0)
    rows, rhs = [], []
    for p in cells[(cells["period_type"] != "month") & ~cells["suppressed"]].itertuples():
        inside = months[(months["end_month"] >= p.start_month) & (months["end_month"] <= p.end_month)]
        row = [0.0] * len(column)
        for m in inside.loc[inside["suppressed"], "end_month"]:
            row[column[pd.Timestamp(m)]] = 1.0
        if any(row):
            rows.append(row)
            rhs.append(p.value - inside.loc[~inside["suppressed"], "value"].sum())
    target = [0.0] * len(column)
    target[column[pd.Timestamp(month)]] = 1.0
    bounds = [(lo, None) for lo in lower]
    least = linprog(target, A_eq=rows, b_eq=rhs, bounds=bounds)
    most = linprog([-x for x in target], A_eq=rows, b_eq=rhs, bounds=bounds)
    assert least.status == 0
    return least.fun, (-most.fun if most.status == 0 else float("inf"))


@by_tier
def test_a_small_month_of_a_busy_series_is_hidden_among_months_not_rolling_years(
    first_run, home: Path, tmp_path: Path, tier: Tier
) -> None:
    """Two consecutive rolling years differ by a month less the same month a year before, so a
    small county month beside shown ones a year away is told by the difference. Something else
    must be hidden, and what the board reads is the rolling year: it stays, and county months
    go instead (issue 19)."""
    small_month = "2024-07-01"
    _busy_series(home, tmp_path / "busy.duckdb", small_month)
    t = tier.policy.threshold
    with duckdb.connect(str(tmp_path / "busy.duckdb")) as con:
        protect(con, tier.policy)
        years = con.execute(
            "SELECT end_month, value, suppressed FROM sdc_cells WHERE metric_id = ? AND measure = 'numerator' "
            "AND breakdown = 'all' AND period_type = 'rolling_12' AND NOT no_data AND geography_code = "
            "(SELECT geography_code FROM ref_geography WHERE geography_type = 'county')",
            [BUSY],
        ).df()
        assert len(years) > 40 and (years["value"] > t).all()  # none of them small
        assert not years["suppressed"].any(), years[years["suppressed"]].to_string()
        least, most = _county_series_range(con, small_month)
    assert least <= 1 <= most and most - least > t, (least, most)


PLANS_HIDDEN = ("2024-04-01", "2024-09-01")  # two quarters: 2024-25 Q1 and Q2


def _world_of(home: Path, store: Path, metrics: tuple[str, ...], *changes: tuple[str, list | dict]) -> None:
    """The shared store with the given metrics alone, their district counts changed by each
    (statement, parameters) in turn, and the localities and county added up again from them."""
    shutil.copy(home / "warehouse" / "shared.duckdb", store)
    with duckdb.connect(str(store)) as con:
        keep = "metric_id IN (SELECT unnest(?::VARCHAR[]))"
        con.execute(f"DELETE FROM metric_district_values WHERE NOT {keep}", [list(metrics)])
        for statement, parameters in changes:
            con.execute(statement, parameters)
        con.execute(ROLLUP_SQL.format(unassigned=literal(UNASSIGNED)))
        con.execute(f"DELETE FROM metric_values WHERE NOT {keep}", [list(metrics)])


def _plans_world(home: Path, store: Path) -> None:
    """The shared store with child protection plans alone: forty times as many (every count of
    plans started or ended then above the threshold, so the county's quarters of them are shown),
    and 2 more plans in 'Multiple' in one district throughout (the county's 'Multiple' then a
    small count in the months the category had none)."""
    _world_of(
        home,
        store,
        (STOCK, STARTED, ENDED),
        (
            "UPDATE metric_district_values SET numerator = numerator * 40, "
            "denominator = CASE WHEN metric_id = ? THEN denominator ELSE denominator * 40 END",
            [STOCK],  # the stock's denominator is the population, not plans
        ),
        (
            "UPDATE metric_district_values SET numerator = numerator + 2 WHERE metric_id = ? AND breakdown IN "
            "('all', 'category:Multiple') AND district_code = (SELECT min(district_code) FROM ref_district)",
            [STOCK],
        ),
    )


# another tier's pattern the protection starts from: every month's count of plans started and
# ended hidden (a reader then knows them through the county's quarters and rolling years alone),
# and the plans open at the end of each month of two quarters but the last, hidden everywhere but
# in the county's categories
SEED_PLANS_SQL = """
CREATE SCHEMA seed;
CREATE TABLE seed.sdc_cells AS
SELECT v.metric_id, m.measure, v.period_type, v.end_month, v.geography_code, v.breakdown, true AS suppressed
FROM metric_values v CROSS JOIN (VALUES ('numerator'), ('denominator'), ('complement')) m(measure)
LEFT JOIN ref_geography g USING (geography_code)
WHERE v.period_type = 'month' AND (
    v.metric_id <> $stock
    OR v.metric_id = $stock AND m.measure = 'numerator' AND v.end_month >= $first AND v.end_month < $last
       AND (v.breakdown = 'all' OR g.geography_type IS DISTINCT FROM 'county'))
"""


# the protection's own cells as a reader holds them (`read_as_published`), for the attack
PROTECTED_CELLS_SQL = """
SELECT c.metric_id, c.measure, c.period_type || ' ' || c.end_month AS period_id, c.geography_code, c.breakdown,
       CAST(c.value AS DOUBLE) AS true,
       CASE WHEN NOT (c.suppressed OR c.unseen) THEN CAST(c.value AS DOUBLE) END AS shown,
       c.unseen AS hidden, c.period_type, CAST(c.start_month AS TIMESTAMP) AS start_date,
       CAST(c.end_month AS TIMESTAMP) AS end_date, k.aggregation
FROM sdc_cells c JOIN metric_catalogue k USING (metric_id)
"""


@by_tier
def test_a_stock_told_by_its_flows_shown_quarters_gives_away_no_small_part(
    first_run, home: Path, tmp_path: Path, tier: Tier
) -> None:
    """Plans open at a quarter's end are those open at the end of the quarter before, plus the
    quarter's plans started, less its plans ended: with the county's quarters of both flows
    shown, a hidden county stock at a quarter's end is known whatever its months' own tables
    hide, and with it the one hidden part of its breakdown beside shown ones (at county scale:
    'Multiple' in March 2023, and from it one district's 3). The attack runs on the protection's
    own cells."""
    _plans_world(home, tmp_path / "plans.duckdb")
    t = tier.policy.threshold
    with duckdb.connect(str(tmp_path / "plans.duckdb")) as con:
        first, last = PLANS_HIDDEN
        con.execute(SEED_PLANS_SQL, {"stock": STOCK, "first": first, "last": last})
        protect(con, tier.policy, seed="seed")
        cells = con.execute(PROTECTED_CELLS_SQL).df()
    county = DISTRICTS["county_code"].iloc[0]
    at_county = cells[(cells["geography_code"] == county) & (cells["breakdown"] == "all")]
    # as meant: the county's stock hidden at the first quarter's end, its flows' quarters shown
    stock_at_quarter_end = at_county[(at_county["metric_id"] == STOCK) & (at_county["period_id"] == "month 2024-06-01")]
    assert stock_at_quarter_end["shown"].isna().all()
    quarters = at_county[(at_county["period_type"] == "quarter") & at_county["metric_id"].isin([STARTED, ENDED])]
    assert quarters.loc[quarters["end_date"].between(first, last), "shown"].notna().sum() >= 4
    narrow = _recovered(attack_cells(read_as_published(cells), DISTRICTS, t), t)
    assert narrow.empty, narrow.head(10).to_string()


EPISODES, STEPPED_UP = "early_help_episodes_per_10k", "early_help_stepped_up_within_12_months"


def _lag_world(home: Path, store: Path) -> None:
    """The shared store with early help alone: episodes, and those of 12 months before stepped up
    to social care (the latter's denominator is the former's count a year on). Twenty times as
    many, with 2 more episodes, never stepped up, in one district every month (then a small
    count in both, a year apart, wherever the district had none)."""
    _world_of(
        home,
        store,
        (EPISODES, STEPPED_UP),
        (
            "UPDATE metric_district_values SET numerator = numerator * 20, "
            "denominator = CASE WHEN metric_id = ? THEN denominator * 20 ELSE denominator END",
            [STEPPED_UP],  # the episodes' denominator is the population
        ),
        (
            "UPDATE metric_district_values "
            "SET numerator = numerator + CASE WHEN metric_id = $episodes THEN 2 ELSE 0 END, "
            "denominator = denominator + CASE WHEN metric_id = $stepped THEN 2 ELSE 0 END "
            "WHERE district_code = (SELECT min(district_code) FROM ref_district) "
            "AND breakdown IN ('all', 'age_band:10-15', 'sex:Female', 'ethnic_group:White', 'send:No SEN')",
            {"episodes": EPISODES, "stepped": STEPPED_UP},
        ),
    )


# another tier's pattern the protection starts from: the stepped-up rate hidden, every month, in
# the district with the most episodes (so its months hide other cells than the episodes' do)
SEED_STEPPED_UP_SQL = """
CREATE SCHEMA seed;
CREATE TABLE seed.sdc_cells AS
SELECT v.metric_id, m.measure, v.period_type, v.end_month, v.geography_code, v.breakdown, true AS suppressed
FROM metric_values v CROSS JOIN (VALUES ('numerator'), ('denominator'), ('complement')) m(measure)
WHERE v.period_type = 'month' AND v.metric_id = $stepped AND v.geography_code = (
    SELECT geography_code FROM metric_values
    WHERE metric_id = $stepped AND period_type = 'month' AND geography_code IN (SELECT district_code FROM ref_district)
    GROUP BY ALL ORDER BY sum(denominator) DESC, geography_code LIMIT 1)
"""


@by_tier
def test_a_count_another_metric_publishes_a_year_later_gives_away_no_small_part(
    first_run, home: Path, tmp_path: Path, tier: Tier
) -> None:
    """The early help episodes stepped up within 12 months are counted out of the episodes of a
    year before: a reader holding both metrics reads a cell hidden in one off the other, a year
    away. Where the two months hide different cells beside a small count (the rate's own
    suppression hides more of it), each fills the other's gap. The attack runs on the
    protection's own cells and reads the lag as the definitions tell it."""
    _lag_world(home, tmp_path / "lag.duckdb")
    t = tier.policy.threshold
    with duckdb.connect(str(tmp_path / "lag.duckdb")) as con:
        con.execute(SEED_STEPPED_UP_SQL, {"stepped": STEPPED_UP})
        protect(con, tier.policy, seed="seed")
        cells = con.execute(PROTECTED_CELLS_SQL).df()
    small = cells[cells["true"].between(1, t) & (cells["period_type"] == "month")]
    assert set(small["metric_id"]) == {EPISODES, STEPPED_UP}, "the world should hold small counts in both"
    narrow = _recovered(attack_cells(read_as_published(cells), DISTRICTS, t), t)
    assert narrow.empty, narrow.head(10).to_string()


def test_a_count_published_a_year_later_is_found_whatever_its_periods_are() -> None:
    """A reader reads the lag off the months: a series equal in every place to another's a year
    before is the same count though their quarters differ (one metric's quarter is its last
    month, the other's its months' sum), and one that differs in a single district's month is not."""
    county, district = DISTRICTS["county_code"].iloc[0], DISTRICTS["district_code"].iloc[0]
    months = pd.date_range("2021-01-01", periods=36, freq="MS")
    earlier = pd.Series(range(3, 39), index=months)
    rows = []
    for place in (county, district):
        for month, value in earlier.items():
            rows.append(("episodes", "month", month, place, value))
            if month + pd.DateOffset(months=12) <= months[-1]:
                rows.append(("stepped", "month", month + pd.DateOffset(months=12), place, value))
            rows.append(("wrong", "month", month, place, value + (place == district and month == months[20])))
        rows += [("episodes", "quarter", months[i], place, earlier[months[i - 2 : i + 1]].sum()) for i in (2, 14)]
        rows += [("stepped", "quarter", months[14], place, earlier[months[2]])]  # a stock's quarter: its last month
    cells = pd.DataFrame(rows, columns=["metric_id", "period_type", "end_month", "geography_code", "value"])
    cells = cells.assign(measure="numerator", breakdown="all")
    with duckdb.connect() as con:
        con.register("cells", cells)
        con.execute("CREATE TABLE ref_geography AS SELECT ? AS geography_code, 'county' AS geography_type", [county])
        con.execute(SAME_SQL.format(into="sdc_same", cells="cells", longest=LONGEST_LAG))
        found = set(con.execute("SELECT metric_a, metric_b, lag FROM sdc_same").fetchall())
    assert ("stepped", "episodes", 12) in found and ("episodes", "stepped", -12) in found, found
    assert not {("stepped", "wrong", 12), ("wrong", "episodes", 0)} & found, found


DATA_QUALITY = ("identifier_validity", "nhs_number_coverage", "upn_coverage")


def test_the_data_quality_figures_hide_no_count_about_children(first_run, home: Path, tmp_path: Path) -> None:
    """A data-quality figure can be a topic's count (the rows loaded of the police's missing
    episodes dataset are the county's missing episodes), so the two show or hide together; but
    the data-quality figures count rows as delivered, which a re-sent file changes, so no count
    about children may be shown or hidden for their sake: every such cell is as it would be
    with no data-quality figures at all."""
    hidden_about_children = (
        "SELECT metric_id, measure, period_type, end_month, geography_code, breakdown FROM sdc_cells "
        "WHERE suppressed AND metric_id NOT IN (SELECT unnest(?::VARCHAR[]))"
    )
    hidden = {}
    for case in ("with", "without"):
        shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / f"{case}.duckdb")
        with duckdb.connect(str(tmp_path / f"{case}.duckdb")) as con:
            if case == "without":
                con.execute(
                    "DELETE FROM metric_values WHERE metric_id IN (SELECT unnest(?::VARCHAR[]))", [DATA_QUALITY]
                )
            protect(con, load_policy())
            hidden[case] = set(con.execute(hidden_about_children, [list(DATA_QUALITY)]).fetchall())
            tied = con.execute(
                "SELECT count(*) FROM sdc_same WHERE metric_a IN (SELECT unnest(?::VARCHAR[])) "
                "AND metric_b NOT IN (SELECT unnest(?::VARCHAR[]))",
                [list(DATA_QUALITY), list(DATA_QUALITY)],
            ).fetchone()[0]
            if case == "with":
                assert tied, "no data-quality figure is a topic's count here: the check compares nothing"
    assert hidden["with"] == hidden["without"], sorted(hidden["with"] ^ hidden["without"])[:10]


def test_the_partnership_sees_more_of_the_county_than_the_public(first_run, home: Path) -> None:
    """Its own rule, not the public one: fewer county rolling years and fewer cells hidden."""
    partnership, public = ({t.name: t for t in TIERS}[n] for n in ("partnership", "public"))
    hidden = {t.name: _county_rolling_years(home, t)["suppressed"].mean() for t in (partnership, public)}
    assert hidden["partnership"] < hidden["public"], hidden
    cells = {t.name: _published(home, "fact_metric_value", t)["suppressed"].mean() for t in (partnership, public)}
    assert cells["partnership"] < cells["public"], cells


def test_holding_both_tiers_tells_nothing_the_partnership_tier_hides(first_run, home: Path) -> None:
    """The partnership's readers may hold the public release too: it must not fill a gap."""
    partnership, public = ({t.name: t for t in TIERS}[n] for n in ("partnership", "public"))
    key = ["metric_id", "period_id", "geography_code", "breakdown"]
    both = _published(home, "fact_metric_value", partnership).merge(
        _published(home, "fact_metric_value", public), on=key, suffixes=("", "_public")
    )
    filled = both[both["suppressed"] & both["numerator_public"].notna()]
    assert filled.empty, filled[key].head().to_string()
    # nor the scorecard: a count or share hidden for the partnership is hidden for the public
    card = _published(home, "dq_scorecard", partnership).merge(
        _published(home, "dq_scorecard", public), on=["partner", "dataset", "period_id"], suffixes=("", "_public")
    )
    for column in ("rows_received", "rows_loaded", "nhs_number_coverage", "upn_coverage", "validity"):
        assert not (card[column].isna() & card[f"{column}_public"].notna()).any(), column


@by_tier
def test_a_share_never_gives_away_a_hidden_row_count(first_run, home: Path, tier: Tier) -> None:
    """Coverage 0.6 of a hidden count of rows received says it was 5 (3 with an NHS number)."""
    card = _published(home, "dq_scorecard", tier)
    hidden = card[card["rows_received"].isna() | card["rows_loaded"].isna()]
    assert len(hidden) > 0
    shares = ["completeness", "validity", "uniqueness", "nhs_number_coverage", "upn_coverage"]
    assert hidden[shares].isna().all().all(), hidden[shares].dropna(how="all").head().to_string()


def test_the_public_tier_names_no_delivery(first_run, home: Path) -> None:
    """Labels and hashes of deliveries stay within the partnership, on every sheet and table."""
    partnership, public = ({t.name: t for t in TIERS}[n] for n in ("partnership", "public"))
    hashes = set(_published(home, "publication", partnership)["file_sha256"])
    assert hashes
    lineage = _published(home, "publication", public)
    assert lineage["delivery"].isna().all() and lineage["file_sha256"].isna().all() and len(lineage) > 0
    book = load_workbook(public.published(home / "published") / "ssag_pack.xlsx")
    seen = {str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value}
    assert not any(h in text for h in hashes for text in seen)


@by_tier
def test_every_sheet_and_table_carries_the_tiers_marking(first_run, home: Path, tier: Tier) -> None:
    folder = tier.published(home / "published")
    book = load_workbook(folder / "ssag_pack.xlsx")
    for ws in book.worksheets:
        assert ws.oddHeader.center.text == tier.marking == ws.oddFooter.center.text, ws.title
        assert ws.cell(row=2, column=1).value == tier.label, ws.title
    with duckdb.connect(str(folder / "metrics.duckdb"), read_only=True) as con:
        comments = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        assert set(con.execute("SELECT DISTINCT tier || ' ' || marking FROM publication").fetchall()) == {
            (f"{tier.name} {tier.marking}",)
        }
    assert comments and all(c == tier.label for c in comments.values()), comments
    for parquet in (folder / "parquet").glob("*.parquet"):
        assert pq.read_metadata(parquet).metadata[b"marking"].decode() == tier.label, parquet.name
    assert tier.label in (folder / "metric_dictionary.md").read_text(encoding="utf-8")
    summary = json.loads((folder / "run_summary.json").read_text(encoding="utf-8"))
    assert summary["marking"] == tier.marking


@by_tier
def test_no_tier_reads_the_data_teams_exact_row_counts(first_run, home: Path, tier: Tier) -> None:
    """A delivery's rows (in, loaded, quarantined, per file or per rule) are exact and can be 1:
    the data team's operational reports, not a tier's. A 4-row file over 4 scorecard months pins
    each hidden month at 1; a Data Docs page counts the rows failing each rule."""
    folder = tier.published(home / "published")
    operations = home / "operations"
    exact = json.loads((operations / "run_summary.json").read_text(encoding="utf-8"))
    small = [d for d in exact["datasets"] if 1 <= d["rows_quarantined"] <= tier.policy.threshold]
    assert exact["datasets"] and small, "the test world has deliveries with a few quarantined rows"
    assert list((operations / "data_quality").rglob("*.html")), "Data Docs are the data team's"
    for path in folder.rglob("*"):
        inside = path.relative_to(folder).parts
        if tier.home and inside[0] in {t.folder for t in TIERS if not t.home}:
            continue  # another tier's folder, checked as that tier
        assert not {"data_quality", "alerts"} & set(inside), path
        if path.suffix == ".json":
            assert not _keys(json.loads(path.read_text(encoding="utf-8"))) & ROW_COUNTS, path.relative_to(folder)


ROW_COUNTS = {"rows_in", "rows_loaded", "rows_quarantined", "rows_purged", "datasets", "files"}


def _keys(document: object) -> set[str]:
    """Every key anywhere in a JSON document."""
    if isinstance(document, dict):
        return set(document) | {k for v in document.values() for k in _keys(v)}
    if isinstance(document, list):
        return {k for v in document for k in _keys(v)}
    return set()


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


@by_tier
def test_settling_from_what_changed_leaves_no_relation_a_full_judgement_would_change(
    first_run, home: Path, tmp_path: Path, tier: Tier
) -> None:
    """Settling judges only the relations whose cells changed since they were last judged;
    judging every relation once more, with every counterpart, must then hide nothing further,
    after the audit's repairs and the county headlines changed cells between the settlings."""
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    hidden = "SELECT count(*) FROM sdc_cells WHERE suppressed"
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        protection = protect(con, tier.policy)
        assert protection.secondary > 0 and protection.audits > 0
        before = con.execute(hidden).fetchone()[0]
        con.execute("CREATE OR REPLACE TEMP TABLE sdc_changed AS SELECT cell_id FROM sdc_cells")
        con.execute(ROUND_SQL.format(t=tier.policy.threshold))
        con.execute(UNION_SQL.format(among=""))
        assert con.execute(hidden).fetchone()[0] == before


def test_protection_after_a_change_equals_protection_from_scratch(first_run, home: Path, tmp_path: Path) -> None:
    """Months kept from the last protection must end exactly as a full protection would."""
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    policy = load_policy()
    cells = (
        "SELECT metric_id, measure, period_type, end_month, geography_code, breakdown, suppressed FROM sdc_cells "
        "ORDER BY ALL"
    )
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        first = protect(con, policy, basis="b")
        assert (first.reused_months, first.reused_metrics) == (0, 0)  # nothing recorded under this basis yet
        scratch = con.execute(cells).fetchall()
        metrics = con.execute("SELECT count(DISTINCT metric_id) FROM metric_values").fetchone()[0]
        # nothing changed: every metric keeps its whole pattern, county headline periods included
        assert protect(con, policy, basis="b").reused_metrics == metrics
        assert con.execute(cells).fetchall() == scratch
        # a day's delivery: three more missing episodes in each of the latest three months in one
        # district, which return interviews count too (their denominator)
        where = (
            "AND period_type = 'month' AND end_month >= (SELECT max(end_month) - INTERVAL 2 MONTH FROM metric_values) "
            "AND geography_code = (SELECT min(district_code) FROM ref_district) AND breakdown = 'all'"
        )
        changed = con.execute(
            f"UPDATE metric_values SET numerator = numerator + 3 WHERE metric_id = 'missing_episodes_per_10k' {where}"
        ).fetchone()[0]
        changed += con.execute(
            "UPDATE metric_values SET denominator = denominator + 3 "
            f"WHERE metric_id = 'return_interviews_within_72_hours' {where}"
        ).fetchone()[0]
        assert changed == 3 * 2
        units = con.execute(
            "SELECT count(DISTINCT (metric_id, end_month)) FROM metric_values WHERE period_type = 'month'"
        ).fetchone()[0]
        quality_months = con.execute(
            "SELECT count(DISTINCT (metric_id, end_month)) FROM metric_values WHERE period_type = 'month' "
            "AND metric_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(DATA_QUALITY)],
        ).fetchone()[0]
        incremental = protect(con, policy, basis="b")
        # the two metrics' three months are decided afresh, with every metric about children that
        # shares a count with them: k metrics, each with exactly those three months afresh; the
        # data-quality metrics, protected on every count about children, wholly afresh; the
        # others' cells are exactly as last time
        afresh = metrics - incremental.reused_metrics - len(DATA_QUALITY)
        assert 2 <= afresh < metrics / 2
        assert incremental.reused_months == units - 3 * afresh - quality_months
        kept = con.execute(cells).fetchall()
        con.execute("DROP TABLE sdc_basis")
        assert protect(con, policy, basis="b").reused_months == 0
        assert con.execute(cells).fetchall() == kept
        # one of two metrics that counted the same episodes no longer does: both are decided afresh
        con.execute(
            f"UPDATE metric_values SET numerator = numerator + 1 WHERE metric_id = 'missing_episodes_per_10k' {where}"
        )
        months = con.execute(
            "SELECT count(DISTINCT (metric_id, end_month)) FROM metric_values WHERE period_type = 'month' "
            "AND metric_id IN ('missing_episodes_per_10k', 'return_interviews_within_72_hours')"
        ).fetchone()[0]
        again = protect(con, policy, basis="b")  # with every metric they shared a count with
        assert again.reused_months <= units - months and again.reused_metrics <= metrics - 2
        kept = con.execute(cells).fetchall()
        con.execute("DROP TABLE sdc_basis")
        protect(con, policy, basis="b")
        assert con.execute(cells).fetchall() == kept
        assert protect(con, policy, basis="other code").reused_months == 0  # a new basis reuses nothing


def test_a_protection_keeps_every_lp_answer_it_asks_in_a_process_that_judged_before(
    first_run, home: Path, tmp_path: Path
) -> None:
    """What a protection keeps for the next night is all it asked, even in a process that
    has judged the same groups before (a refresh, then a night, in one process): the next night,
    in a process of its own, would otherwise solve them all again. The same protection in a
    process that has judged nothing (its judgements forgotten) keeps the same."""
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    policy = load_policy()
    kept = "SELECT digest FROM sdc_ranges_kept ORDER BY ALL"
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        protect(con, policy, basis="b")
        protect(con, policy, basis="b")
        after_judging = con.execute(kept).fetchall()
        headline_periods._JUDGED.clear()  # as a process of its own starts
        protect(con, policy, basis="b")
        assert after_judging and con.execute(kept).fetchall() == after_judging


def test_a_seeded_tier_kept_from_last_time_matches_scratch_after_the_home_policy_changes(
    first_run, home: Path, tmp_path: Path
) -> None:
    """A second tier starts from what the home tier hides: when the home tier's policy changes
    and no metric's cells do, the second tier must end as a protection from scratch would."""

    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    first, second = load_tiers()[:2]
    cells = "SELECT metric_id, measure, period_type, end_month, geography_code, breakdown, suppressed FROM sdc_cells"

    def night(con: duckdb.DuckDBPyConnection, home_threshold: int) -> list[tuple]:
        home_tier = first.model_copy(update={"policy": Policy(description="home", threshold=home_threshold)})
        other = second.model_copy(update={"policy": Policy(description="other", threshold=3)})
        protect(con, home_tier.policy, basis=home_tier.basis(home_tier, ["code"]))
        with schema_first(con, other.schema):
            protect(con, other.policy, basis=other.basis(home_tier, ["code"]), seed=home_tier.schema)
            return sorted(con.execute(cells).fetchall())

    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        night(con, 3)
        kept = night(con, 10)  # the home tier now hides far more, so the second tier starts from more
        con.execute(f"DROP TABLE {second.schema}.sdc_basis")
        assert kept == night(con, 10)


def test_only_what_the_next_protection_reuses_stays_in_the_shared_store(first_run, home: Path) -> None:
    """Disclosure control's working tables of one run are not left in the shared store, where
    every night's leak guard and snapshot would read them again: only each tier's final cells,
    the basis they were decided under and the LP audits' answers stay, for the next night to
    reuse."""
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        stored = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE table_name LIKE 'sdc%' ORDER BY ALL"
        ).fetchall()
    schemas = sorted({t.schema for t in TIERS})
    assert stored == [(s, name) for s in schemas for name in ("sdc_basis", "sdc_cells", "sdc_ranges_kept")]


def test_working_tables_an_earlier_version_stored_are_dropped(first_run, home: Path, tmp_path: Path) -> None:
    """A store written before the working tables became temporary holds them in each tier's
    schema; the next protection drops them there."""
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    working = "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('sdc_members', 'sdc_headline')"
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        for tier in TIERS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {tier.schema}")
            for table in ("sdc_members", "sdc_headline"):
                con.execute(f"CREATE TABLE {tier.schema}.{table} AS SELECT 1 AS cell_id")
        assert con.execute(working).fetchone()[0] == 2 * len(TIERS)
        for tier in TIERS:
            with schema_first(con, tier.schema):
                protect(con, tier.policy)
        con.execute("DROP TABLE IF EXISTS temp.sdc_members")
        con.execute("DROP TABLE IF EXISTS temp.sdc_headline")
        assert con.execute(working).fetchone()[0] == 0
