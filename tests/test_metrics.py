"""The metric catalogue: every SQL file recomputed here with pandas from the shared store's
governed tables, the runner's roll-up to localities, county, quarters and rolling years
recomputed from the district rows, and the catalogue's rules for analysts' files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import holidays
import numpy as np
import pandas as pd
import pytest

from sihub.metrics.catalogue import MetricError, compute, load_catalogue, parse_metric
from tests.test_priority_metrics import RECOMPUTED

NONE = "~none"  # the district of records with no district, in these frames
BANDS = [(1, "Under 1"), (5, "1-4"), (10, "5-9"), (16, "10-15"), (18, "16-17")]
REPO = Path(__file__).parents[1]


class Store:
    """The shared store's tables as pandas frames, read once."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._con = duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True)
        self._cache: dict[str, pd.DataFrame] = {}
        districts = pd.read_csv(REPO / "reference" / "districts.csv", dtype=str)
        self.districts = [*districts["district_code"], NONE]
        months = pd.concat(
            [self.table(t)["event_month"] for t in self.tables_with("event_month")], ignore_index=True
        ).dropna()
        self.months = pd.date_range(months.min(), months.max(), freq="MS")
        self.population = pd.read_csv(home / "reference" / "population.csv")

    def tables_with(self, column: str) -> list[str]:
        return [r[0] for r in self._con.execute(
            "SELECT table_name FROM duckdb_columns() WHERE column_name = ? AND table_name NOT LIKE 'metric%' "
            "AND table_name NOT LIKE 'month%'", [column]
        ).fetchall()]  # fmt: skip

    def table(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            frame = self._con.execute(f'SELECT * FROM "{name}"').df()
            for column in frame.columns:
                if column.endswith(("_month", "_date", "_start", "_end")) or column in ("event_month",):
                    frame[column] = pd.to_datetime(frame[column])
            if "district_code" in frame:
                frame["district_code"] = frame["district_code"].fillna(NONE)
            self._cache[name] = frame
        return self._cache[name].copy()

    def linked(self, name: str) -> pd.DataFrame:
        return self.table(name).merge(
            self.table("child_link")[["person_key", "child_key"]], on="person_key", how="left"
        )

    def children(self, age_from: int, age_to: int, bands: bool) -> pd.DataFrame:
        """district_code, breakdown, children (0 for no district)."""
        pop = self.population[self.population["age"].between(age_from, age_to)].copy()
        pop["breakdown"] = "age_band:" + pop["age"].map(band)
        parts = [pop.groupby("district_code")["population"].sum().reset_index().assign(breakdown="all")]
        if bands:
            parts.append(pop.groupby(["district_code", "breakdown"])["population"].sum().reset_index())
        out = pd.concat(parts, ignore_index=True).rename(columns={"population": "children"})
        none = out[["breakdown"]].drop_duplicates().assign(district_code=NONE, children=0)
        return pd.concat([out, none], ignore_index=True)

    def grid(self, breakdowns: list[str]) -> pd.DataFrame:
        return pd.MultiIndex.from_product(
            [self.months, self.districts, breakdowns], names=["period_month", "district_code", "breakdown"]
        ).to_frame(index=False)


def band(age: float) -> str | None:
    if pd.isna(age):
        return None
    return next(label for upper, label in BANDS if age < upper)


def month_of(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.to_period("M").dt.to_timestamp()


def tally(store: Store, events: pd.DataFrame, part: str | None, flag: str | None = None) -> pd.DataFrame:
    """Counts per month, district and breakdown (`all`, and `<part>:<value>` when given) of
    events (month, district_code, [part], [flag]): numerator counts flagged rows, `events` all."""
    events = events.assign(_flag=events[flag] if flag else True)
    frames = [events.assign(breakdown="all")]
    if part:
        frames.append(events[events[part].notna()].assign(breakdown=part.split("|")[-1] + ":" + events[part]))
    both = pd.concat(frames, ignore_index=True)
    counts = both.groupby(["month", "district_code", "breakdown"]).agg(
        events=("_flag", "size"), flagged=("_flag", "sum")
    )
    return counts.reset_index().rename(columns={"month": "period_month"})


def per_population(store: Store, events: pd.DataFrame, ages: tuple[int, int], bands: bool = True) -> pd.DataFrame:
    children = store.children(*ages, bands)
    grid = store.grid(sorted(children["breakdown"].unique())).merge(children, on=["district_code", "breakdown"])
    counts = tally(store, events.rename(columns={"age_band": "age_band"}), "age_band" if bands else None)
    out = grid.merge(counts, on=["period_month", "district_code", "breakdown"], how="left")
    return out.assign(numerator=out["events"].fillna(0), denominator=out["children"])


def share(store: Store, events: pd.DataFrame, flag: str, part: str | None = None) -> pd.DataFrame:
    breakdowns = ["all"] + ([f"age_band:{b}" for _, b in BANDS] if part else [])
    out = store.grid(breakdowns).merge(
        tally(store, events, part, flag), on=["period_month", "district_code", "breakdown"], how="left"
    )
    return out.assign(numerator=out["flagged"].fillna(0), denominator=out["events"].fillna(0))


def month_ends(store: Store) -> pd.DataFrame:
    return pd.DataFrame({"period_month": store.months, "end": store.months + pd.offsets.MonthEnd(0)})


def open_at_month_end(store: Store, spells: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    pairs = month_ends(store).merge(spells, how="cross")
    return pairs[(pairs[start] <= pairs["end"]) & (pairs[end].isna() | (pairs[end] > pairs["end"]))]


def with_population(store: Store, counts: pd.DataFrame, breakdowns: list[str] | None = None) -> pd.DataFrame:
    children = store.children(0, 17, False).drop(columns="breakdown")
    grid = store.grid(breakdowns or ["all"]).merge(children, on="district_code")
    out = grid.merge(counts, on=["period_month", "district_code", "breakdown"], how="left")
    return out.assign(numerator=out["n"].fillna(0), denominator=out["children"])


# ---- one recomputation per metric ---------------------------------------------------------


def contacts_per_10k(s: Store) -> pd.DataFrame:
    return per_population(s, s.table("childrens_services__contacts").rename(columns={"event_month": "month"}), (0, 17))


def referrals(s: Store) -> pd.DataFrame:
    c = s.linked("childrens_services__contacts")
    return c[c["referral_date"].notna()].assign(month=lambda d: month_of(d["referral_date"]))


def referrals_per_10k(s: Store) -> pd.DataFrame:
    return per_population(s, referrals(s), (0, 17))


def contact_referral_conversion(s: Store) -> pd.DataFrame:
    c = s.table("childrens_services__contacts")
    c = c.assign(month=c["event_month"], referred=c["referral_date"].notna())
    return share(s, c, "referred", "age_band")


def another_before(events: pd.DataFrame, date: str, months: int) -> list[bool]:
    """For each event, whether its (linked) child had another dated in the `months` before it."""
    dates = events.groupby("child_key")[date].apply(list).to_dict()

    def one(child, day) -> bool:
        since = day - pd.DateOffset(months=months)
        return not pd.isna(child) and any(since <= d < day for d in dates[child])

    return [one(child, day) for child, day in zip(events["child_key"], events[date], strict=True)]


def re_referrals_12_months(s: Store) -> pd.DataFrame:
    r = referrals(s)
    r["repeat"] = another_before(r, "referral_date", 12)
    return share(s, r, "repeat", "age_band")


def cp_plans_per_10k(s: Store) -> pd.DataFrame:
    plans = s.table("childrens_services__cp_plans")
    open_ = open_at_month_end(s, plans, "plan_start", "plan_end")
    cats = ["category:" + c for c in sorted(plans["category"].dropna().unique())]
    by_category = open_[open_["category"].notna()].assign(breakdown="category:" + open_["category"])
    both = pd.concat([open_.assign(breakdown="all"), by_category])
    counts = both.groupby(["period_month", "district_code", "breakdown"]).size().rename("n").reset_index()
    return with_population(s, counts, ["all", *cats])


def cp_plans_ended_after_2_years(s: Store) -> pd.DataFrame:
    p = s.table("childrens_services__cp_plans")
    p = p[p["plan_end"].notna()]
    p = p.assign(month=month_of(p["plan_end"]), long=p["plan_end"] >= p["plan_start"] + pd.DateOffset(years=2))
    return share(s, p, "long")


def repeat_cp_plans(s: Store) -> pd.DataFrame:
    p = s.linked("childrens_services__cp_plans")
    p = p.assign(month=p["event_month"], repeat=another_before(p, "plan_start", 24))
    return share(s, p, "repeat", "age_band")


def looked_after_per_10k(s: Store) -> pd.DataFrame:
    e = s.linked("childrens_services__cla_episodes")
    e["child"] = e["child_key"].fillna(e["person_key"])
    open_ = open_at_month_end(s, e, "episode_start", "episode_end")
    counts = open_.groupby(["period_month", "district_code"])["child"].nunique().rename("n").reset_index()
    return with_population(s, counts.assign(breakdown="all"))


def domestic_abuse_children_per_10k(s: Store) -> pd.DataFrame:
    i = s.table("police__domestic_abuse_incidents")
    i = i[i["child_present"].ne(False)]
    return per_population(s, i.rename(columns={"event_month": "month"}), (0, 17))


def domestic_abuse_high_risk_share(s: Store) -> pd.DataFrame:
    i = s.table("police__domestic_abuse_incidents")
    i = i[i["child_present"].ne(False)]
    return share(s, i.assign(month=i["event_month"], high=i["risk_level"] == "High"), "high")


def missing_episodes_per_10k(s: Store) -> pd.DataFrame:
    return per_population(s, s.table("police__missing_episodes").rename(columns={"event_month": "month"}), (0, 17))


def missing_3_times_in_90_days_per_10k(s: Store) -> pd.DataFrame:
    e = s.linked("police__missing_episodes")
    e = e.assign(child=e["child_key"].fillna(e["person_key"]), reported=pd.to_datetime(e["reported_at"]).dt.normalize())
    rows = []
    for month, end in month_ends(s).itertuples(index=False):
        window = e[(e["reported"] > end - pd.Timedelta(days=90)) & (e["reported"] <= end)]
        for _, episodes in window.groupby("child"):
            if len(episodes) >= 3:
                rows.append((month, episodes.sort_values("reported")["district_code"].iloc[-1]))
    counts = pd.DataFrame(rows, columns=["period_month", "district_code"]).value_counts().rename("n").reset_index()
    return with_population(s, counts.assign(breakdown="all"))


def return_interviews_within_72_hours(s: Store) -> pd.DataFrame:
    e = s.table("police__missing_episodes")
    e = e[e["found_at"].notna()]
    limit = (pd.to_datetime(e["found_at"]) + pd.Timedelta(hours=72)).dt.normalize()
    return share(s, e.assign(month=e["event_month"], ok=pd.to_datetime(e["return_interview"]) <= limit), "ok")


def self_harm_attendances_10_17_per_10k(s: Store) -> pd.DataFrame:
    a = s.table("health__ed_attendances")
    a = a[(a["reason"] == "Self-harm") & a["age_years"].between(10, 17)]
    return per_population(s, a.rename(columns={"event_month": "month"}), (10, 17))


TERMS = {"Autumn": (0, 9, 12), "Spring": (1, 1, 3), "Summer": (1, 4, 7)}


def pupil_terms(s: Store) -> pd.DataFrame:
    a = s.table("education__attendance")
    a = a[a["sessions_possible"] > 0].copy()
    first = a["academic_year"].str[:4].astype(int)
    offset, start, end = (a["term"].map({k: v[i] for k, v in TERMS.items()}) for i in range(3))
    a["month"] = pd.to_datetime(dict(year=first + offset, month=end, day=1))
    a["term_start"] = pd.to_datetime(dict(year=first + offset, month=start, day=1))
    a["persistent"] = a["authorised_absence"] + a["unauthorised_absence"] >= 0.1 * a["sessions_possible"]
    census = s.table("education__school_census")[["person_key", "census_date", "district_code"]]
    placed = a.reset_index().merge(census, on="person_key", how="left")
    placed = placed[placed["census_date"] <= placed["month"] + pd.offsets.MonthEnd(0)]
    latest = placed.sort_values("census_date").groupby("index")["district_code"].last()
    a["district_code"] = latest.reindex(a.index).fillna(NONE)
    return a


def persistent_absence_all_pupils(s: Store) -> pd.DataFrame:
    return share(s, pupil_terms(s), "persistent")


def persistent_absence_cp_plan(s: Store) -> pd.DataFrame:
    a = pupil_terms(s).merge(s.table("child_link")[["person_key", "child_key"]], on="person_key", how="left")
    plans = s.linked("childrens_services__cp_plans")[["child_key", "plan_start", "plan_end"]].dropna(
        subset=["child_key"]
    )
    pairs = a.reset_index().merge(plans, on="child_key")
    on = pairs[(pairs["plan_start"] <= pairs["month"] + pd.offsets.MonthEnd(0))
               & (pairs["plan_end"].isna() | (pairs["plan_end"] >= pairs["term_start"]))]  # fmt: skip
    return share(s, a.loc[sorted(set(on["index"]))], "persistent")


def census_on(s: Store) -> pd.DataFrame:
    """Each month's latest census rows (period_month, person_key, district_code)."""
    census = s.table("education__school_census")
    dates = sorted(census["census_date"].unique())
    rows = []
    for month, end in month_ends(s).itertuples(index=False):
        before = [d for d in dates if d <= end]
        if before:
            rows.append(census[census["census_date"] == before[-1]].assign(period_month=month))
    return pd.concat(rows, ignore_index=True)


def suspensions_per_100_pupils(s: Store) -> pd.DataFrame:
    sus = s.table("education__suspensions")
    sus = sus[sus["category"] == "SUSP"]
    n = sus.groupby(["event_month", "district_code"]).size().rename("n")
    pupils = census_on(s).groupby(["period_month", "district_code"]).size().rename("pupils")
    out = (
        s.grid(["all"]).join(n, on=["period_month", "district_code"]).join(pupils, on=["period_month", "district_code"])
    )
    return out.assign(numerator=out["n"].fillna(0), denominator=out["pupils"].fillna(0))


def suspensions_known_to_cs_per_100_pupils(s: Store) -> pd.DataFrame:
    link = s.table("child_link")[["person_key", "child_key"]]
    contacts = s.linked("childrens_services__contacts").dropna(subset=["child_key"])
    pairs = zip(contacts["child_key"], contacts["event_month"], strict=True)
    known = {(k, m + pd.DateOffset(months=i)) for k, m in pairs for i in range(12)}
    sus = s.linked("education__suspensions")
    is_known = np.array(
        [(k, m) in known for k, m in zip(sus["child_key"], sus["event_month"], strict=True)], dtype=bool
    )
    sus = sus[(sus["category"] == "SUSP").to_numpy() & is_known]
    n = sus.groupby(["event_month", "district_code"]).size().rename("n")
    census = census_on(s).merge(link, on="person_key")
    census = census[[(k, m) in known for k, m in zip(census["child_key"], census["period_month"], strict=True)]]
    pupils = census.groupby(["period_month", "district_code"])["child_key"].nunique().rename("pupils")
    out = (
        s.grid(["all"]).join(n, on=["period_month", "district_code"]).join(pupils, on=["period_month", "district_code"])
    )
    return out.assign(numerator=out["n"].fillna(0), denominator=out["pupils"].fillna(0))


def known_to_3_agencies_per_10k(s: Store) -> pd.DataFrame:
    cm = s.table("child_month")
    cm["cs"] = (cm["cs_contacts"] > 0) | cm["cp_plan"] | cm["looked_after"]
    cm["police"] = (
        cm[["police_domestic_abuse_incidents", "police_missing_episodes", "police_exploitation_flags"]].sum(axis=1) > 0
    )
    cm["health"] = cm[["health_ed_attendances", "health_safeguarding_referrals"]].sum(axis=1) > 0
    cm["education"] = (cm["education_suspensions"] > 0) | cm["education_persistent_absence"]
    rows = []
    for month in s.months:
        window = cm[(cm["period_month"] <= month) & (cm["period_month"] > month - pd.DateOffset(months=12))]
        agencies = window.groupby("child_key")[["cs", "police", "health", "education"]].any().sum(axis=1)
        placed = (
            window[window["district_code"] != NONE]
            .sort_values("period_month")
            .groupby("child_key")["district_code"]
            .last()
        )
        many = agencies[agencies >= 3].index
        rows += [(month, placed.get(k, NONE)) for k in many]
    counts = pd.DataFrame(rows, columns=["period_month", "district_code"]).value_counts().rename("n").reset_index()
    return with_population(s, counts.assign(breakdown="all"))


def working_days(start: pd.Timestamp, end: pd.Timestamp) -> int:
    bank = holidays.UK(subdiv="ENG", years=range(start.year, end.year + 1))
    days = pd.date_range(start + pd.Timedelta(days=1), end, freq="D")
    return sum(1 for d in days if d.weekday() < 5 and d.date() not in bank)


def rapid_reviews_within_15_working_days(s: Store) -> pd.DataFrame:
    r = s.table("business_unit__rapid_reviews")
    ok = [working_days(a, b) <= 15 for a, b in zip(r["notification_date"], r["rapid_review_date"], strict=True)]
    return share(s, r.assign(month=r["event_month"], district_code=NONE, ok=ok), "ok")


def child_death_strategy_meeting_within_48_hours(s: Store) -> pd.DataFrame:
    r = s.table("health__child_death_reviews")
    ok = pd.to_datetime(r["strategy_meeting"]) <= pd.to_datetime(r["date_of_death"]) + pd.Timedelta(days=2)
    return share(s, r.assign(month=r["event_month"], ok=ok), "ok")


def child_death_initial_review_within_5_working_days(s: Store) -> pd.DataFrame:
    r = s.table("health__child_death_reviews")
    ok = [working_days(pd.Timestamp(a), pd.Timestamp(b)) <= 5
          for a, b in zip(r["date_of_death"], r["initial_review"], strict=True)]  # fmt: skip
    return share(s, r.assign(month=r["event_month"], ok=ok), "ok")


def scorecard(s: Store, numerator: Callable[[pd.DataFrame], pd.Series], denominator: str, where: str | None):
    q = s.table("dq_monthly")
    if where:  # datasets carrying the identifier (a month with no row loaded has no coverage)
        q = q[q.groupby(["partner", "dataset"])[where].transform(lambda c: c.notna().any())]
    q = q.assign(num=numerator(q).fillna(0), den=q[denominator], breakdown="partner:" + q["partner"])
    datasets = q.assign(breakdown="partner/dataset:" + q["partner"] + "/" + q["dataset"])
    parts = pd.concat([q, datasets, q.assign(breakdown="all")])
    parts = parts.groupby(["period_month", "breakdown"])[["num", "den"]].sum()
    breakdowns = ["all", *sorted("partner:" + q["partner"].unique()), *sorted(datasets["breakdown"].unique())]
    out = s.grid(breakdowns).join(parts, on=["period_month", "breakdown"])
    county = out["district_code"] == NONE
    return out.assign(numerator=out["num"].where(county).fillna(0), denominator=out["den"].where(county).fillna(0))


def nhs_number_coverage(s: Store) -> pd.DataFrame:
    return scorecard(
        s, lambda q: (q["nhs_number_coverage"] * q["rows_loaded"]).round(), "rows_loaded", "nhs_number_coverage"
    )


def upn_coverage(s: Store) -> pd.DataFrame:
    return scorecard(s, lambda q: (q["upn_coverage"] * q["rows_loaded"]).round(), "rows_loaded", "upn_coverage")


def identifier_validity(s: Store) -> pd.DataFrame:
    return scorecard(s, lambda q: q["rows_loaded"], "rows_received", None)


EXPECTED = {f.__name__: f for f in (
    contacts_per_10k, referrals_per_10k, contact_referral_conversion, re_referrals_12_months, cp_plans_per_10k,
    cp_plans_ended_after_2_years, repeat_cp_plans, looked_after_per_10k, domestic_abuse_children_per_10k,
    domestic_abuse_high_risk_share, missing_episodes_per_10k, missing_3_times_in_90_days_per_10k,
    return_interviews_within_72_hours, self_harm_attendances_10_17_per_10k, persistent_absence_all_pupils,
    persistent_absence_cp_plan, suspensions_per_100_pupils, suspensions_known_to_cs_per_100_pupils,
    known_to_3_agencies_per_10k, rapid_reviews_within_15_working_days, child_death_strategy_meeting_within_48_hours,
    child_death_initial_review_within_5_working_days, nhs_number_coverage, upn_coverage, identifier_validity,
)}  # fmt: skip


@pytest.fixture(scope="module")
def store(first_run, home: Path) -> Store:
    return Store(home)


@pytest.fixture(scope="module")
def district_values(store: Store) -> pd.DataFrame:
    with duckdb.connect(str(store.home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        frame = con.execute("SELECT * FROM metric_district_values").df()
    frame["district_code"] = frame["district_code"].fillna(NONE)
    frame["period_month"] = pd.to_datetime(frame["period_month"])
    return frame


def test_every_metric_file_has_an_independent_recomputation() -> None:
    """Here from the shared store's tables, or in test_priority_metrics from the landing files."""
    assert not set(EXPECTED) & set(RECOMPUTED)
    assert sorted([*EXPECTED, *RECOMPUTED]) == sorted(m.id for m in load_catalogue())


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_metric_matches_an_independent_recomputation(store: Store, district_values: pd.DataFrame, metric: str) -> None:
    key = ["period_month", "district_code", "breakdown"]
    expected = EXPECTED[metric](store)[[*key, "numerator", "denominator"]]
    got = district_values[district_values["metric_id"] == metric][[*key, "numerator", "denominator"]]
    merged = got.merge(expected, on=key, how="outer", suffixes=("", "_expected"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    for column in ("numerator", "denominator"):
        diff = merged[merged[column] != merged[f"{column}_expected"]]
        assert diff.empty, diff.head()
    assert merged["numerator"].sum() > 0, "the synthetic data should exercise every metric"


def _quarters_and_years(months: list[pd.Timestamp]) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    periods = [("month", m, m) for m in months]
    periods += [("quarter", m, m + pd.DateOffset(months=2)) for m in months
                if m.month in (1, 4, 7, 10) and m + pd.DateOffset(months=2) <= months[-1]]  # fmt: skip
    periods += [
        ("rolling_12", m - pd.DateOffset(months=11), m) for m in months if m - pd.DateOffset(months=11) >= months[0]
    ]
    return periods


def test_runner_rolls_districts_up_to_localities_county_quarters_and_rolling_years(
    store: Store, district_values: pd.DataFrame
) -> None:
    catalogue = {m.id: m for m in load_catalogue()}
    districts = pd.read_csv(REPO / "reference" / "districts.csv", dtype=str)
    locality = dict(zip(districts["district_code"], districts["locality_code"], strict=True))
    d = district_values.assign(geography_code=district_values["district_code"].replace(NONE, "~unassigned"))
    levels = pd.concat([
        d, d.assign(geography_code=d["district_code"].map(locality)).dropna(subset=["geography_code"]),
        d.assign(geography_code=districts["county_code"].iloc[0]),
    ])  # fmt: skip
    key = ["metric_id", "geography_code", "breakdown"]
    monthly = levels.groupby([*key, "period_month"])[["numerator", "denominator"]].sum().reset_index()
    rows = []
    for period_type, start, end in _quarters_and_years(sorted(monthly["period_month"].unique())):
        inside = monthly[monthly["period_month"].between(start, end)]
        total = inside.groupby(key)[["numerator", "denominator"]].sum()
        last = inside[inside["period_month"] == end].set_index(key)[["numerator", "denominator"]]
        flow = total.index.get_level_values("metric_id").map(lambda m: catalogue[m].aggregation == "flow")
        counted = total.index.get_level_values("metric_id").map(lambda m: catalogue[m].denominator_type == "count")
        frame = pd.DataFrame({
            "numerator": np.where(flow, total["numerator"], last["numerator"].reindex(total.index)),
            "denominator": np.where(flow & counted, total["denominator"], last["denominator"].reindex(total.index)),
        }, index=total.index).reset_index()  # fmt: skip
        rows.append(frame.assign(period_type=period_type, end_month=end))
    expected = pd.concat(rows, ignore_index=True)
    with duckdb.connect(str(store.home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        got = con.execute(
            "SELECT metric_id, geography_code, breakdown, period_type, end_month, numerator, denominator "
            "FROM metric_values WHERE breakdown NOT LIKE '%:~%'"
        ).df()
    got["end_month"] = pd.to_datetime(got["end_month"])
    merged = got.merge(expected, on=[*key, "period_type", "end_month"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert (merged["numerator_x"] == merged["numerator_y"]).all()
    assert (merged["denominator_x"] == merged["denominator_y"]).all()


HEADER = """-- id: {id}
-- title: Exploitation flags per 10,000 children
-- description: Police flags of child exploitation raised in the period.
-- unit: per 10,000 children aged 0-17
-- polarity: higher is worse
-- multiplier: 10000
-- numerator: flags raised
-- denominator: children aged 0-17
-- sources: police/exploitation_flags
-- owner: police
-- theme: Missing and exploitation
"""


def test_a_night_reruns_the_metrics_reading_what_changed_and_keeps_the_rest_as_a_full_run_would(
    first_run, home: Path, tmp_path: Path
) -> None:
    """After one dataset's shared rows change, the metrics whose declared sources include it run
    again, most others keep last night's rows, and every value is what computing all from
    scratch gives."""
    from governance.agreements import in_use, load_register
    from sihub.core.change_tracking import content
    from sihub.core.contracts import feeds, load_contracts

    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    metrics, fed = load_catalogue(), feeds(in_use(load_contracts(), load_register())[0])
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        compute(con, metrics, fed)
        con.execute("DELETE FROM police__missing_episodes WHERE hash(rowid) % 4 = 0")
        night = compute(con, metrics, fed)
        again = {m for m, v in night.items() if "unchanged" not in str(v)}
        readers = {m.id for m in metrics if "police/missing_episodes" in m.sources}
        assert readers and readers <= again and len(again) <= len(metrics) // 2, sorted(again)
        kept = content(con, "metric_values")
        con.execute("DROP TABLE metric_inputs")
        con.execute("DROP TABLE metric_district_values")
        full = compute(con, metrics, fed)
        assert not any("unchanged" in str(v) for v in full.values())
        assert content(con, "metric_values") == kept


@pytest.mark.parametrize(
    "spelling", ["Police__Exploitation_Flags", "main.police__exploitation_flags", 'MAIN."POLICE__EXPLOITATION_FLAGS"']
)
def test_a_metric_naming_its_table_in_another_spelling_reruns_when_that_table_changes(
    first_run, home: Path, tmp_path: Path, spelling: str
) -> None:
    """DuckDB reads a table whatever the case of its name, and with or without its schema: a
    night must see that table change however the metric's SQL spells it."""
    new = tmp_path / "exploitation_flags_per_10k.sql"
    new.write_text(
        HEADER.format(id=new.stem) + "WITH flags AS (SELECT * FROM " + spelling + ") "
        "SELECT g.period_month, g.district_code, g.breakdown, count(f.event_month) AS numerator, "
        "g.children AS denominator FROM population_grid(0, 17) g LEFT JOIN flags f "
        "ON f.event_month = g.period_month AND f.district_code IS NOT DISTINCT FROM g.district_code "
        "AND g.breakdown = 'all' GROUP BY ALL\n"
    )
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    flags = Store(home).table("police__exploitation_flags")
    county = (
        "SELECT sum(numerator) FROM metric_values WHERE period_type = 'month' AND geography_code = 'E10000020' "
        "AND breakdown = 'all'"
    )
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        compute(con, [parse_metric(new)])
        removed = con.execute("DELETE FROM police__exploitation_flags WHERE hash(rowid) % 3 = 0").fetchone()[0]
        night = compute(con, [parse_metric(new)])
        assert removed > 0 and "unchanged" not in str(night[new.stem]), night
        assert con.execute(county).fetchall()[0][0] == len(flags) - removed


def test_a_new_metric_is_one_sql_file(first_run, home: Path, tmp_path: Path) -> None:
    new = tmp_path / "exploitation_flags_per_10k.sql"
    new.write_text(
        HEADER.format(id=new.stem)
        + "SELECT g.period_month, g.district_code, g.breakdown, count(f.event_month) AS numerator, "
        "g.children AS denominator FROM population_grid(0, 17) g LEFT JOIN police__exploitation_flags f "
        "ON f.event_month = g.period_month AND f.district_code IS NOT DISTINCT FROM g.district_code "
        "AND g.breakdown = 'all' GROUP BY ALL\n"
    )
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    flags = Store(home).table("police__exploitation_flags")
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        outcome = compute(con, [parse_metric(new)])
        county = con.execute(
            "SELECT sum(numerator) FROM metric_values WHERE period_type = 'month' AND geography_code = 'E10000020' "
            "AND breakdown = 'all'"
        ).fetchall()[0][0]
    assert outcome == {new.stem: len(Store(home).months) * 8 * 6}
    assert county == len(flags)


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        ("-- id: broken\n", "SELECT 1", "header lacks"),
        (HEADER.format(id="other"), "SELECT 1", "must match the file name"),
        (HEADER.format(id="broken").replace("higher is worse", "up"), "SELECT 1", "polarity must be one of"),
        (HEADER.format(id="broken") + "-- thresholds: red\n-- threshold_source: local\n", "", "thresholds must read"),
        (HEADER.format(id="broken") + "-- thresholds: amber=1, red=2\n", "SELECT 1", "go together"),
        (HEADER.format(id="broken") + "-- threshold_source: DfE\n", "SELECT 1", "go together"),
        (HEADER.format(id="broken") + "-- complement: children not counted\n", "SELECT 1", "complement needs"),
    ],
)
def test_a_metric_file_that_cannot_be_used_is_named(tmp_path: Path, header: str, body: str, message: str) -> None:
    path = tmp_path / "broken.sql"
    path.write_text(header + body)
    with pytest.raises(MetricError, match=f"broken.sql.*{message}"):
        parse_metric(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("SELECT period_month, district_code, 'all' AS breakdown, 1 AS numerator, 1 AS denominator "
         "FROM month_district_grid WHERE period_month > DATE '2022-01-01'", "exactly one row per month"),
        ("SELECT period_month, district_code, 'age 3' AS breakdown, 1 AS numerator, 1 AS denominator "
         "FROM month_district_grid", "breakdown must be"),
        ("SELECT nothing FROM month_district_grid", "broken.sql"),
    ],
)  # fmt: skip
def test_a_metric_query_of_the_wrong_shape_is_named(first_run, home: Path, tmp_path: Path, body, message) -> None:
    path = tmp_path / "broken.sql"
    path.write_text(HEADER.format(id="broken") + body)
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con, pytest.raises(MetricError, match=message):
        compute(con, [parse_metric(path)])


# a month's count looks this far back (from each definition: an earlier referral within 12
# months; a plan that had lasted 2 years), so until the data reach that far it is too low
WINDOWS = {"re_referrals_12_months": ("childrens_services__contacts", 12),
           "cp_plans_ended_after_2_years": ("childrens_services__cp_plans", 24)}  # fmt: skip


@pytest.mark.parametrize("metric", sorted(WINDOWS))
def test_a_figure_whose_window_reaches_before_the_data_is_no_data_not_a_low(store: Store, metric: str) -> None:
    source, months = WINDOWS[metric]
    complete_from = store.table(source)["event_month"].min() + pd.DateOffset(months=months)
    published = store.home / "published" / "parquet"
    fact = pd.read_parquet(published / "fact_metric_value.parquet")
    periods = pd.read_parquet(published / "dim_period.parquet")
    cells = fact[fact["metric_id"] == metric].merge(periods, on="period_id")
    early = pd.to_datetime(cells["start_date"]) < complete_from
    assert early.any() and (~early).any()
    shown_early = cells[early & (cells["value_status"] != "no data")]
    assert shown_early.empty, shown_early[["period_id", "geography_code", "value_status"]].head()
    # and from then on, no data only where the sources end
    assert (cells.loc[~early, "value_status"] != "no data").mean() > 0.9
