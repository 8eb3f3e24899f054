"""The recovery attack on the published fact table, written apart from the hub's own code.

The attacker knows every published count, how the tables add up (a county is its districts
and counts with no district, a locality its districts, `all` the parts of a breakdown and what
is in none, a quarter or rolling year its months, or its last month for a stock, a counted
denominator its numerator and the rest, where the metric says the rest counts people) and that
counts are not negative; such a rest is a count to protect like any other. Counts no one sees
(with no district, or in no part of a breakdown) that are 0 throughout a series it takes as 0, as
a reader finds them wherever the rest of their relation is shown. It reads the
data-quality scorecard too: each dataset's rows received are its rows loaded and quarantined,
and the data-quality metrics' partner figures are sums of the partner's datasets (rows with an
NHS number or UPN being coverage times rows loaded), a dataset's rows loaded may be another
metric's county total; a stock's month is the month before's plus one flow less another
(plans open, started and ended), where the counts say so; one metric's count may be
another's of some months before (deaths reviewed by the panel within 12 months are the deaths
of a year before); where the scorecard leaves out
some of the months the data-quality metrics cover, a month it lists had rows (at least 1
received). For every hidden small count,
two linear programmes give the least and greatest value consistent with all that, as
sdcTable's attack() does; any other hidden cell gets the range seen among the points those
programmes find (inside the attacker's), since only a small count must not be worked out.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import highspy
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

KEY = ["metric_id", "measure", "period_id", "geography_code", "breakdown"]
CAP = 1e9
CARD = "dq_scorecard"
# the data-quality metrics' partner figures as sums of the scorecard's dataset rows:
# metric -> {measure: (scorecard count summed, the datasets it is summed over)}
PARTNER_SUMS = {
    "identifier_validity": {"numerator": ("rows_loaded", None), "denominator": ("rows_received", None)},
    "nhs_number_coverage": {
        "numerator": ("rows_with_nhs_number", "rows_with_nhs_number"),
        "denominator": ("rows_loaded", "rows_with_nhs_number"),
    },
    "upn_coverage": {"numerator": ("rows_with_upn", "rows_with_upn"), "denominator": ("rows_loaded", "rows_with_upn")},
}


def _cells(published: Path, shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(published), read_only=True) as con:
        fact = con.execute("SELECT * FROM fact_metric_value").df()
        metric = con.execute(
            "SELECT metric_id, aggregation, denominator_type, complement_definition FROM dim_metric"
        ).df()
        period = con.execute("SELECT period_id, period_type, start_date, end_date FROM dim_period").df()
    with duckdb.connect(str(shared), read_only=True) as con:
        truth = con.execute(
            "SELECT metric_id, period_id, geography_code, breakdown, numerator, denominator, hidden FROM metric_values"
        ).df()
    counted = set(metric.loc[metric["denominator_type"] == "count", "metric_id"])
    frames = []
    for measure in ("numerator", "denominator"):
        t = truth if measure == "numerator" else truth[truth["metric_id"].isin(counted)]
        t = t.rename(columns={measure: "true"})[["metric_id", "period_id", "geography_code", "breakdown", "true",
                                                 "hidden"]].assign(measure=measure)  # fmt: skip
        f = fact.rename(columns={measure: "shown"})[["metric_id", "period_id", "geography_code", "breakdown", "shown"]]
        frames.append(t.merge(f.assign(measure=measure), on=KEY, how="left"))
    # the rest of a counted denominator, where it counts people: denominator less numerator
    rest = set(metric.loc[metric["complement_definition"].fillna("") != "", "metric_id"])
    whole = [k for k in KEY if k != "measure"]
    num, den = (f[f["metric_id"].isin(rest)].set_index(whole) for f in frames)
    frames.append(
        (den[["true", "shown"]] - num[["true", "shown"]]).join(num["hidden"]).reset_index().assign(measure="complement")
    )
    return read_as_published(pd.concat(frames, ignore_index=True)), metric, period


def read_as_published(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells (KEY, `true`, `shown`, `hidden`) as a reader holds them, numbered (`cell`): a cell no
    one sees (records with no district, or in no part of a breakdown) whose series is 0
    throughout reads as 0, since wherever the rest of its relation is shown it comes out 0;
    every other cell not shown is unknown, and not negative."""
    cells = cells.copy()
    series = [cells[c] for c in ("metric_id", "measure", "geography_code", "breakdown")]
    always_zero = cells["true"].fillna(0).eq(0).groupby(series).transform("all")
    cells.loc[cells["hidden"] & always_zero & cells["shown"].isna(), "shown"] = 0.0
    cells["unknown"] = cells["shown"].isna()
    cells["least"] = 0.0  # counts are not negative
    return cells.reset_index(drop=True).reset_index(names="cell")


