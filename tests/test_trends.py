"""Trends and alerts: the XmR process-control signals recomputed here in plain Python from
the published monthly values, rag from thresholds and the county, and alerts in words."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

UP = ("above", "rising", "close to the upper")


def _table(home: Path, name: str) -> pd.DataFrame:
    return pq.read_table(home / "published" / "parquet" / f"{name}.parquet").to_pandas()


def xmr_rules(values: list[float]) -> list[str | None]:
    """The Making Data Count rule each point breaks first, if any (None: common cause)."""
    n = len(values)
    mean = sum(values) / n
    moving = [abs(values[i] - values[i - 1]) for i in range(1, n)]
    mr = sum(moving) / len(moving)
    upper, lower, sigma = mean + 2.66 * mr, mean - 2.66 * mr, mr / 1.128
    side = [(v > mean) - (v < mean) for v in values]
    step = [None] + [(values[i] > values[i - 1]) - (values[i] < values[i - 1]) for i in range(1, n)]
    near = [1 if v > mean + 2 * sigma else -1 if v < mean - 2 * sigma else 0 for v in values]

    def run_length(seq: list, i: int) -> int:
        lo = hi = i
        while lo > 0 and seq[lo - 1] == seq[i]:
            lo -= 1
        while hi < n - 1 and seq[hi + 1] == seq[i]:
            hi += 1
        return hi - lo + 1

    rules = []
    for i, v in enumerate(values):
        recent = near[max(0, i - 2) : i + 1]
        if v > upper:
            rule = "above the upper process limit"
        elif v < lower:
            rule = "below the lower process limit"
        elif side[i] and run_length(side, i) >= 7:
            rule = f"{'above' if side[i] > 0 else 'below'} the average for 7 or more months running"
        elif step[i] and run_length(step, i) + 1 >= 7:
            rule = f"{'rising' if step[i] > 0 else 'falling'} for 7 or more months running"
        elif near[i] == 1 and recent.count(1) >= 2:
            rule = "close to the upper process limit in 2 of the last 3 months"
        elif near[i] == -1 and recent.count(-1) >= 2:
            rule = "close to the lower process limit in 2 of the last 3 months"
        else:
            rule = None
        rules.append(rule)
    return rules


def signal(rule: str | None, polarity: str) -> str:
    if rule is None:
        return "common_cause"
    high = rule.startswith(UP)
    if polarity == "neutral":
        return "special_cause_high" if high else "special_cause_low"
    return "special_cause_concern" if high == (polarity == "higher is worse") else "special_cause_improvement"


def test_process_control_signals_match_an_independent_xmr(first_run, home: Path) -> None:
    fact = _table(home, "fact_metric_value")
    polarity = _table(home, "dim_metric").set_index("metric_id")["polarity"]
    months = fact[fact["period_id"].str.fullmatch(r"\d{4}-\d{2}")]
    checked = special = 0
    for (metric, _, _), series in months.groupby(["metric_id", "geography_code", "breakdown"]):
        shown = series[series["value"].notna()].sort_values("period_id")
        assert series.loc[series["value"].isna(), "signal"].isna().all()
        if len(shown) < 12 or (series["value_status"] == "suppressed").any():  # too short, or gaps: not judged
            assert shown["signal"].isna().all()
            continue
        if len(shown) < 12:
            assert shown["signal"].isna().all()
            continue
        expected = [signal(r, polarity[metric]) for r in xmr_rules(shown["value"].tolist())]
        assert shown["signal"].tolist() == expected, (metric, series.iloc[0]["geography_code"])
        checked += 1
        special += sum(e != "common_cause" for e in expected)
    assert checked > 50 and special > 0


def test_rag_follows_thresholds_or_the_county(first_run, home: Path) -> None:
    fact = _table(home, "fact_metric_value")
    metrics = _table(home, "dim_metric").set_index("metric_id")
    county = fact[fact["geography_code"] == "E10000020"].set_index(["metric_id", "period_id", "breakdown"])["value"]
    for row in fact.sample(4000, random_state=1).itertuples():
        m = metrics.loc[row.metric_id]
        worse = 1 if m["polarity"] == "higher is worse" else -1
        if (
            m["polarity"] == "neutral"
            or pd.isna(row.value)
            or (m["denominator_type"] == "count" and row.denominator < 20)
        ):
            expected = None
        elif pd.notna(m["amber_threshold"]):
            expected = ("red" if (row.value - m["red_threshold"]) * worse >= 0
                        else "amber" if (row.value - m["amber_threshold"]) * worse >= 0 else "green")  # fmt: skip
        else:
            base = county.get((row.metric_id, row.period_id, row.breakdown))
            if row.geography_code == "E10000020" or pd.isna(base) or base == 0:
                expected = None
            else:
                change = (row.value / base - 1) * worse
                expected = "red" if change > 0.2 else "amber" if change > 0.1 else "green"
        assert (row.rag if pd.notna(row.rag) else None) == expected, row


def test_alerts_say_what_changed_where_in_the_latest_month(first_run, home: Path) -> None:
    alerts = _table(home, "alerts")
    fact = _table(home, "fact_metric_value")
    geography = _table(home, "dim_geography").set_index("geography_code")["geography_name"]
    latest = fact.loc[fact["period_id"].str.fullmatch(r"\d{4}-\d{2}"), "period_id"].max()
    assert len(alerts) > 0 and (alerts["period_id"] == latest).all()
    month = pd.Timestamp(latest + "-01").strftime("%B %Y")
    districts = _table(home, "dim_geography").dropna(subset=["locality_code"])
    one_district = set(districts.groupby("locality_code").filter(lambda g: len(g) == 1)["locality_code"])
    assert one_district and not set(alerts["geography_code"]) & one_district  # each place alerted once
    for a in alerts.itertuples():
        assert a.message.startswith(geography[a.geography_code] + ": ") and month in a.message and a.rule in a.message
        row = fact[(fact["metric_id"] == a.metric_id) & (fact["period_id"] == latest)
                   & (fact["geography_code"] == a.geography_code) & (fact["breakdown"] == a.breakdown)]  # fmt: skip
        assert len(row) == 1
        assert row["signal"].iloc[0] == a.signal or (a.signal == "red" and row["rag"].iloc[0] == "red")
        assert f" was {row['value'].iloc[0]:,.1f} in {month}, " in a.message  # the value, then what it crossed
        assert any(ch.isdigit() for ch in a.rule)  # the limit, threshold or average, as a number
    concerns = fact[(fact["period_id"] == latest) & fact["signal"].isin(["special_cause_concern"])
                    & ~fact["geography_code"].isin(one_district)]  # fmt: skip
    assert len(concerns) <= (alerts["signal"] == "special_cause_concern").sum()
