"""Trends and alerts on the published (disclosure-controlled) metric values.

Statistical process control as NHS England's "Making Data Count" uses it: an XmR chart per
monthly series (metric, geography, breakdown) with the mean, the natural process limits
(mean +/- 2.66 x the average moving range) and four special-cause rules: a point beyond a
limit; a run of 7 or more points on one side of the mean; 7 or more points rising or
falling in a row (a trend); two of three points beyond two sigma on the same side (close to
a limit). Series with fewer than 12 published points get no signal. Only published values
enter, so a signal cannot hint at a suppressed count; and a series with a suppressed month
is not judged at all (its rule says so): dropping the small months would bias it upward.

`rag` compares a value with the metric's thresholds when it has them, else a district's or
locality's value with the county's in the same period: red when worse by more than 20%,
amber when worse by more than 10%. Neutral metrics have no rag, and neither has a share of
fewer than `MIN_DENOMINATOR` cases (7 of 7 is not a red rating).

The `alerts` table says in full sentences which series show a concerning special cause, or
turned red, in the latest month: the value, the limit or threshold it crossed, the rule and
the period. A place is alerted once: a locality that is exactly one district is that
district.
"""

from __future__ import annotations

import duckdb

from sihub.core.db import scalar

MIN_POINTS = 12
RUN = 7
MIN_DENOMINATOR = 20  # a share of fewer cases gets no rag and raises no alert
SIGNALS_SQL = """
CREATE OR REPLACE TABLE metric_signals AS
WITH s AS (
    SELECT metric_id, geography_code, breakdown, end_month AS m, value,
           row_number() OVER w AS i, abs(value - lag(value) OVER w) AS mr,
           sign(value - lag(value) OVER w) AS dir
    FROM metric_protected
    WHERE period_type = 'month' AND value IS NOT NULL
    WINDOW w AS (PARTITION BY metric_id, geography_code, breakdown ORDER BY end_month)
), limits AS (
    -- in month order: a parallel sum adds in whatever order its threads finish, and the last digit
    -- of a mean would differ from run to run
    SELECT metric_id, geography_code, breakdown, avg(value ORDER BY m) AS mean, avg(mr ORDER BY m) AS mr_bar,
           count(*) AS n
    FROM s GROUP BY ALL
), withheld AS (
    -- a month with no data (before a metric's history reaches) is no gap: its series starts after it
    SELECT metric_id, geography_code, breakdown,
           count(*) FILTER (WHERE value_status = 'suppressed') AS suppressed_months
    FROM metric_protected WHERE period_type = 'month' GROUP BY ALL
), z AS (
    SELECT s.*, l.mean, l.n, l.mean + 2.66 * l.mr_bar AS upl, l.mean - 2.66 * l.mr_bar AS lpl,
           sign(s.value - l.mean) AS side,
           CASE WHEN s.value > l.mean + 2 * l.mr_bar / 1.128 THEN 1
                WHEN s.value < l.mean - 2 * l.mr_bar / 1.128 THEN -1 ELSE 0 END AS near
    FROM s JOIN limits l USING (metric_id, geography_code, breakdown)
), runs AS (
    SELECT *,
           i - row_number() OVER (PARTITION BY metric_id, geography_code, breakdown, side ORDER BY m) AS side_run,
           i - row_number() OVER (PARTITION BY metric_id, geography_code, breakdown, dir ORDER BY m) AS dir_run,
           sum(CASE WHEN near = 1 THEN 1 ELSE 0 END) OVER t AS near_high,
           sum(CASE WHEN near = -1 THEN 1 ELSE 0 END) OVER t AS near_low
    FROM z
    WINDOW t AS (PARTITION BY metric_id, geography_code, breakdown ORDER BY m ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
), lengths AS (
    SELECT *,
           count(*) OVER (PARTITION BY metric_id, geography_code, breakdown, side, side_run) AS side_len,
           count(*) OVER (PARTITION BY metric_id, geography_code, breakdown, dir, dir_run) + 1 AS dir_len
    FROM runs
), rules AS (
    SELECT *, CASE
        WHEN value > upl THEN 'above the upper process limit'
        WHEN value < lpl THEN 'below the lower process limit'
        WHEN side = 1 AND side_len >= {run} THEN 'above the average for {run} or more months running'
        WHEN side = -1 AND side_len >= {run} THEN 'below the average for {run} or more months running'
        WHEN dir = 1 AND dir_len >= {run} THEN 'rising for {run} or more months running'
        WHEN dir = -1 AND dir_len >= {run} THEN 'falling for {run} or more months running'
        WHEN near = 1 AND near_high >= 2 THEN 'close to the upper process limit in 2 of the last 3 months'
        WHEN near = -1 AND near_low >= 2 THEN 'close to the lower process limit in 2 of the last 3 months'
    END AS rule
    FROM lengths
), high AS (
    SELECT *, rule SIMILAR TO '(above|rising|close to the upper).*' AS high FROM rules
)
SELECT r.metric_id, r.geography_code, r.breakdown, r.m AS end_month, r.mean, r.upl, r.lpl, r.value,
       CASE WHEN w.suppressed_months > 0
            THEN 'not judged: ' || w.suppressed_months || ' month(s) of the series suppressed' ELSE r.rule END AS rule,
       CASE WHEN r.n < {min_points} OR w.suppressed_months > 0 THEN NULL
            WHEN r.rule IS NULL THEN 'common_cause'
            WHEN c.polarity = 'neutral' THEN 'special_cause_' || CASE WHEN r.high THEN 'high' ELSE 'low' END
            WHEN r.high = (c.polarity = 'higher is worse') THEN 'special_cause_concern'
            ELSE 'special_cause_improvement' END AS signal
FROM high r JOIN metric_catalogue c USING (metric_id)
JOIN withheld w USING (metric_id, geography_code, breakdown)
"""

