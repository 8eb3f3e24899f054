"""How much disclosure control hides of what the board reads, tier by tier, for a hub home
that has been refreshed (`sihub demo --scale county` leaves one): the county rolling-12
figures of every flow metric and of the board's eight (issue 19), each metric's latest
rolling year, and every published cell. A hidden county rolling year is counted as "small"
where its own count (numerator, or a counted denominator) is 1 to the tier's threshold: one
hidden for itself, not to protect another.

    uv run python bench/headline_suppression.py [SIHUB_HOME]
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from sihub.core.paths import HubPaths
from sihub.privacy.tiers import load_tiers

# the metrics whose county rolling years were all hidden under one public rule (issue 19)
BOARD_EIGHT = (
    "missing_episodes_per_10k",
    "re_referrals_12_months",
    "return_interviews_within_72_hours",
    "repeat_cp_plans",
    "self_harm_attendances_10_17_per_10k",
    "cp_plans_ended_after_2_years",
    "domestic_abuse_high_risk_share",
    "suspensions_known_to_cs_per_100_pupils",
)

# county rolling years of flow metrics with a figure to show or hide, with the truth beside
COUNTY_YEARS_SQL = """
SELECT f.metric_id, f.period_id, f.value_status = 'suppressed' AS hidden,
       t.numerator BETWEEN 1 AND $t OR (m.denominator_type = 'count' AND t.denominator BETWEEN 1 AND $t) AS small,
       f.period_id = max(f.period_id) OVER (PARTITION BY f.metric_id) AS latest
FROM fact_metric_value f
JOIN dim_metric m USING (metric_id)
JOIN dim_geography g USING (geography_code)
JOIN dim_period p USING (period_id)
JOIN shared.metric_values t USING (metric_id, period_id, geography_code, breakdown)
WHERE g.geography_type = 'county' AND p.period_type = 'rolling_12' AND f.breakdown = 'all'
  AND m.aggregation = 'flow' AND f.value_status NOT IN ('no data', 'not applicable')
"""

SUMMARY_SQL = """
SELECT count(*) FILTER (WHERE hidden) AS hidden, count(*) AS cells,
       count(*) FILTER (WHERE hidden AND small) AS small,
       count(*) FILTER (WHERE hidden AND latest) AS latest_hidden, count(*) FILTER (WHERE latest) AS latest
FROM years WHERE metric_id IN (SELECT unnest($metrics::VARCHAR[]))
"""

CELLS_SQL = """
SELECT count(*) FILTER (WHERE value_status = 'suppressed'),
       count(*) FILTER (WHERE value_status NOT IN ('no data', 'not applicable')), count(*)
FROM fact_metric_value
"""


def _share(part: int, whole: int) -> str:
    return f"{part:,} of {whole:,} ({part / whole:.1%})" if whole else "none"


def main(home: Path) -> None:
    paths = HubPaths(home)
    print(
        f"{'tier':<13}{'rolling years':<28}{'latest year hidden':<20}{'the board eight':<26}{'small':>7}"
        "  fact cells hidden"
    )
    for tier in load_tiers():
        with duckdb.connect(str(tier.published(paths.published) / "metrics.duckdb"), read_only=True) as con:
            con.execute(f"ATTACH {str(paths.shared_store)!r} AS shared (READ_ONLY)")
            con.execute(f"CREATE TEMP TABLE years AS {COUNTY_YEARS_SQL}", {"t": tier.policy.threshold})
            flows = [r[0] for r in con.execute("SELECT DISTINCT metric_id FROM years").fetchall()]
            every = con.execute(SUMMARY_SQL, {"metrics": flows}).fetchone()
            eight = con.execute(SUMMARY_SQL, {"metrics": list(BOARD_EIGHT)}).fetchone()
            cells = con.execute(CELLS_SQL).fetchone()
        print(
            f"{tier.name:<13}{_share(every[0], every[1]):<28}{f'{every[3]} of {every[4]}':<20}"
            f"{_share(eight[0], eight[1]):<26}{eight[2]:>7}  {_share(cells[0], cells[1])}"
            f"; {cells[0] / cells[2]:.1%} of all"
        )
    print("small: of the board's eight hidden, those whose own count is 1 to the tier's threshold")
    print("fact cells hidden: of those with a figure (not 'no data' or 'not applicable'); then of all rows")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "data"))