def _scorecard(published: Path, shared: Path, county: str) -> pd.DataFrame:
    """The scorecard's counts of each dataset and known month as cells of a metric of its own:
    rows received, loaded and quarantined, and rows with an NHS number or UPN (coverage times
    rows loaded, in datasets that carry the identifier), each with its true value and what is shown."""
    with duckdb.connect(str(published), read_only=True) as con:
        shown = con.execute(
            f"SELECT partner, dataset, period_id, rows_received, rows_loaded, rows_quarantined, "
            f"round(nhs_number_coverage * rows_loaded) AS rows_with_nhs_number, "
            f"round(upn_coverage * rows_loaded) AS rows_with_upn FROM {CARD} WHERE period_id <> 'unknown'"
        ).df()
        covered = {
            p
            for (p,) in con.execute(
                "SELECT DISTINCT period_id FROM fact_metric_value JOIN dim_period USING (period_id) "
                "WHERE metric_id = 'identifier_validity' AND period_type = 'month'"
            ).fetchall()
        }
    with duckdb.connect(str(shared), read_only=True) as con:
        truth = con.execute(
            "SELECT partner, dataset, strftime(period_month, '%Y-%m') AS period_id, rows_received, rows_loaded, "
            "rows_quarantined, CASE WHEN bool_or(nhs_number_coverage IS NOT NULL) OVER w "
            "THEN coalesce(round(nhs_number_coverage * rows_loaded), 0) END AS rows_with_nhs_number, "
            "CASE WHEN bool_or(upn_coverage IS NOT NULL) OVER w "
            "THEN coalesce(round(upn_coverage * rows_loaded), 0) END AS rows_with_upn "
            "FROM dq_monthly WHERE period_month <= current_date WINDOW w AS (PARTITION BY partner, dataset)"
        ).df()
    counts = ["rows_received", "rows_loaded", "rows_quarantined", "rows_with_nhs_number", "rows_with_upn"]
    key = ["partner", "dataset", "period_id"]
    # a month listed with no rows delivered is a 0 the reader cannot tell from a hidden count:
    # an unknown like any other (of a count the dataset carries at all)
    melted = truth.melt(key, counts, "measure", "true")
    carried = melted["true"].notna().groupby([melted["partner"], melted["dataset"], melted["measure"]]).any()
    both = shown.melt(key, counts, "measure", "shown").merge(melted, on=[*key, "measure"], how="left")
    both = both.join(carried.rename("carried"), on=["partner", "dataset", "measure"])
    both["true"] = both["true"].fillna(both["carried"].map({True: 0.0}))
    both = both[both["true"].notna()].drop(columns="carried").astype({"true": float, "shown": float})
    listed = shown[shown["period_id"].isin(covered)].groupby(["partner", "dataset"])["period_id"].nunique()
    listed_only_with_rows = both.join((listed < len(covered)).rename("sparse"), on=["partner", "dataset"])["sparse"]
    listed_only_with_rows = listed_only_with_rows.fillna(False).astype(bool).to_numpy()
    # a share shown beside rows loaded of 0 tells the count too: 0
    loaded = both.loc[both["measure"] == "rows_loaded"].set_index(key)["shown"]
    zero = (
        both["shown"].isna()
        & both["measure"].str.startswith("rows_with")
        & (both.join(loaded.rename("loaded"), on=key)["loaded"] == 0)
    )
    both.loc[zero, "shown"] = 0.0
    return both.assign(
        metric_id=CARD,
        geography_code=county,
        breakdown="partner/dataset:" + both["partner"] + "/" + both["dataset"],
        hidden=False,
        least=np.where(listed_only_with_rows & (both["measure"] == "rows_received"), 1.0, 0.0),
        unknown=both["shown"].isna(),
    )


