"""The plan's priorities as metrics (issue 19): exploitation, early help, assessments within 45
working days and the child death panel's timeliness, with breakdowns by sex, ethnic group and
SEND. Each is recomputed here from the files the generator wrote (read with csv and openpyxl,
never through the hub) and the generator's truth of which record is which child, less the rows
its manifest says carry a planted defect, and compared with the hub's district values before
disclosure control. Then the national comparators table and the threshold sources."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import duckdb
import holidays
import numpy as np
import pandas as pd
import pytest

from sihub.metrics.catalogue import load_catalogue
from sihub.synthetic import profile
from sihub.synthetic.catalogue import CATALOGUE
from sihub.synthetic.generate import GenerationResult
from tests.extracts import read_rows

REPO = Path(__file__).parents[1]
NONE = "~none"  # the district of records with no district, in these frames
KEY = ["period_month", "district_code", "breakdown"]
BANDS = [(1, "Under 1"), (5, "1-4"), (10, "5-9"), (16, "10-15"), (18, "16-17")]
EXPLOITATION = ("CSE", "CCE", "County Lines")
# DfE's major ethnic groups by the first letter of the CBDS code (Chinese, CHNE, is Asian);
# refused (REFU) and not yet obtained (NOBT) belong to none
GROUP_BY_LETTER = {
    "W": "White",
    "M": "Mixed or Multiple ethnic groups",
    "A": "Asian or Asian British",
    "C": "Asian or Asian British",
    "B": "Black, African, Caribbean or Black British",
    "O": "Other ethnic group",
}
SEND = {"N": "No SEN", "K": "SEN support", "E": "EHC plan"}


def month_number(days: pd.Series) -> pd.Series:
    """Months as integers (year * 12 + month - 1), for arithmetic on whole months."""
    return days.dt.year * 12 + days.dt.month - 1


def month_start(numbers: pd.Series) -> pd.Series:
    return pd.to_datetime(pd.DataFrame({"year": numbers // 12, "month": numbers % 12 + 1, "day": 1}))


def within_12_months(frame: pd.DataFrame, month: str = "month") -> pd.DataFrame:
    """Each row once for every month whose 12 months to its end hold the row's month: the
    month itself and the eleven after (`window` is that month's number)."""
    out = frame.loc[frame.index.repeat(12)].copy()
    out["window"] = out[month].to_numpy() + np.tile(np.arange(12), len(frame))
    return out


class Landing:
    """The synthetic deliveries as the hub should load them, one dataset at a time."""

    def __init__(self, small: GenerationResult) -> None:
        self.out = small.out
        self.truth = pd.read_parquet(small.truth / "records.parquet", columns=["dataset", "file", "row", "child_id"])
        defects = pd.read_csv(small.truth / "defects.csv", usecols=["file", "row"])
        self.defects = defects.drop_duplicates().assign(defect=True)
        codes = pd.read_csv(REPO / "reference" / "postcode_districts.csv", dtype=str)
        self.outward = codes.set_index("postcode_district")["district_code"]
        self.population = pd.read_csv(small.out.parent / "reference" / "population.csv")
        districts = pd.read_csv(REPO / "reference" / "districts.csv", dtype=str)
        self.districts = [*districts["district_code"], NONE]
        self.months = pd.date_range(profile.WINDOW_START, profile.WINDOW_END, freq="MS", inclusive="left")
        self._rows: dict[str, pd.DataFrame] = {}

    def rows(self, dataset: str) -> pd.DataFrame:
        """A dataset's clean rows under canonical names: dates parsed, `child` (the truth's),
        `district_code` (from the postcode's outward code), `sex` as Female or Male."""
        if dataset not in self._rows:
            spec = next(s for s in CATALOGUE if s.dataset == dataset)
            frames = []
            for path in sorted((self.out / spec.partner / dataset).iterdir()):
                header, rows = read_rows(spec, path)
                frame = pd.DataFrame(rows, columns=header, dtype=object)
                frames.append(frame.assign(file=path.relative_to(self.out).as_posix(), row=np.arange(1, len(rows) + 1)))
            df = pd.concat(frames, ignore_index=True).rename(columns={h: c for c, h in spec.columns})
            df = df.merge(self.defects, on=["file", "row"], how="left")
            df = df[df["defect"].isna()].drop(columns="defect")
            df = df.merge(self.truth[self.truth["dataset"] == dataset], on=["file", "row"], validate="one_to_one")
            for column in (*spec.dates, *spec.datetimes):
                stamp = column in spec.datetimes
                fmt = spec.style.datetime_format if stamp else spec.style.date_format
                df[column] = pd.to_datetime(df[column].replace("", None), format=None if spec.fmt == "xlsx" else fmt)
            postcode = df["postcode"].str.strip().str.upper().str.replace(r"\s+", " ", regex=True)
            outward = np.where(postcode.str.contains(" "), postcode.str.split(" ").str[0], postcode.str[:-3])
            df["district_code"] = pd.Series(outward, index=df.index).map(self.outward).fillna(NONE)
            df["sex"] = df["sex"].str[0].map({"F": "Female", "M": "Male"})
            self._rows[dataset] = df.rename(columns={"child_id": "child"})
        return self._rows[dataset].copy()

    def grid(self, breakdowns: list[str]) -> pd.DataFrame:
        return pd.MultiIndex.from_product([self.months, self.districts, breakdowns], names=KEY).to_frame(index=False)

    def children(self, by_band: bool) -> pd.DataFrame:
        """Children aged 0-17 by district (and age band): district_code, breakdown, children."""
        pop = self.population.assign(breakdown="all")
        if by_band:
            banded = self.population.assign(breakdown="age_band:" + band(self.population["age"]))
            pop = pd.concat([pop, banded])
        return (
            pop.groupby(["district_code", "breakdown"], as_index=False)["population"]
            .sum()
            .rename(columns={"population": "children"})
        )

    @cached_property
    def flagged(self) -> pd.DataFrame:
        """Children with a CSE, CCE or county lines flag in the 12 months to each month's end:
        child, window (month number), and the district and sex of their latest such flag."""
        flags = self.rows("exploitation_flags")
        flags = flags[flags["flag_type"].isin(EXPLOITATION)].assign(month=lambda d: month_number(d["flag_date"]))
        spread = within_12_months(flags).sort_values(["child", "window", "flag_date"], kind="stable")
        return spread.groupby(["child", "window"], as_index=False)[["district_code", "sex"]].last()

    @cached_property
    def known_to_cs(self) -> pd.DataFrame:
        """(child, window) where the child had a contact, an open child protection plan or an open
        care episode in the 12 months to the window's end."""
        last = month_number(pd.Series([self.months[-1]]))[0]
        contacts = self.rows("contacts").assign(month=lambda d: month_number(d["contact_date"]))[["child", "month"]]
        spells = [
            self.rows("cp_plans").rename(columns={"plan_start": "start", "plan_end": "end"}),
            self.rows("cla_episodes").rename(columns={"episode_start": "start", "episode_end": "end"}),
        ]
        months = [contacts]
        for s in spells:
            first, final = month_number(s["start"]), month_number(s["end"]).fillna(last).astype(int).clip(upper=last)
            n = (final - first + 1).clip(lower=0).to_numpy()
            offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # 0, 1 ... within each spell
            months.append(pd.DataFrame({"child": np.repeat(s["child"].to_numpy(), n),
                                        "month": np.repeat(first.to_numpy(), n) + offset}))  # fmt: skip
        involved = pd.concat(months, ignore_index=True).drop_duplicates()
        return within_12_months(involved)[["child", "window"]].drop_duplicates()


def band(age: pd.Series) -> pd.Series:
    return pd.cut(age, [-1, *(upper for upper, _ in BANDS)], right=False, labels=[b for _, b in BANDS]).astype(str)


def age_at(dob: pd.Series, day: pd.Series) -> pd.Series:
    before = (day.dt.month < dob.dt.month) | ((day.dt.month == dob.dt.month) & (day.dt.day < dob.dt.day))
    return day.dt.year - dob.dt.year - before.astype(int)


def counted(landing: Landing, events: pd.DataFrame, flag: str | None, breakdowns: list[str]) -> pd.DataFrame:
    """Events (period_month, district_code, breakdown[, flag]) counted on the grid: `events`
    all of them, `flagged` those with the flag."""
    events = events.assign(_flag=events[flag] if flag else True)
    counts = events.groupby(KEY).agg(events=("_flag", "size"), flagged=("_flag", "sum")).reset_index()
    out = landing.grid(breakdowns).merge(counts, on=KEY, how="left")
    return out.fillna({"events": 0, "flagged": 0})


def parts(events: pd.DataFrame, dimensions: list[str]) -> pd.DataFrame:
    """Each event under `all` and under `<dimension>:<value>` of each dimension it has a value of."""
    frames = [events.assign(breakdown="all")]
    frames += [events[events[d].notna()].assign(breakdown=d + ":" + events[d]) for d in dimensions]
    return pd.concat(frames, ignore_index=True)


def share(landing: Landing, events: pd.DataFrame, flag: str, dimensions: list[str]) -> pd.DataFrame:
    split = parts(events, dimensions)
    out = counted(landing, split, flag, sorted(split["breakdown"].unique()))
    return out.assign(numerator=out["flagged"], denominator=out["events"])


def per_population(landing: Landing, events: pd.DataFrame, by_band: bool) -> pd.DataFrame:
    children = landing.children(by_band)
    split = parts(events, ["age_band"] if by_band else [])
    out = counted(landing, split, None, sorted(children["breakdown"].unique())).merge(
        children, on=["district_code", "breakdown"], how="left"
    )
    return out.assign(numerator=out["events"], denominator=out["children"].fillna(0))


def in_month(frame: pd.DataFrame, window: str = "window") -> pd.DataFrame:
    return frame.assign(period_month=month_start(frame[window]))


# ---- one recomputation per metric ---------------------------------------------------------


def exploited_children_per_10k(landing: Landing) -> pd.DataFrame:
    return per_population(landing, in_month(landing.flagged), by_band=False)


def exploited_children_known_to_cs(landing: Landing) -> pd.DataFrame:
    known = landing.known_to_cs.assign(known=True)
    flagged = landing.flagged.merge(known, on=["child", "window"], how="left").fillna({"known": False})
    return share(landing, in_month(flagged), "known", ["sex"])


def missing_and_exploited_per_10k(landing: Landing) -> pd.DataFrame:
    missing = landing.rows("missing_episodes").assign(month=lambda d: month_number(d["reported_at"]))
    windows = within_12_months(missing[["child", "month"]])[["child", "window"]].drop_duplicates()
    both = landing.flagged.merge(windows, on=["child", "window"])
    return per_population(landing, in_month(both), by_band=False)


def early_help(landing: Landing) -> pd.DataFrame:
    e = landing.rows("early_help_episodes")
    return e.assign(
        period_month=e["episode_start"].dt.to_period("M").dt.to_timestamp(),
        age_band=band(age_at(e["dob"], e["episode_start"])),
    )


def early_help_episodes_per_10k(landing: Landing) -> pd.DataFrame:
    return per_population(landing, early_help(landing), by_band=True)


def early_help_stepped_up_within_12_months(landing: Landing) -> pd.DataFrame:
    e = early_help(landing).reset_index(names="episode")
    contacts = landing.rows("contacts").dropna(subset=["referral_date"])[["child", "referral_date"]]
    pairs = e[["episode", "child", "episode_start"]].merge(contacts, on="child")
    after = (pairs["referral_date"] > pairs["episode_start"]) & (
        pairs["referral_date"] <= pairs["episode_start"] + pd.DateOffset(months=12)
    )
    census = landing.rows("school_census")[["child", "census_date", "sen"]]
    on_roll = e[["episode", "child", "episode_start"]].merge(census, on="child")
    on_roll = on_roll[on_roll["census_date"] <= on_roll["episode_start"]].sort_values("census_date")
    e = e.assign(
        stepped_up=e["episode"].isin(pairs.loc[after, "episode"]),
        period_month=e["period_month"] + pd.DateOffset(months=12),  # the month its 12 months end
        ethnic_group=e["ethnicity"].where(~e["ethnicity"].isin(["REFU", "NOBT"])).str[0].map(GROUP_BY_LETTER),
        send=e["episode"].map(on_roll.groupby("episode")["sen"].last()).map(SEND),
    )
    return share(landing, e, "stepped_up", ["sex", "ethnic_group", "send"])


def assessments_within_45_working_days(landing: Landing) -> pd.DataFrame:
    a = landing.rows("assessments").dropna(subset=["assessment_authorised"])
    bank = sorted(holidays.UK(subdiv="ENG", years=range(2015, 2030)))
    # working days after the start up to and including the authorisation
    days = np.busday_count(
        (a["assessment_start"] + pd.Timedelta(days=1)).to_numpy().astype("datetime64[D]"),
        (a["assessment_authorised"] + pd.Timedelta(days=1)).to_numpy().astype("datetime64[D]"),
        holidays=np.array(bank, dtype="datetime64[D]"),
    )
    a = a.assign(
        period_month=a["assessment_authorised"].dt.to_period("M").dt.to_timestamp(),
        age_band=band(age_at(a["dob"], a["assessment_start"])),
        in_time=days <= 45,
    )
    return share(landing, a, "in_time", ["age_band", "sex"])


def child_death_panel_review_within_12_months(landing: Landing) -> pd.DataFrame:
    r = landing.rows("child_death_reviews")
    r = r.assign(
        period_month=r["date_of_death"].dt.to_period("M").dt.to_timestamp() + pd.DateOffset(months=12),
        in_time=r["panel_review"] <= r["date_of_death"] + pd.DateOffset(months=12),
    )
    return share(landing, r, "in_time", [])


RECOMPUTED = {f.__name__: f for f in (
    exploited_children_per_10k, exploited_children_known_to_cs, missing_and_exploited_per_10k,
    early_help_episodes_per_10k, early_help_stepped_up_within_12_months, assessments_within_45_working_days,
    child_death_panel_review_within_12_months,
)}  # fmt: skip


@pytest.fixture(scope="module")
def landing(small: GenerationResult) -> Landing:
    return Landing(small)


@pytest.fixture(scope="module")
def district_values(first_run, home: Path) -> pd.DataFrame:
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        frame = con.execute(
            "SELECT * FROM metric_district_values WHERE list_contains(?, metric_id)", [list(RECOMPUTED)]
        ).df()
    frame["district_code"] = frame["district_code"].fillna(NONE)
    frame["period_month"] = pd.to_datetime(frame["period_month"])
    return frame


@pytest.mark.parametrize("metric", sorted(RECOMPUTED))
def test_priority_metric_matches_a_recomputation_from_the_landing_files(
    landing: Landing, district_values: pd.DataFrame, metric: str
) -> None:
    expected = RECOMPUTED[metric](landing)[[*KEY, "numerator", "denominator"]]
    got = district_values[district_values["metric_id"] == metric][[*KEY, "numerator", "denominator"]]
    merged = got.merge(expected, on=KEY, how="outer", suffixes=("", "_expected"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    for column in ("numerator", "denominator"):
        wrong = merged[merged[column] != merged[f"{column}_expected"]]
        assert wrong.empty, wrong.head()
    assert expected["numerator"].sum() > 0, "the synthetic data should exercise every metric"


def test_breakdowns_are_by_sex_ethnic_group_and_send_where_the_sources_carry_them(
    district_values: pd.DataFrame,
) -> None:
    dimensions = district_values.assign(dimension=district_values["breakdown"].str.split(":").str[0])
    found = dimensions.groupby("metric_id")["dimension"].agg(lambda d: set(d) - {"all"}).to_dict()
    assert found == {
        "exploited_children_per_10k": set(),
        "exploited_children_known_to_cs": {"sex"},
        "missing_and_exploited_per_10k": set(),
        "early_help_episodes_per_10k": {"age_band"},
        "early_help_stepped_up_within_12_months": {"sex", "ethnic_group", "send"},
        "assessments_within_45_working_days": {"age_band", "sex"},
        "child_death_panel_review_within_12_months": set(),
    }


def test_the_comparators_name_their_publication_and_reach_the_shared_store(first_run, home: Path) -> None:
    table = pd.read_csv(REPO / "reference" / "comparators.csv", dtype=str, keep_default_na=False)
    metrics = {m.id for m in load_catalogue()}
    assert set(table["metric_id"]) <= metrics
    assert (table["publication"] != "").all() and (table["period"] != "").all()
    assert set(table["comparator"]) == {"England", "Statistical neighbours"}
    given = table[table["value"] != ""]
    assert pd.to_numeric(given["value"]).notna().all() and (given["url"] != "").all()
    assert (table.loc[table["value"] == "", "note"] != "").all(), "an empty value says why"
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        stored = con.execute("SELECT metric_id, comparator, period, value FROM ref_comparator").df()
    assert len(stored) == len(table)
    assert stored.dropna(subset=["value"]).set_index(["metric_id", "comparator", "period"])["value"].to_dict() == {
        tuple(r[:3]): float(r[3]) for r in given[["metric_id", "comparator", "period", "value"]].itertuples(index=False)
    }


def test_every_threshold_names_its_source_in_the_dictionary(first_run, home: Path) -> None:
    text = (home / "published" / "metric_dictionary.md").read_text()
    for m in load_catalogue():
        line = f"- **Threshold source**: {m.thresholds.source if m.thresholds else 'none'}"
        assert line in text, m.id


def test_the_readme_lists_every_metric() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert [m.id for m in load_catalogue() if f"| `{m.id}` |" not in text] == []