RAG_SQL = """
CREATE OR REPLACE TABLE metric_rag AS
SELECT p.metric_id, p.period_type, p.end_month, p.geography_code, p.breakdown, p.value, county.value AS county_value,
       CASE WHEN c.polarity = 'neutral' OR p.value IS NULL THEN NULL
            WHEN c.denominator_type = 'count' AND p.denominator < {min_denominator} THEN NULL
            WHEN c.amber IS NOT NULL THEN
                CASE WHEN (p.value - c.red) * w >= 0 THEN 'red' WHEN (p.value - c.amber) * w >= 0 THEN 'amber'
                     ELSE 'green' END
            WHEN county.value IS NULL OR county.value = 0 OR p.geography_code = county.geography_code THEN NULL
            WHEN (p.value / county.value - 1) * w > 0.2 THEN 'red'
            WHEN (p.value / county.value - 1) * w > 0.1 THEN 'amber'
            ELSE 'green' END AS rag
FROM metric_protected p
JOIN (SELECT *, CASE WHEN polarity = 'higher is worse' THEN 1 ELSE -1 END AS w FROM metric_catalogue) AS c
  USING (metric_id)
LEFT JOIN metric_protected county
  ON county.metric_id = p.metric_id AND county.period_type = p.period_type AND county.end_month = p.end_month
 AND county.breakdown = p.breakdown
 AND county.geography_code = (SELECT geography_code FROM ref_geography WHERE geography_type = 'county')
"""

ALERTS_SQL = """
CREATE OR REPLACE TABLE metric_alerts AS
WITH latest AS (SELECT max(end_month) AS m FROM metric_protected WHERE period_type = 'month'),
red AS (
    SELECT r.metric_id, r.geography_code, r.breakdown, r.end_month, 'red' AS signal,
           'worse than ' || CASE WHEN c.amber IS NOT NULL THEN 'the red threshold of ' || fmt(c.red)
                                 ELSE 'the county''s ' || fmt(r.county_value) || ' by more than 20%' END AS rule,
           r.value
    FROM metric_rag r JOIN metric_catalogue c USING (metric_id)
    LEFT JOIN metric_rag b ON b.metric_id = r.metric_id AND b.period_type = 'month'
     AND b.geography_code = r.geography_code AND b.breakdown = r.breakdown
     AND b.end_month = CAST(r.end_month - INTERVAL 1 MONTH AS DATE)
    WHERE r.period_type = 'month' AND r.rag = 'red' AND b.rag IS DISTINCT FROM 'red'
), concern AS (
    SELECT metric_id, geography_code, breakdown, end_month, signal,
           rule || CASE WHEN rule LIKE '%upper process limit%' THEN ' of ' || fmt(upl)
                        WHEN rule LIKE '%lower process limit%' THEN ' of ' || fmt(lpl)
                        ELSE '' END || ' (average ' || fmt(mean) || ')' AS rule,
           value
    FROM metric_signals
    WHERE signal IN ('special_cause_concern', 'special_cause_high', 'special_cause_low')
), found AS (SELECT * FROM concern UNION ALL SELECT * FROM red),
one_district AS (  -- a locality that is exactly one district: alerted as the district
    SELECT locality_code FROM ref_district WHERE locality_code IS NOT NULL GROUP BY ALL HAVING count(*) = 1
)
SELECT f.metric_id, f.end_month, f.geography_code, f.breakdown, f.signal, f.rule,
       g.geography_name || ': ' || lower(c.title[1]) || c.title[2:]
       || CASE WHEN f.breakdown <> 'all' THEN ' (' || replace(f.breakdown, ':', ' ') || ')' ELSE '' END
       || ' was ' || fmt(f.value) || ' in ' || strftime(f.end_month, '%B %Y') || ', ' || f.rule AS message
FROM found f
JOIN latest ON f.end_month = latest.m
JOIN metric_catalogue c USING (metric_id)
JOIN ref_geography g USING (geography_code)
WHERE f.geography_code NOT IN (SELECT locality_code FROM one_district)
ORDER BY f.metric_id, g.geography_type, f.geography_code, f.breakdown
"""


def analyse(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Signals, rag and alerts for the shared store's `metric_protected`."""
    con.execute(SIGNALS_SQL.format(run=RUN, min_points=MIN_POINTS))
    con.execute(RAG_SQL.format(min_denominator=MIN_DENOMINATOR))
    # a figure as a board reads it: one decimal place, thousands separated
    con.execute("CREATE OR REPLACE TEMP MACRO fmt(x) AS format('{:,.1f}', x)")
    con.execute(ALERTS_SQL)
    return {
        "special_causes": scalar(con, "SELECT count(*) FROM metric_signals WHERE signal LIKE 'special%'"),
        "alerts": scalar(con, "SELECT count(*) FROM metric_alerts"),
    }