def _scorecard_relations(months: pd.DataFrame, county: str) -> pd.DataFrame:
    """(relation, cell, coefficient) rows: rows received = loaded + quarantined, and each partner
    figure of the data-quality metrics = the sum over the partner's datasets."""
    card = months[months["metric_id"] == CARD]
    if card.empty:  # cells without the scorecard: no sums to read off it
        return _relations_of([])
    cell = card.set_index(["partner", "dataset", "period_id", "measure"])["cell"]
    rel = []
    received = card[card["measure"] == "rows_received"]
    for r in received.itertuples():
        ids = f"card|{r.cell}"
        rel.append((ids, r.cell, -1.0))
        for part in ("rows_loaded", "rows_quarantined"):
            rel.append((ids, cell[(r.partner, r.dataset, r.period_id, part)], 1.0))
    partners = months[(months["geography_code"] == county) & months["breakdown"].str.startswith("partner:")]
    for metric, measures in PARTNER_SUMS.items():
        for t in partners[partners["metric_id"] == metric].itertuples():
            summed, among = measures[t.measure]
            parts = card[(card["partner"] == t.breakdown.split(":", 1)[1]) & (card["period_id"] == t.period_id)]
            if among:
                parts = parts[parts["dataset"].isin(set(parts.loc[parts["measure"] == among, "dataset"]))]
            ids = f"partner|{t.cell}"
            rel.append((ids, t.cell, -1.0))
            rel.extend((ids, c, 1.0) for c in parts.loc[parts["measure"] == summed, "cell"])
    return pd.DataFrame(rel, columns=["relation", "cell", "coef"])


def _relations(cells: pd.DataFrame, districts: pd.DataFrame) -> pd.DataFrame:
    """(relation, cell, coefficient) rows among month cells: each says total = sum of parts."""
    rel = []

    def add(totals: pd.DataFrame, parts: pd.DataFrame, on: list[str], name: str) -> None:
        pairs = totals.merge(parts, on=on, suffixes=("_t", "_p"))
        ids = name + "|" + pairs["cell_t"].astype(str)
        if "dimension" in pairs:
            ids = ids + "|" + pairs["dimension"]
        rel.append(pd.DataFrame({"relation": ids, "cell": pairs["cell_p"], "coef": 1.0}))
        rel.append(pd.DataFrame({"relation": ids, "cell": pairs["cell_t"], "coef": -1.0}).drop_duplicates())

    c = cells
    same = ["metric_id", "measure", "period_id", "breakdown"]
    locality = dict(zip(districts["district_code"], districts["locality_code"], strict=True))
    county = districts["county_code"].iloc[0]
    is_district = c["geography_code"].isin(locality) | c["geography_code"].str.startswith("~")
    parts = c[is_district].assign(locality=c["geography_code"].map(locality))
    add(c[c["geography_code"] == county][[*same, "cell"]], parts[[*same, "cell"]], same, "county")
    localities = c[c["geography_code"].isin(set(locality.values()))].rename(columns={"geography_code": "locality"})
    add(localities[[*same, "cell", "locality"]], parts[[*same, "cell", "locality"]], [*same, "locality"], "locality")
    whole = ["metric_id", "measure", "period_id", "geography_code"]
    split = c[c["breakdown"] != "all"].assign(dimension=lambda d: d["breakdown"].str.split(":").str[0])
    add(c[c["breakdown"] == "all"][[*whole, "cell"]], split[[*whole, "cell", "dimension"]], whole, "breakdown")
    return pd.concat(rel, ignore_index=True)


