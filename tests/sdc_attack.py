"""The recovery attack on the published fact table, written apart from the hub's own code.

The attacker knows every published count, how the tables add up (a county is its districts
and counts with no district, a locality its districts, `all` the parts of a breakdown and what
is in none, a quarter or rolling year its months, or its last month for a stock) and that
counts are not negative. For every hidden cell, two linear programmes give the least and
greatest value consistent with all that, as sdcTable's attack() does.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import highspy
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

KEY = ["metric_id", "measure", "period_id", "geography_code", "breakdown"]


def _cells(published: Path, shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with duckdb.connect(str(published), read_only=True) as con:
        fact = con.execute("SELECT * FROM fact_metric_value").df()
        metric = con.execute("SELECT metric_id, aggregation, denominator_type FROM dim_metric").df()
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
    cells = pd.concat(frames, ignore_index=True)
    cells["unknown"] = cells["shown"].isna()
    return cells.reset_index(names="cell"), metric, period


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


def _month_ranges(cells: pd.DataFrame, districts: pd.DataFrame) -> pd.DataFrame:
    """Least and greatest value of each unknown month cell, by linear programming over the
    published month cells and the relations between them."""
    rel = _relations(cells, districts)
    rel = rel.join(cells.set_index("cell")[["unknown", "shown"]], on="cell")
    rel = rel[rel.groupby("relation")["unknown"].transform("any")]
    unknown = cells.loc[cells["unknown"], "cell"].to_numpy()
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
        lower[cols], upper[cols] = _bounds(a[eqs][:, cols].tocsc(), rhs[eqs])
    return pd.DataFrame({"cell": unknown, "lower": lower, "upper": upper})


def _bounds(matrix, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each variable subject to matrix @ x = rhs, x >= 0: one model, each
    variable's objective in turn, warm-started from the last solution (HiGHS)."""
    n = matrix.shape[1]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, matrix.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.zeros(n), np.zeros(n), np.full(n, highspy.kHighsInf)
    lp.row_lower_ = lp.row_upper_ = rhs
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    for j in range(n):
        h.changeColCost(j, 1.0)
        for sense, out in ((highspy.ObjSense.kMinimize, lower), (highspy.ObjSense.kMaximize, upper)):
            h.changeObjectiveSense(sense)
            h.run()
            status = h.getModelStatus()
            assert status != highspy.HighsModelStatus.kInfeasible, "the published tables contradict themselves"
            if status == highspy.HighsModelStatus.kOptimal:
                out[j] = h.getInfo().objective_function_value
        h.changeColCost(j, 0.0)
    return lower, upper


def attack(published: Path, shared: Path, districts: pd.DataFrame) -> pd.DataFrame:
    """Every hidden cell with its true value and the range an attacker can derive.

    A quarter or rolling year is the sum of its months (a stock: its last month). When each
    published one has only published months, it tells nothing the months do not, and a hidden
    one ranges over the sum of its months' ranges: the attack runs on months, then adds up.
    That condition is asserted, not assumed."""
    cells, metric, period = _cells(published, shared)
    cells = cells.merge(period, on="period_id").merge(metric, on="metric_id")
    months = cells[cells["period_type"] == "month"]
    ranges = _month_ranges(months, districts).set_index("cell")
    months = months.join(ranges, on="cell")
    shown = months["shown"].astype("float64")
    months["lower"] = months["lower"].fillna(shown)
    months["upper"] = months["upper"].fillna(shown)
    series = ["metric_id", "measure", "geography_code", "breakdown"]
    longer = cells[cells["period_type"] != "month"]
    pairs = longer[[*series, "cell", "start_date", "end_date", "aggregation", "unknown"]].merge(
        months[[*series, "start_date", "unknown", "lower", "upper"]].rename(
            columns={"start_date": "month", "unknown": "month_unknown"}
        ),
        on=series,
    )
    last = pairs["month"].dt.to_period("M") == pairs["end_date"].dt.to_period("M")
    inside = (pairs["month"] >= pairs["start_date"]) & (pairs["month"] <= pairs["end_date"])
    pairs = pairs[np.where(pairs["aggregation"] == "flow", inside, last)]
    leaky = pairs[~pairs["unknown"] & pairs["month_unknown"]]
    assert leaky.empty, f"{leaky['cell'].nunique()} published periods contain hidden months"
    sums = pairs.groupby("cell")[["lower", "upper"]].sum()
    longer = longer.join(sums, on="cell")
    out = pd.concat([months, longer], ignore_index=True)
    out = out[out["unknown"]]
    return out[[*KEY, "period_type", "true", "hidden", "lower", "upper"]].reset_index(drop=True)


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