def _ranges(cells: pd.DataFrame, districts: pd.DataFrame, tied: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Least and greatest value of each unknown small count, by linear programming over the
    published cells and the relations between them (`tied`: the periods that are totals of their
    months), and the range other unknown cells are seen to take. Where a feasible point already
    shows a small count ranging wider than the threshold, that range (inside the attacker's) is
    reported instead of the exact one: it proves the cell safe."""
    months = cells[cells["period_type"] == "month"]  # the relations among periods follow from these and `tied`
    rel = pd.concat([_relations(months, districts), tied], ignore_index=True)
    rel = rel.join(cells.set_index("cell")[["unknown", "shown"]], on="cell")
    rel = rel[rel.groupby("relation")["unknown"].transform("any")]
    unknown = cells.loc[cells["unknown"], "cell"].to_numpy()
    truth = cells.set_index("cell").loc[unknown, "true"].to_numpy(dtype=float)
    least = cells.set_index("cell").loc[unknown, "least"].to_numpy(dtype=float)
    column = pd.Series(np.arange(len(unknown)), index=unknown)
    rows, relations = pd.factorize(rel["relation"])
    known = ~rel["unknown"].to_numpy()
    rhs = -np.bincount(rows[known], weights=(rel["coef"] * rel["shown"]).to_numpy()[known], minlength=len(relations))
    u_rows, u_cols = rows[~known], column.loc[rel["cell"].to_numpy()[~known]].to_numpy()
    a = csr_matrix((rel["coef"].to_numpy()[~known], (u_rows, u_cols)), shape=(len(relations), len(unknown)))
    group = _components(u_rows, u_cols, len(unknown))
    lower, upper = np.zeros(len(unknown)), np.full(len(unknown), np.inf)
    for g in np.unique(group):
        cols = np.flatnonzero(group == g)
        eqs = np.unique(u_rows[np.isin(u_cols, cols)])
        if not len(eqs):
            continue  # in no relation with anything published: anything from 0 up
        lower[cols], upper[cols] = _bounds(a[eqs][:, cols].tocsc(), rhs[eqs], truth[cols], least[cols], threshold)
    return pd.DataFrame({"cell": unknown, "lower": lower, "upper": upper})


def _bounds(
    matrix, rhs: np.ndarray, truth: np.ndarray, least: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each small count (true value 1 to the threshold) subject to matrix @ x = rhs,
    x >= least (HiGHS, one model warm-started throughout). Every feasible point seen (the truth,
    each optimum) bounds every range from inside; a small count seen to range wider than the
    threshold needs no LPs of its own. The points come first from pushing all variables, then
    every still-narrow small count, down and up together (on tables that chain thousands of cells
    one programme per cell would take hours), and last from each count left on its own."""
    n = matrix.shape[1]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, matrix.shape[0]
    # a cap far above any count keeps every maximum finite (a capped optimum is still a point the
    # tables allow); a maximum at the cap is reported as unbounded
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.zeros(n), least, np.full(n, CAP)
    lp.row_lower_ = lp.row_upper_ = rhs
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    assert np.allclose(matrix @ truth, rhs), "the published tables do not add up to the truth"
    lower, upper = truth.copy(), truth.copy()

    def solve(columns: np.ndarray, sense: highspy.ObjSense) -> float:
        h.changeColsCost(len(columns), columns, np.ones(len(columns)))
        h.changeObjectiveSense(sense)
        h.run()
        status = h.getModelStatus()
        assert status != highspy.HighsModelStatus.kInfeasible, "the published tables contradict themselves"
        assert status == highspy.HighsModelStatus.kOptimal, status
        x, best = np.asarray(h.getSolution().col_value), h.getInfo().objective_function_value
        h.changeColsCost(len(columns), columns, np.zeros(len(columns)))
        np.minimum(lower, x, out=lower)
        np.maximum(upper, x, out=upper)
        return best

    def narrow() -> np.ndarray:
        return np.flatnonzero(small & (upper - lower <= threshold + 1e-6)).astype(np.int32)

    small = (truth >= 1) & (truth <= threshold)
    columns, left = np.arange(n, dtype=np.int32), n + 1
    while 0 < len(columns) < left:
        left = len(columns)
        solve(columns, highspy.ObjSense.kMinimize)
        solve(columns, highspy.ObjSense.kMaximize)
        columns = narrow()
    for j in columns:
        if upper[j] - lower[j] > threshold + 1e-6:
            continue  # a point found for another count showed this one wide too
        one = np.array([j], dtype=np.int32)
        lower[j] = solve(one, highspy.ObjSense.kMinimize)
        upper[j] = solve(one, highspy.ObjSense.kMaximize)
    upper[upper >= CAP - 1] = np.inf
    return lower, upper


def attack(published: Path, shared: Path, districts: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Every hidden cell with its true value and the range an attacker can derive.

    A quarter or rolling year is the sum of its months (a stock: its last month). A published
    one whose months are all published tells nothing the months do not; a published one with a
    hidden month joins the linear programme as the total of its months, beside the month cells'
    own relations (which, with those totals, imply the relations among periods). A hidden one
    ranges over the sum of its months' ranges."""
    cells, metric, period = _cells(published, shared)
    county = districts["county_code"].iloc[0]
    card = _scorecard(published, shared, county)
    cells = pd.concat([cells, card.assign(cell=card.index + len(cells))], ignore_index=True)
    metric = pd.concat([metric, pd.DataFrame({"metric_id": [CARD], "aggregation": ["flow"]})], ignore_index=True)
    return attack_cells(cells.merge(period, on="period_id").merge(metric, on="metric_id"), districts, threshold)


def attack_cells(cells: pd.DataFrame, districts: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """`attack` on cells as a reader holds them (`read_as_published`), each with its period
    (`period_type`, `start_date`, `end_date`) and its metric's `aggregation`."""
    county = districts["county_code"].iloc[0]
    months = cells[cells["period_type"] == "month"]
    series = ["metric_id", "measure", "geography_code", "breakdown"]
    longer = cells[cells["period_type"] != "month"]
    pairs = longer[[*series, "cell", "start_date", "end_date", "aggregation", "unknown"]].merge(
        months[[*series, "cell", "start_date", "unknown", "shown"]].rename(
            columns={"cell": "month_cell", "start_date": "month", "unknown": "month_unknown", "shown": "month_shown"}
        ),
        on=series,
    )
    last = pairs["month"].dt.to_period("M") == pairs["end_date"].dt.to_period("M")
    inside = (pairs["month"] >= pairs["start_date"]) & (pairs["month"] <= pairs["end_date"])
    pairs = pairs[np.where(pairs["aggregation"] == "flow", inside, last)]
    open_months = pairs.groupby("cell")["month_unknown"].transform("any")
    tied_pairs = pairs[open_months & ~pairs["unknown"]]
    ids = "period|" + tied_pairs["cell"].astype(str)
    tied = pd.concat(
        [
            pd.DataFrame({"relation": ids, "cell": tied_pairs["month_cell"], "coef": 1.0}),
            pd.DataFrame({"relation": ids, "cell": tied_pairs["cell"], "coef": -1.0}).drop_duplicates(),
        ],
        ignore_index=True,
    )
    in_lp = pd.concat([months, longer[longer["cell"].isin(tied_pairs["cell"])]], ignore_index=True)
    known = pd.concat(
        [tied, _same_counts(months, county), _lagged_counts(months, county), _scorecard_relations(months, county),
         _rests(months),
         _stock_flows(months)],
        ignore_index=True,
    )  # fmt: skip
    out = in_lp.join(_ranges(in_lp, districts, known, threshold).set_index("cell"), on="cell")
    months_out = out[out["period_type"] == "month"].set_index("cell")[["lower", "upper"]]
    hidden = pairs[pairs["unknown"]].join(months_out, on="month_cell")
    shown = hidden["month_shown"].astype(float)
    hidden["lower"] = hidden["lower"].fillna(shown)
    hidden["upper"] = hidden["upper"].fillna(shown)
    sums = longer[longer["unknown"]].join(hidden.groupby("cell")[["lower", "upper"]].sum(), on="cell")
    out = pd.concat([out, sums], ignore_index=True)
    out = out[out["unknown"]]
    return out[[*KEY, "period_type", "true", "hidden", "lower", "upper"]].reset_index(drop=True)


def _rests(months: pd.DataFrame) -> pd.DataFrame:
    """(relation, cell, coefficient) rows: a counted denominator is its numerator and the rest."""
    cell = months.set_index(["metric_id", "period_id", "geography_code", "breakdown", "measure"])["cell"].unstack()
    cell = cell[cell["complement"].notna()] if "complement" in cell else cell.iloc[:0]
    ids = "rest|" + cell["denominator"].astype(int).astype(str)
    return pd.concat(
        [pd.DataFrame({"relation": ids, "cell": cell[m].astype(int), "coef": c})
         for m, c in (("denominator", -1.0), ("numerator", 1.0), ("complement", 1.0))],
        ignore_index=True,
    )  # fmt: skip


def _stock_flows(months: pd.DataFrame) -> pd.DataFrame:
    """(relation, cell, coefficient) rows saying a stock's month is the month before's plus what
    flowed in less what flowed out: plans open at a month's end are those open a month before,
    plus plans started, less plans ended. The attacker reads the definitions; here a stock series
    whose month-on-month change equals one flow series less another (or either alone) of the same
    breakdown, in every place and month, stands for such a definition."""
    m = months[months["metric_id"] != CARD].assign(
        series=lambda d: d["metric_id"] + "|" + d["measure"] + "|" + d["breakdown"],
        month=lambda d: d["start_date"].dt.to_period("M"),
    )
    rel = []
    for _, one in m.groupby("breakdown"):
        value = one.pivot_table(index=["geography_code", "month"], columns="series", values="true", aggfunc="first")
        cell = one.pivot_table(index=["geography_code", "month"], columns="series", values="cell", aggfunc="first")
        stocks = sorted(set(one.loc[one["aggregation"] == "stock", "series"]))
        flows = sorted(set(one.loc[one["aggregation"] == "flow", "series"]))
        if not stocks or not flows:
            continue
        before = value.rename(index=lambda p: p + 1, level="month")
        rows = value.index.intersection(before.index)
        change = value.loc[rows, stocks] - before.loc[rows, stocks]
        inflow = value.loc[rows, flows].dropna(axis=1).assign(none=0.0)
        by_values = {tuple(inflow[f].to_numpy()): f for f in inflow.columns}
        prior = cell.rename(index=lambda p: p + 1, level="month").loc[rows]
        for s in stocks:
            d = change[s].to_numpy()
            if np.isnan(d).any() or not d.any():
                continue
            for f_in in inflow.columns:
                f_out = by_values.get(tuple(inflow[f_in].to_numpy() - d))
                if f_out is None or f_out == f_in:
                    continue
                ids = f"stock|{s}|{f_in}|{f_out}|" + pd.Series(range(len(rows))).astype(str)
                for column, frame, coef in ((s, cell, 1.0), (s, prior, -1.0), (f_in, cell, -1.0), (f_out, cell, 1.0)):
                    if column != "none":
                        rel.append(
                            pd.DataFrame({"relation": ids, "cell": frame.loc[rows, column].to_numpy(), "coef": coef})
                        )
    return _relations_of(rel)


def _same_counts(months: pd.DataFrame, county: str) -> pd.DataFrame:
    """(relation, cell, coefficient) rows saying a month cell of one metric is the same count as
    the cell of another: the attacker reads the definitions (one metric's denominator is another's
    numerator, two metrics count the same deaths, two break down by the same datasets, one
    metric's total is a part of another's: contacts received are the contacts dataset's rows
    loaded). Here two series (metric, measure and breakdown) that are equal in every cell they
    share, and not all zero, stand for such a definition; so do a metric's `all` series and
    another metric's part equal in every county cell, at the county."""
    s = months[["period_id", "geography_code", "breakdown", "metric_id", "measure", "cell", "true"]].assign(
        series=lambda d: d["metric_id"] + "|" + d["measure"] + "|" + d["breakdown"]
    )
    alike = s.merge(s, on=["period_id", "geography_code", "breakdown"], suffixes=("_a", "_b"))
    at_county = s[s["geography_code"] == county]
    totals, parts = at_county[at_county["breakdown"] == "all"], at_county[at_county["breakdown"] != "all"]
    total_part = totals.merge(parts, on=["period_id", "geography_code"], suffixes=("_a", "_b"))
    total_part = total_part[total_part["metric_id_a"] != total_part["metric_id_b"]]
    pairs = pd.concat([_equal_throughout(alike[alike["series_a"] < alike["series_b"]]), _equal_throughout(total_part)])
    ids = "same|" + pairs["cell_a"].astype(str) + "|" + pairs["cell_b"].astype(str)
    return pd.concat(
        [
            pd.DataFrame({"relation": ids, "cell": pairs["cell_a"], "coef": 1.0}),
            pd.DataFrame({"relation": ids, "cell": pairs["cell_b"], "coef": -1.0}),
        ],
        ignore_index=True,
    )


LONGEST_LAG = 24  # months


def _lagged_counts(months: pd.DataFrame, county: str) -> pd.DataFrame:
    """(relation, cell, coefficient) rows saying a month cell of one metric is the same count as
    another metric's cell some months before, in every place: the attacker reads the definitions
    (the deaths the panel reviews within 12 months of them are the deaths of a year before, the
    early help episodes stepped up within 12 months those of a year before). Here a series equal,
    in every place, month by month, to another's the same number of months before (1 to
    `LONGEST_LAG`), and not all zero, stands for such a definition; the county's months, compared
    first as whole series, find the candidates."""
    m = months[months["metric_id"] != CARD].assign(
        series=lambda d: d["metric_id"] + "|" + d["measure"] + "|" + d["breakdown"],
        month=lambda d: d["start_date"].dt.to_period("M").astype("int64"),
    )
    rel = []
    for _, one in m[m["geography_code"] == county].groupby("breakdown"):
        grid = one.pivot_table(index="series", columns="month", values="true", aggfunc="first")
        grid = grid.reindex(columns=range(grid.columns.min(), grid.columns.max() + 1))
        values = grid.to_numpy()
        for lag in range(1, min(LONGEST_LAG, values.shape[1] - 1) + 1):
            later, earlier = values[:, None, lag:], values[None, :, :-lag]
            both = ~np.isnan(later) & ~np.isnan(earlier)
            equal = np.where(both, later == earlier, True).all(axis=2)
            counted = (both & (later > 0)).any(axis=2) & (both.sum(axis=2) >= 12)
            another = ~np.eye(len(values), dtype=bool)  # one series against another, not itself
            for i, j in zip(*np.nonzero(equal & counted & another), strict=True):
                a, b = grid.index[i], grid.index[j]
                pairs = (
                    m[m["series"] == a]
                    .assign(month=lambda d, k=lag: d["month"] - k)
                    .merge(m[m["series"] == b], on=["geography_code", "month"], suffixes=("_a", "_b"))
                )
                if (pairs["true_a"] == pairs["true_b"]).all():
                    ids = f"lag|{a}|{b}|{lag}|" + pairs["cell_a"].astype(str)
                    rel.append(pd.DataFrame({"relation": ids, "cell": pairs["cell_a"], "coef": 1.0}))
                    rel.append(pd.DataFrame({"relation": ids, "cell": pairs["cell_b"], "coef": -1.0}))
    return _relations_of(rel)


def _relations_of(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """(relation, cell, coefficient) frames as one, typed even when there are none (the linear
    programme reads the coefficients as numbers)."""
    columns = {"relation": str, "cell": int, "coef": float}
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return pd.concat(frames, ignore_index=True).astype(columns) if frames else empty


def _equal_throughout(pairs: pd.DataFrame) -> pd.DataFrame:
    """The cell pairs of the series pairs equal in every cell they share, and not all zero."""
    verdict = (
        pairs.assign(
            differ=pairs["true_a"].fillna(-1) != pairs["true_b"].fillna(-1), counted=pairs["true_a"].fillna(0) > 0
        )
        .groupby(["series_a", "series_b"])[["differ", "counted"]]
        .any()
    )
    same = verdict[~verdict["differ"] & verdict["counted"]].index
    return pairs.set_index(["series_a", "series_b"]).loc[lambda d: d.index.isin(same)].reset_index()


def _components(rows: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    """Groups of unknowns that share a relation (union-find)."""
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[int, int] = {}
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if r in first:
            a, b = find(first[r]), find(c)
            if a != b:
                parent[a] = b
        else:
            first[r] = c
    return np.array([find(i) for i in range(n)])
