"""Statistical disclosure control of published counts, under a policy of a disclosure tier
(`sihub.privacy.tiers`, `governance/disclosure.yaml`).

Primary suppression hides every count from 1 to the threshold (0 stays 0) and any rate
built on it. Secondary (complementary) suppression then hides more cells, month by month,
until no hidden small count can be worked out from published totals. Each month's counts add up
along two nested hierarchies: districts -> localities -> county (+ counts with no district),
and breakdown parts -> `all` (+ records in no part), a nested breakdown's parts adding up to
their parent too (`partner/dataset:police/x` -> `partner:police`). In every such relation with a hidden
cell, at least two cells must be unknown, and when the total is shown the hidden parts must
add up to more than the threshold; the smallest non-zero shown part is hidden next, or the
total when there is none, until every relation holds. Cells no one sees (`~unassigned`)
take part as unknowns and are protected like any other.

Quarters and rolling years are sums of months (or a stock's last month): one is shown only
when every month in it is shown, so it tells nothing the months do not, except the county's
own periods of a flow metric, decided series by series (`headline_periods`). Where a rate's
denominator is a count, it is protected the same way and a cell hidden in either count is
hidden in both. A count another metric publishes too (a series of the same breakdown) is one
more relation (each cell equals the other), so it is hidden in both and their months are
audited together. A stock whose flows other metrics publish (plans open, started and ended) is
one more relation across months: this month's stock is last month's plus the flows in less the
flows out, so the stock and its flows are audited together, from month to month. A count
another metric publishes months later (the early help episodes of a year before are the
denominator of those stepped up within 12 months) is a relation the audit alone knows: the two
months hide apart, and where one shows what the other hides beside a small count, the audit
finds the count pinned and hides more, as for any other relation it holds.

All of this runs in two stages. The counts about children come first; the data-quality
metrics, which count rows as delivered (a re-sent file is more rows, the same children), come
second, with every relation and audit knowing the first stage's cells but never hiding one. A
second-stage cell that is a first-stage count is tied to it: shown or hidden as it is, and
never the cell picked to protect another. So a delivery that changes only rows delivered
changes no published count about children.

The test suite attacks the published tables as sdcTable's attack() does: for every hidden
small count, the smallest and largest value a reader can derive from everything published,
which must be further apart than the threshold. A complement (hidden only to protect others)
may be worked out; the attack holds everything it could tell.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from sihub.core.db import quote, scalar, table_exists
from sihub.privacy import headline_periods
from sihub.privacy.sdc_audit import failing_cells, kept_ranges

MAX_ROUNDS = 200


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    name: str = Field("", description="the policy's key in the file, filled in when loaded")
    threshold: int = Field(ge=1, description="counts from 1 to this are suppressed")
    round_to: int | None = Field(None, ge=2, description="other counts rounded to a multiple of this")


def primary_suppression(count_sql: str, threshold: int) -> str:
    """SQL that is true where `count_sql` must be suppressed."""
    return f"coalesce({count_sql} BETWEEN 1 AND {int(threshold)}, false)"


@dataclass(frozen=True)
class Protection:
    cells: int
    primary: int
    secondary: int
    rounds: int
    audits: int
    reused_months: int = 0  # metric-months whose pattern was kept from the last protection
    reused_metrics: int = 0  # metrics whose whole pattern, headline periods included, was kept


# A count no one sees (records with no district, or in no part of a breakdown) that is 0
# throughout its series is taken as known: a reader may know it is 0 by definition (every
# data-quality row has a partner), or find it 0 wherever the rest of its relation is shown
# (domestic abuse of children with no district), so it cannot stand in for a hidden count.
CELLS_SQL = """
CREATE OR REPLACE TABLE sdc_cells AS
SELECT row_number() OVER (ORDER BY metric_id, measure, period_type, end_month, geography_code, breakdown) AS cell_id,
       * REPLACE (hidden AND NOT bool_and(coalesce(value, 0) = 0) OVER (
           PARTITION BY metric_id, measure, geography_code, breakdown) AS hidden),
       hidden AS unseen,  -- never published, so hiding it hides nothing (`PICKABLE`)
       {primary} AND NOT hidden AS primary_cell, {primary} AND NOT hidden AS suppressed, false AS settled,
       false AS judged, NULL::BIGINT AS grp,  -- a month's audit group, set by `_join_same_counts`
       -- counts of rows delivered are protected after the counts about children (`_protect_stage`)
       CASE WHEN metric_id IN (SELECT metric_id FROM metric_catalogue WHERE counts_deliveries) THEN 2 ELSE 1 END
           AS stage,
       false AS tied  -- a later stage's cell shown or hidden as an earlier stage's (`TIED_SQL`)
FROM (
    SELECT metric_id, 'numerator' AS measure, period_type, start_month, end_month, geography_code, breakdown,
           numerator AS value, hidden, no_data
    FROM metric_values
    UNION ALL
    SELECT v.metric_id, 'denominator', period_type, start_month, end_month, geography_code, breakdown, denominator,
           hidden, no_data
    FROM metric_values v JOIN metric_catalogue c USING (metric_id) WHERE c.denominator_type = 'count'
    UNION ALL
    -- the rest of a counted denominator (flagged children not known to children's services): a
    -- count of people too, shown wherever both counts are
    SELECT v.metric_id, 'complement', period_type, start_month, end_month, geography_code, breakdown,
           denominator - numerator, hidden, no_data
    FROM metric_values v JOIN metric_catalogue c USING (metric_id) WHERE c.complement IS NOT NULL
)
"""

MEMBERS_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_members AS
WITH c AS (
    SELECT c.*, d.locality_code, g.geography_type
    FROM sdc_cells c
    LEFT JOIN ref_district d ON d.district_code = c.geography_code
    LEFT JOIN ref_geography g ON g.geography_code = c.geography_code
    WHERE c.period_type = 'month' AND c.stage <= (FROM sdc_stage)
), shared AS (
    -- each cell with the same count another metric publishes, `lag` months before (`sdc_same`
    -- holds each pair both ways round; a negative lag is the same pair seen from the earlier side)
    SELECT t.cell_id, p.cell_id AS other, s.lag
    FROM c t JOIN sdc_same s ON s.metric_a = t.metric_id AND s.measure_a = t.measure AND s.breakdown_a = t.breakdown
     AND t.geography_code = coalesce(s.geography_code, t.geography_code) AND s.lag >= 0
    JOIN c p ON p.metric_id = s.metric_b AND p.measure = s.measure_b AND p.end_month = t.end_month - to_months(s.lag)
     AND p.geography_code = t.geography_code AND p.breakdown = s.breakdown_b
), groups AS (
    -- a locality is its districts
    SELECT 'locality|' || t.cell_id AS eq_id, t.cell_id AS total, p.cell_id AS part
    FROM c t JOIN c p ON p.locality_code = t.geography_code AND p.metric_id = t.metric_id AND p.measure = t.measure
     AND p.end_month = t.end_month AND p.breakdown = t.breakdown
    WHERE t.geography_type = 'locality'
    UNION ALL
    -- the county is its districts and what has no district (the localities' parts: a total
    -- sitting whole in one hidden district must be seen as such, `ROUND_SQL`)
    SELECT 'county|' || t.cell_id, t.cell_id, p.cell_id
    FROM c t JOIN c p ON (p.geography_type = 'district' OR p.geography_code LIKE '~%') AND p.metric_id = t.metric_id
     AND p.measure = t.measure AND p.end_month = t.end_month AND p.breakdown = t.breakdown
    WHERE t.geography_type = 'county'
    UNION ALL
    -- `all` is each breakdown's parts and what is in none
    SELECT 'breakdown|' || t.cell_id || '|' || split_part(p.breakdown, ':', 1), t.cell_id, p.cell_id
    FROM c t JOIN c p ON p.breakdown <> 'all' AND p.metric_id = t.metric_id AND p.measure = t.measure
     AND p.end_month = t.end_month AND p.geography_code = t.geography_code
    WHERE t.breakdown = 'all'
    UNION ALL
    -- a nested breakdown's parts add up to their parent: `partner/dataset:police/missing` is a
    -- part of `partner:police` (dimension and value each name the parent's before the `/`)
    SELECT 'nested|' || t.cell_id || '|' || split_part(p.breakdown, ':', 1), t.cell_id, p.cell_id
    FROM c t JOIN c p ON t.breakdown = split_part(p.breakdown, '/', 1) || ':'
         || split_part(substr(p.breakdown, strpos(p.breakdown, ':') + 1), '/', 1)
     AND p.metric_id = t.metric_id AND p.measure = t.measure AND p.end_month = t.end_month
     AND p.geography_code = t.geography_code
    WHERE split_part(p.breakdown, ':', 1) LIKE '%/%'
    UNION ALL
    -- a counted denominator is its numerator and its complement
    SELECT 'rest|' || t.cell_id, t.cell_id, p.cell_id
    FROM c t JOIN c p ON p.measure IN ('numerator', 'complement') AND p.metric_id = t.metric_id
     AND p.end_month = t.end_month AND p.geography_code = t.geography_code AND p.breakdown = t.breakdown
    WHERE t.measure = 'denominator'
      AND t.metric_id IN (SELECT metric_id FROM metric_catalogue WHERE complement IS NOT NULL)
    UNION ALL
    -- the same count published by two metrics: each is the other
    SELECT 'same|' || cell_id || '|' || other, cell_id, other FROM shared WHERE lag = 0
), lagged AS (
    -- the same count published months apart (the later cell first): A(m) - B(m - lag) = 0
    SELECT 'lag|' || cell_id || '|' || other AS eq_id,
           unnest([{'cell_id': cell_id, 'is_total': true, 'coef': -1.0},
                   {'cell_id': other, 'is_total': false, 'coef': 1.0}], recursive := true)
    FROM shared WHERE lag > 0
), stock_months AS MATERIALIZED (
    -- each stock's month with the month before (made first: left to itself, the planner joined
    -- every flow's cells to every stock's before narrowing them to a place and month, 3 s a call)
    SELECT k.flow_id, k.in_metric, k.in_measure, k.out_metric, k.out_measure, t.cell_id, b.cell_id AS before_id,
           t.breakdown, t.geography_code, t.end_month
    FROM sdc_stock k
    JOIN c t ON t.metric_id = k.stock_metric AND t.measure = k.stock_measure AND t.breakdown = k.breakdown
    JOIN c b ON b.metric_id = t.metric_id AND b.measure = t.measure AND b.breakdown = t.breakdown
     AND b.geography_code = t.geography_code AND b.end_month = t.end_month - INTERVAL 1 MONTH
), stocks AS (
    -- a stock's month is the month before's plus what flowed in less what flowed out
    -- (`sdc_stock`): -S(m) + S(m-1) + in(m) - out(m) = 0, the stock's cells picked last
    SELECT 'stock|' || t.cell_id || '|' || t.flow_id AS eq_id,
           unnest([{'cell_id': t.cell_id, 'is_total': true, 'coef': -1.0},
                   {'cell_id': t.before_id, 'is_total': true, 'coef': 1.0},
                   {'cell_id': i.cell_id, 'is_total': false, 'coef': 1.0},
                   {'cell_id': o.cell_id, 'is_total': false, 'coef': -1.0}], recursive := true)
    FROM stock_months t
    LEFT JOIN c i ON i.metric_id = t.in_metric AND i.measure = t.in_measure AND i.breakdown = t.breakdown
     AND i.geography_code = t.geography_code AND i.end_month = t.end_month
    LEFT JOIN c o ON o.metric_id = t.out_metric AND o.measure = t.out_measure AND o.breakdown = t.breakdown
     AND o.geography_code = t.geography_code AND o.end_month = t.end_month
    -- (found true in every place and month, so no flow named is missing)
    WHERE (t.in_metric IS NULL OR i.cell_id IS NOT NULL) AND (t.out_metric IS NULL OR o.cell_id IS NOT NULL)
), named AS (
    -- `sums`: a total and its parts (a stock's relation has signs, so what its unknown parts
    -- add up to bounds nothing); `audited`: a relation the audit knows but settling never judges
    SELECT eq_id, total AS cell_id, true AS is_total, -1.0 AS coef, true AS sums, false AS audited
    FROM groups GROUP BY ALL
    UNION ALL
    SELECT eq_id, part, false, 1.0, true, false FROM groups
    UNION ALL
    SELECT eq_id, cell_id, is_total, coef, false, false FROM stocks WHERE cell_id IS NOT NULL
    UNION ALL
    SELECT eq_id, cell_id, is_total, coef, false, true FROM lagged
)
-- numbered, for the grouping every settling round does
SELECT dense_rank() OVER (ORDER BY eq_id) AS eq_id, cell_id, is_total, coef, sums, audited FROM named
"""

# Two metrics may publish the same count: one's denominator is another's numerator (referrals
# and the re-referral rate), two count the same deaths, two break their totals down by the
# same datasets (rows loaded per dataset are validity's numerator and NHS number coverage's
# denominator, though their totals differ), or one's total is a part of another's (contacts
# received are the rows loaded of the contacts dataset, a county-only figure). Protected apart, a
# cell hidden in one would be printed in the other. A reader knows the definitions; here two
# series (metric, measure and breakdown) equal in every cell they share, and not all zero, are
# taken for the same count, and so are a metric's total and another metric's part equal in every
# county cell (`geography_code`: the relation holds there alone), and a series equal in every
# cell to another's some months before (`lag`, 1 to `LONGEST_LAG`; in at least a year of county
# months, not all zero): the deaths the panel reviews within 12 months of them are the deaths of
# a year before. The county's months, compared first, find the candidates. `sdc_same` holds each
# pair both ways (a lag the other way round is negative): `metric_a`'s cell of a month is
# `metric_b`'s `lag` months before.
# A metric's reuse unit joins those it published a count with last time too: a pattern kept
# from then was decided with that partner.
SAME_SQL = """
CREATE OR REPLACE TEMP TABLE {into} AS
WITH county AS (
    SELECT metric_id, measure, breakdown, count(*) AS n, sum(hash(end_month, value)::HUGEINT) AS h,
           max(value) AS top, any_value(geography_code) AS geography_code
    FROM {cells}
    WHERE period_type = 'month'
      AND geography_code IN (SELECT geography_code FROM ref_geography WHERE geography_type = 'county')
    GROUP BY metric_id, measure, breakdown
), candidate AS (
    -- the same breakdown of two metrics, compared in every cell they share
    SELECT a.metric_id AS metric_a, a.measure AS measure_a, a.breakdown AS breakdown_a,
           b.metric_id AS metric_b, b.measure AS measure_b, b.breakdown AS breakdown_b,
           NULL::VARCHAR AS geography_code
    FROM county a JOIN county b USING (breakdown, n, h)
    WHERE a.top > 0 AND (a.metric_id, a.measure) <> (b.metric_id, b.measure)
    UNION ALL
    -- one metric's total and a part of another's, at the county alone
    SELECT a.metric_id, a.measure, a.breakdown, b.metric_id, b.measure, b.breakdown, a.geography_code
    FROM county a JOIN county b USING (n, h)
    WHERE a.top > 0 AND a.metric_id <> b.metric_id AND a.breakdown <> b.breakdown
      AND 'all' IN (a.breakdown, b.breakdown)
), county_months AS (
    SELECT metric_id, measure, breakdown, end_month, value
    FROM {cells}
    WHERE period_type = 'month'
      AND geography_code IN (SELECT geography_code FROM ref_geography WHERE geography_type = 'county')
), later AS (
    -- a series equal to another's some months before, in every county month both have
    SELECT a.metric_id AS metric_a, a.measure AS measure_a, a.breakdown AS breakdown_a,
           b.metric_id AS metric_b, b.measure AS measure_b, b.breakdown AS breakdown_b,
           NULL::VARCHAR AS geography_code, date_diff('month', b.end_month, a.end_month) AS lag
    FROM county_months a JOIN county_months b USING (breakdown)
    WHERE b.end_month < a.end_month AND b.end_month >= a.end_month - INTERVAL {longest} MONTH
      AND (a.metric_id, a.measure) <> (b.metric_id, b.measure)
    GROUP BY ALL
    HAVING count(*) >= 12 AND bool_and(a.value IS NOT DISTINCT FROM b.value) AND max(a.value) > 0
), paired AS (
    SELECT *, 0 AS lag FROM candidate
    UNION ALL
    FROM later
    UNION ALL
    SELECT metric_b, measure_b, breakdown_b, metric_a, measure_a, breakdown_a, geography_code, -lag FROM later
), differ AS (
    -- a count published twice is tied in every period; one published months later is related in
    -- its months alone (MEMBERS_SQL), so those are all it must match in
    SELECT DISTINCT k.*
    FROM paired k
    JOIN {cells} x ON x.metric_id = k.metric_a AND x.measure = k.measure_a AND x.breakdown = k.breakdown_a
     AND x.geography_code = coalesce(k.geography_code, x.geography_code)
    JOIN {cells} y ON y.metric_id = k.metric_b AND y.measure = k.measure_b AND y.breakdown = k.breakdown_b
     AND y.period_type = x.period_type AND y.end_month = x.end_month - to_months(k.lag)
     AND y.geography_code = x.geography_code
    WHERE x.value IS DISTINCT FROM y.value AND (k.lag = 0 OR x.period_type = 'month')
)
FROM paired EXCEPT FROM differ
"""
LONGEST_LAG = 24  # months

# A stock (plans open at a month's end) is the month before's plus what flowed in (plans started)
# less what flowed out (plans ended). Where another metric publishes those flows, the flows of a
# place and month are pinned by two shown months of the stock. As for `SAME_SQL`, the relation
# is read from the counts: a stock series whose month-on-month change equals one flow series less
# another of the same breakdown (or either alone), in every place and month the stock has a month
# before, and not unchanged throughout. Counts about children only: a stage's relations must be
# whole within it.
STOCK_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_stock AS
WITH change AS (
    SELECT c.metric_id, c.measure, c.breakdown, c.geography_code, c.end_month,
           c.value - lag(c.value) OVER w AS change,
           lag(c.end_month) OVER w = c.end_month - INTERVAL 1 MONTH AS follows
    FROM sdc_cells c JOIN metric_catalogue k USING (metric_id)
    WHERE c.period_type = 'month' AND c.stage = 1 AND k.aggregation = 'stock'
    WINDOW w AS (PARTITION BY c.metric_id, c.measure, c.breakdown, c.geography_code ORDER BY c.end_month)
), d AS (
    FROM change WHERE follows
      AND (metric_id, measure, breakdown) IN (
          SELECT (metric_id, measure, breakdown) FROM change WHERE follows GROUP BY ALL HAVING bool_or(change <> 0))
), flow AS (
    SELECT c.metric_id, c.measure, c.breakdown, c.geography_code, c.end_month, c.value
    FROM sdc_cells c JOIN metric_catalogue k USING (metric_id)
    WHERE c.period_type = 'month' AND c.stage = 1 AND k.aggregation = 'flow'
    UNION ALL
    -- no flow at all: 0 everywhere
    SELECT DISTINCT NULL, NULL, breakdown, geography_code, end_month, 0 FROM d
), fit AS (
    -- each flow over a stock's rows: its own values, and (as the flow in) what must flow out
    SELECT d.metric_id AS stock_metric, d.measure AS stock_measure, d.breakdown, f.metric_id, f.measure,
           count(*) AS n, sum(hash(d.geography_code, d.end_month, f.value)::HUGEINT) AS h,
           sum(hash(d.geography_code, d.end_month, f.value - d.change)::HUGEINT) AS h_out
    FROM d JOIN flow f USING (breakdown, geography_code, end_month)
    GROUP BY ALL
), rows AS (
    SELECT metric_id AS stock_metric, measure AS stock_measure, breakdown, count(*) AS n FROM d GROUP BY ALL
)
SELECT i.stock_metric, i.stock_measure, i.breakdown, i.metric_id AS in_metric, i.measure AS in_measure,
       o.metric_id AS out_metric, o.measure AS out_measure,
       dense_rank() OVER (ORDER BY i.metric_id, i.measure, o.metric_id, o.measure) AS flow_id
FROM fit i JOIN rows r USING (stock_metric, stock_measure, breakdown, n)
JOIN fit o ON o.stock_metric = i.stock_metric AND o.stock_measure = i.stock_measure AND o.breakdown = i.breakdown
 AND o.n = i.n AND o.h = i.h_out
WHERE (i.metric_id, i.measure) IS DISTINCT FROM (o.metric_id, o.measure)
"""

# a month's cells of series publishing one count are audited together (one `grp`), and their
# metrics are one unit for reusing last time's pattern (`sdc_unit`); a family `across` months has
# a relation reaching other months (a stock's; a count published months apart), which the audit
# follows (`sdc_audit`) through the families of its `reach`
FAMILY_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_family AS
SELECT unnest(?::VARCHAR[]) AS metric_id, unnest(?::VARCHAR[]) AS measure, unnest(?::VARCHAR[]) AS family,
       unnest(?::BOOLEAN[]) AS across, unnest(?::VARCHAR[]) AS reach
"""
UNIT_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_unit AS
SELECT metric_id, coalesce(u.unit, metric_id) AS unit,
       coalesce(u.unit, metric_id) IN (SELECT unnest(?::VARCHAR[])) AS fresh
FROM (SELECT DISTINCT metric_id FROM sdc_cells)
LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS metric_id, unnest(?::VARCHAR[]) AS unit) u USING (metric_id)
"""
REGROUP_SQL = """
UPDATE sdc_cells SET grp = g.grp
FROM (
    SELECT c.cell_id,
           dense_rank() OVER (ORDER BY coalesce(f.family, c.metric_id || '|' || c.measure), c.end_month) AS grp
    FROM sdc_cells c LEFT JOIN sdc_family f USING (metric_id, measure) WHERE c.period_type = 'month'
) g
WHERE sdc_cells.cell_id = g.cell_id
"""


COMPLEMENTED_SQL = "SELECT metric_id FROM metric_catalogue WHERE complement IS NOT NULL ORDER BY ALL"
# each stock series with the flows its relation names
STOCK_EDGES_SQL = """
SELECT DISTINCT stock_metric, stock_measure, metric_id, measure FROM (
    SELECT stock_metric, stock_measure, in_metric AS metric_id, in_measure AS measure FROM sdc_stock
    UNION ALL
    SELECT stock_metric, stock_measure, out_metric, out_measure FROM sdc_stock
) WHERE metric_id IS NOT NULL ORDER BY ALL
"""
COUNTS = ("numerator", "denominator")


def _join_same_counts(con: duckdb.DuckDBPyConnection, reuse: bool) -> list[tuple]:
    """Find the series that publish one count (`sdc_same`), group each month of them for the
    first stage's audit, and make their metrics one unit, with those they shared a count with in
    `sdc_before`. Returns the pairs, for the later stage's audit groups (`_regroup`).

    A metric of rows delivered is never a unit with one of records held: a re-sent file changes
    its counts, not the children's, so it is protected afresh every time, after them."""
    pairs_sql = "SELECT metric_a, measure_a, metric_b, measure_b, breakdown_a, breakdown_b, geography_code, lag FROM {}"
    con.execute(SAME_SQL.format(into="sdc_same", cells="sdc_cells", longest=LONGEST_LAG))
    con.execute(STOCK_SQL)
    pairs = con.execute(pairs_sql.format("sdc_same")).fetchall()
    if reuse:
        con.execute(SAME_SQL.format(into="sdc_same_before", cells="sdc_before", longest=LONGEST_LAG))
        pairs_then = con.execute(pairs_sql.format("sdc_same_before")).fetchall()
    else:
        pairs_then = pairs
    later = {m for (m,) in con.execute("SELECT DISTINCT metric_id FROM sdc_cells WHERE stage > 1").fetchall()}

    def one_stage(found: list[tuple]) -> list[tuple]:
        return [p for p in found if (p[0] in later) == (p[2] in later)]

    stocks = [(s, f) for s, _, f, _ in con.execute(STOCK_EDGES_SQL).fetchall()]
    units = _classes([(a, b) for a, _, b, *_ in one_stage(pairs) + one_stage(pairs_then)] + stocks)
    # whether two series are one count is read from every cell: where that changed, no month of
    # the unit is as it was decided, however alike its cells; and a later stage's pattern was
    # decided on all of the first stage's, kept only where none of that changed
    fresh = {units[a] for a, *_ in set(one_stage(pairs)) ^ set(one_stage(pairs_then))}
    if not reuse or _first_stage(con, "sdc_cells") != _first_stage(con, "sdc_before"):
        fresh |= later
    fresh = sorted(fresh)
    con.execute(UNIT_SQL, [fresh, list(units), list(units.values())])
    _regroup(con, one_stage(pairs))
    return pairs


def _first_stage(con: duckdb.DuckDBPyConnection, cells: str) -> tuple:
    """A digest of the first stage's cells in `cells`."""
    return con.execute(
        "SELECT count(*), sum(hash(metric_id, measure, period_type, end_month, geography_code, breakdown, value, "
        f"hidden, no_data)::HUGEINT) FROM {cells} WHERE stage = 1"
    ).fetchone()


def _regroup(con: duckdb.DuckDBPyConnection, pairs: list[tuple]) -> None:
    """Number the month groups audited together: series publishing one count in the same month
    (`pairs`), a rate with a complement, one relation across its three counts, and a stock with
    its flows (a family `across` months). Series publishing one count months apart stay families
    of their own (a month's repairs then stay among the counts its relations hold), `across`
    months and one `reach`: the families whose hidden cells a month's range depends on."""
    rests = [((m, "complement"), (m, n)) for (m,) in con.execute(COMPLEMENTED_SQL).fetchall() for n in COUNTS]
    stocks = [((s, m), (f, n)) for s, m, f, n in con.execute(STOCK_EDGES_SQL).fetchall()]
    same = [((a, m), (b, n)) for a, m, b, n, *_, lag in pairs if not lag] + rests + stocks
    lagged = [((a, m), (b, n)) for a, m, b, n, *_, lag in pairs if lag]
    reach = _classes(same + lagged)
    families = _classes(same + [(x, x) for x in reach])
    across = {families[s] for s, _ in stocks} | {families[a] for a, _ in lagged}
    con.execute(
        FAMILY_SQL,
        [
            [m for m, _ in families],
            [n for _, n in families],
            ["|".join(f) for f in families.values()],
            [f in across for f in families.values()],
            ["|".join(reach[x]) for x in families],
        ],
    )
    con.execute(REGROUP_SQL)


def _classes(edges: list[tuple]) -> dict:
    """Each node of `edges` -> the least node connected to it (its class, the same every run)."""
    parent: dict = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in parent}


# tables of one protection only, made temporary: left in the shared store, every night's leak
# guard and snapshot would read them again; `sdc_cells`, `sdc_basis` and `sdc_ranges_kept` (the
# LP audits' answers, `sdc_audit.kept_ranges`) stay, for the next night
WORKING_TABLES = ("sdc_members", "sdc_headline", "sdc_headline_series", "sdc_quarters_follow")

# a quarter or rolling year is shown only when every month in it is (its last month, for a stock),
# but for the county headline periods decided series by series (`headline_periods`)
PERIODS_SQL = """
UPDATE sdc_cells SET suppressed = true
FROM sdc_cells m, metric_catalogue k
WHERE sdc_cells.period_type <> 'month' AND NOT sdc_cells.suppressed AND sdc_cells.stage = (FROM sdc_stage)
  AND k.metric_id = sdc_cells.metric_id
  AND sdc_cells.cell_id NOT IN (SELECT cell_id FROM sdc_headline)
  AND m.period_type = 'month' AND m.suppressed AND m.metric_id = sdc_cells.metric_id
  AND m.measure = sdc_cells.measure AND m.geography_code = sdc_cells.geography_code
  AND m.breakdown = sdc_cells.breakdown AND m.end_month <= sdc_cells.end_month
  AND m.end_month >= CASE WHEN k.aggregation = 'flow' THEN sdc_cells.start_month ELSE sdc_cells.end_month END
"""

# a cell a relation or an audit of this stage may hide to protect another: its own, not tied,
# and one a reader sees (a 0 no one sees is known all the same: "hiding" it protects nothing)
PICKABLE = "c.stage = (FROM sdc_stage) AND NOT c.tied AND NOT c.unseen"

# A relation is broken where a hidden count in it could be worked out: its only hidden member,
# hidden parts adding up to a small count under a shown total, or (`whole`) a hidden total whose
# parts are all shown as 0 but one hidden part, which then holds the whole total (six districts
# with no events place the county's in the seventh). A part no one sees that is 0 counts as a
# shown 0 there (a reader finds it 0 wherever the rest of its series is shown). The rest of a
# breakdown no one sees is a group too (SEND not recorded: children on no school census), but
# the whole total in the records with no district places it nowhere.
ROUND_SQL = f"""
WITH m AS (
    SELECT s.eq_id, s.is_total, s.sums, c.cell_id, c.value, c.suppressed OR c.hidden AS unknown,
           c.suppressed OR (c.hidden AND c.value <> 0) AS open, c.geography_code NOT LIKE '~%' AS named,
           c.suppressed OR (c.hidden AND c.value BETWEEN 1 AND {{t}}) AS protect,
           {PICKABLE} AS pickable
    FROM sdc_members s JOIN sdc_cells c USING (cell_id)
    WHERE NOT s.audited AND s.eq_id IN (SELECT eq_id FROM sdc_members JOIN sdc_changed USING (cell_id))
), eq AS (
    SELECT eq_id, bool_and(sums) AS sums,
           count(*) FILTER (WHERE unknown) AS unknowns,
           count(*) FILTER (WHERE protect) AS protected,
           bool_or(unknown AND is_total) AS total_unknown,
           coalesce(sum(value) FILTER (WHERE unknown AND NOT is_total), 0) AS unknown_parts,
           coalesce(sum(value) FILTER (WHERE NOT unknown AND NOT is_total), 0) AS shown_parts,
           count(*) FILTER (WHERE open AND NOT is_total) AS open_parts,
           count(*) FILTER (WHERE open AND NOT is_total AND named) AS named_open_parts
    FROM m GROUP BY eq_id
), whole AS (
    SELECT *, sums AND total_unknown AND open_parts = 1 AND named_open_parts = 1 AND shown_parts = 0 AS whole FROM eq
), bad AS (
    SELECT eq_id, whole FROM whole
    WHERE protected > 0 AND (unknowns = 1 OR (sums AND NOT total_unknown AND unknown_parts <= {{t}}) OR whole)
), pick AS (
    -- the smallest part shown (a 0 only where the relation has signs, or to keep a total from
    -- sitting whole in one part: a hidden 0 flow leaves a stock's change unexplained, where a
    -- hidden 0 part otherwise leaves a total's parts as they were)
    SELECT b.eq_id, coalesce(
        arg_min(m.cell_id, m.value * 1e12 + m.cell_id)
            FILTER (WHERE NOT m.is_total AND NOT m.unknown AND (m.value > 0 OR NOT m.sums OR b.whole) AND m.pickable),
        arg_min(m.cell_id, m.value * 1e12 + m.cell_id) FILTER (WHERE m.is_total AND NOT m.unknown AND m.pickable)
    ) AS cell_id
    FROM bad b JOIN m USING (eq_id) GROUP BY b.eq_id
)
UPDATE sdc_cells SET suppressed = true WHERE cell_id IN (SELECT cell_id FROM pick WHERE cell_id IS NOT NULL)
"""

# a rate needs both counts: a cell hidden in one measure is hidden in the other
# (`sdc_pairs` holds each count cell's counterpart in the other measure, both ways round)
PAIRS_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_pairs AS
SELECT a.cell_id, b.cell_id AS other
FROM sdc_cells a JOIN sdc_cells b USING (metric_id, period_type, end_month, geography_code, breakdown)
WHERE a.measure <> b.measure AND a.stage <= (FROM sdc_stage)
UNION
-- and a count two metrics publish is hidden in both or in neither
SELECT a.cell_id, b.cell_id
FROM sdc_cells a JOIN sdc_same s ON s.metric_a = a.metric_id AND s.measure_a = a.measure AND s.breakdown_a = a.breakdown
 AND a.geography_code = coalesce(s.geography_code, a.geography_code) AND s.lag = 0
JOIN sdc_cells b ON b.metric_id = s.metric_b AND b.measure = s.measure_b AND b.period_type = a.period_type
 AND b.end_month = a.end_month AND b.geography_code = a.geography_code AND b.breakdown = s.breakdown_b
WHERE a.stage <= (FROM sdc_stage) AND b.stage <= (FROM sdc_stage)
"""
# an earlier stage's cells are final: a counterpart hidden later never hides them
UNION_SQL = """
UPDATE sdc_cells SET suppressed = true
WHERE NOT suppressed AND stage = (FROM sdc_stage) AND cell_id IN (
    SELECT p.other FROM sdc_pairs p JOIN sdc_cells o USING (cell_id) WHERE o.suppressed {among}
)
"""
# A later stage's cell paired, directly or along pairs, with an earlier stage's is tied to it:
# shown or hidden as that is, never picked to hide for a relation of its own stage (hidden
# while the earlier cell is shown, it would hide nothing a reader cannot read there).
TIED_SQL = """
UPDATE sdc_cells SET tied = true
WHERE NOT tied AND stage = (FROM sdc_stage) AND cell_id IN (
    SELECT p.other FROM sdc_pairs p JOIN sdc_cells o USING (cell_id) WHERE o.stage < (FROM sdc_stage) OR o.tied
)
"""

# Settling works from what changed: a relation's verdict and pick read its own members alone,
# so one none of whose members changed since it was last judged stands as it was judged.
# `judged` is each cell's unknown state as last judged (false when a protection starts, so the
# first round judges every unknown cell), `sdc_changed` the cells that since became or stopped
# being unknown.
CHANGED_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_changed AS SELECT cell_id FROM sdc_cells WHERE (suppressed OR hidden) <> judged;
UPDATE sdc_cells SET judged = NOT judged WHERE cell_id IN (FROM sdc_changed);
"""
# within settling: the counterparts of the changed cells and of those the round hid since
UNION_CHANGED = "AND (NOT o.judged OR o.cell_id IN (FROM sdc_changed))"


# what may be published: no hidden cell, no suppressed count, rates from the counts shown
PROTECTED_SQL = """
CREATE OR REPLACE TABLE metric_protected AS
WITH shown AS (
    SELECT v.metric_id, v.period_type, v.start_month, v.end_month, v.period_id, v.geography_code, v.breakdown,
           -- a cell with no data publishes nothing and hides nothing: never counted as suppressed
           n.suppressed AND NOT v.no_data AS suppressed, v.no_data,
           c.multiplier,
           CASE WHEN NOT n.suppressed AND NOT v.no_data THEN {numerator} END AS numerator,
           CASE WHEN v.no_data THEN NULL
                WHEN c.denominator_type = 'population' THEN v.denominator
                WHEN NOT n.suppressed THEN {denominator} END AS denominator
    FROM metric_values v
    JOIN metric_catalogue c USING (metric_id)
    JOIN sdc_cells n ON n.measure = 'numerator' AND n.metric_id = v.metric_id AND n.period_type = v.period_type
     AND n.end_month = v.end_month AND n.geography_code = v.geography_code AND n.breakdown = v.breakdown
    WHERE NOT v.hidden
)
SELECT metric_id, period_type, start_month, end_month, period_id, geography_code, breakdown, numerator, denominator,
       CASE WHEN NOT suppressed AND denominator > 0 THEN numerator * multiplier / denominator END AS value,
       suppressed,
       -- why a value is there or not: outside its sources' coverage a month is no data, never 0
       CASE WHEN no_data THEN 'no data' WHEN suppressed THEN 'suppressed' ELSE 'value' END AS value_status
FROM shown
"""


# a hidden cell the audit finds pinned gets company: the smallest shown non-zero cell it shares
# a relation with, or else the smallest in its month, or else (all its month hidden or 0, as a
# stock's flows may be, pinned by the months around) the smallest sharing a relation with a
# hidden cell it shares one with
REPAIR_SQL = f"""
WITH f AS (SELECT unnest(?::BIGINT[]) AS failing),
near AS (
    SELECT f.failing, arg_min(c.cell_id, c.value * 1e12 + c.cell_id) AS cell_id
    FROM f JOIN sdc_members a ON a.cell_id = f.failing JOIN sdc_members b ON b.eq_id = a.eq_id
    JOIN sdc_cells c ON c.cell_id = b.cell_id
    WHERE NOT c.suppressed AND NOT c.hidden AND c.value > 0 AND {PICKABLE} GROUP BY f.failing
),
far AS (
    SELECT f.failing, arg_min(c.cell_id, c.value * 1e12 + c.cell_id) AS cell_id
    FROM f JOIN sdc_cells x ON x.cell_id = f.failing JOIN sdc_cells c ON c.grp = x.grp
    WHERE NOT c.suppressed AND NOT c.hidden AND c.value > 0 AND {PICKABLE}
      AND f.failing NOT IN (SELECT failing FROM near)
    GROUP BY f.failing
),
wider AS (
    SELECT f.failing, arg_min(c.cell_id, c.value * 1e12 + c.cell_id) AS cell_id
    FROM f JOIN sdc_members a ON a.cell_id = f.failing JOIN sdc_members b ON b.eq_id = a.eq_id
    JOIN sdc_cells h ON h.cell_id = b.cell_id AND h.cell_id <> f.failing AND (h.suppressed OR h.hidden)
    JOIN sdc_members d ON d.cell_id = h.cell_id JOIN sdc_members e ON e.eq_id = d.eq_id
    JOIN sdc_cells c ON c.cell_id = e.cell_id
    WHERE NOT c.suppressed AND NOT c.hidden AND c.value > 0 AND {PICKABLE}
      AND f.failing NOT IN (SELECT failing FROM near UNION ALL SELECT failing FROM far)
    GROUP BY f.failing
)
UPDATE sdc_cells SET suppressed = true
WHERE cell_id IN (SELECT cell_id FROM near UNION SELECT cell_id FROM far UNION SELECT cell_id FROM wider)
"""
GROUP_COUNTS_SQL = "SELECT grp, count(*) FILTER (WHERE suppressed) FROM sdc_cells WHERE grp IS NOT NULL GROUP BY grp"


def _settle(con: duckdb.DuckDBPyConnection, t: int) -> int:
    """Relation-by-relation rounds, each judging the relations whose cells changed since they
    were last judged, until none did; returns the rounds that hid anything or found it hidden."""
    rounds = 0
    while True:
        con.execute(CHANGED_SQL)
        if not scalar(con, "SELECT count(*) FROM sdc_changed"):
            return rounds
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"secondary suppression did not settle in {MAX_ROUNDS} rounds")
        con.execute(ROUND_SQL.format(t=t))
        con.execute(UNION_SQL.format(among=UNION_CHANGED))


def _hide_counterparts(con: duckdb.DuckDBPyConnection) -> None:
    """Hide every counterpart of a hidden cell, along chains (a rate's other count, which
    another metric publishes too) until none is left."""
    while con.execute(UNION_SQL.format(among="")).fetchone()[0]:
        pass


def _keep_last_pattern(con: duckdb.DuckDBPyConnection, basis: str | None) -> bool:
    """Before new cells replace `sdc_cells`: keep it (each cell's final pattern, and its
    monthly pattern as the months' own protection left it, before the county headlines added
    to it) when it was completed under the same basis (policy and code), then forget the basis
    until this run completes, so a crash mid-way never leaves a half-made pattern to be reused."""
    usable = bool(
        basis
        and table_exists(con, "sdc_basis", here=True)
        and table_exists(con, "sdc_cells", here=True)
        and scalar(con, "SELECT any_value(basis) FROM sdc_basis") == basis
    )
    if usable:
        con.execute("CREATE OR REPLACE TEMP TABLE sdc_before AS SELECT * EXCLUDE (cell_id, grp) FROM sdc_cells")
    # replaced, not dropped: a drop would find the home tier's table when this tier has none
    con.execute("CREATE OR REPLACE TABLE sdc_basis AS SELECT NULL::VARCHAR AS basis WHERE false")
    return usable


# A metric's month is a closed unit: its relations, the rate coupling of its two counts and
# its audit never reach another month or metric (but a stock's, whose unit's months are one). A
# unit whose cells are exactly as last time gets last time's final (settled and audited)
# pattern back, which settling leaves as it is.
REUSE_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_reused AS
WITH new AS (
    SELECT metric_id, end_month, count(*) AS n,
           sum(hash(measure, geography_code, breakdown, value, hidden)::HUGEINT) AS h
    FROM sdc_cells WHERE period_type = 'month' GROUP BY ALL
), old AS (
    SELECT metric_id, end_month, count(*) AS n,
           sum(hash(measure, geography_code, breakdown, value, hidden)::HUGEINT) AS h
    FROM sdc_before WHERE period_type = 'month' GROUP BY ALL
), months AS (
    SELECT u.unit, metric_id, end_month, (new.n, new.h) IS NOT DISTINCT FROM (old.n, old.h) AS same,
           -- a unit with a relation reaching other months (a stock's; a count published months
           -- apart): its months together
           CASE WHEN u.unit NOT IN (SELECT unit FROM sdc_unit WHERE metric_id IN (
               SELECT stock_metric FROM sdc_stock UNION ALL SELECT metric_a FROM sdc_same WHERE lag <> 0))
                THEN end_month END AS span
    FROM new FULL JOIN old USING (metric_id, end_month) JOIN sdc_unit u USING (metric_id) WHERE NOT u.fresh
)
-- metrics publishing a count in common are one unit: each month of it is kept whole or not at all
SELECT metric_id, end_month FROM months QUALIFY bool_and(same) OVER (PARTITION BY unit, span);
UPDATE sdc_cells SET suppressed = b.settled
FROM sdc_before b, sdc_reused r
WHERE sdc_cells.period_type = 'month' AND r.metric_id = sdc_cells.metric_id AND r.end_month = sdc_cells.end_month
  AND b.period_type = 'month' AND b.metric_id = sdc_cells.metric_id AND b.end_month = sdc_cells.end_month
  AND b.measure = sdc_cells.measure
  AND b.geography_code = sdc_cells.geography_code AND b.breakdown = sdc_cells.breakdown;
"""

# A metric is a closed unit too: months, periods and both measures, with its county headline
# series. Protection is a fixed point reached by steps that each read one metric's own cells
# (ties broken by cell order within it), so a metric whose every cell is exactly as last time
# would end exactly as last time: its final pattern is set aside with it and the metric is
# left out of the work, which then costs what the changed metrics cost.
SET_ASIDE_SQL = """
CREATE OR REPLACE TEMP TABLE sdc_kept AS
WITH sides AS (
    SELECT metric_id, count(*) AS n,
           sum(hash(measure, period_type, start_month, end_month, geography_code, breakdown, value, hidden,
                    no_data)::HUGEINT) AS h
    FROM (SELECT 'now' AS side, * FROM sdc_cells UNION ALL BY NAME SELECT 'before' AS side, * FROM sdc_before)
    GROUP BY side, metric_id
), same AS (
    SELECT metric_id FROM sides GROUP BY metric_id, n, h HAVING count(*) = 2
)
SELECT c.* REPLACE (b.suppressed AS suppressed, b.settled AS settled)
FROM sdc_cells c
JOIN sdc_unit u USING (metric_id)
JOIN sdc_before b USING (metric_id, measure, period_type, end_month, geography_code, breakdown)
-- metrics publishing a count in common are one unit, kept whole or not at all
WHERE u.unit IN (
    SELECT a.unit FROM sdc_unit a LEFT JOIN same s ON s.metric_id = a.metric_id WHERE NOT a.fresh GROUP BY a.unit
    HAVING count(*) = count(s.metric_id)
);
DELETE FROM sdc_cells WHERE metric_id IN (SELECT metric_id FROM sdc_kept);
"""


# every cell this stage may hide, in the month tables of the given cells
HIDE_AROUND_SQL = f"""
UPDATE sdc_cells AS c SET suppressed = true
WHERE NOT c.suppressed AND NOT c.hidden AND {PICKABLE}
  AND c.grp IN (SELECT grp FROM sdc_cells WHERE cell_id IN (SELECT unnest(?::BIGINT[])))
"""


def _audit(
    con: duckdb.DuckDBPyConnection,
    t: int,
    groups: list[int],
    counts: dict[int, int],
    limits: dict[int, tuple[float, float]] | None = None,
) -> tuple[int, int, dict[int, int]]:
    """Audit the month groups and repair until no hidden small count is pinned, re-auditing the
    groups each repair changed; returns settling rounds, audits and the groups' hidden counts."""
    rounds = audits = 0
    cleared: set[int] = set()  # small counts found open under these limits, which hiding more keeps open
    while groups:
        audits += 1
        if audits > MAX_ROUNDS:
            raise RuntimeError(f"the suppression audit did not settle in {MAX_ROUNDS} rounds")
        failing = failing_cells(con, groups, t, limits, cleared)
        if not failing:
            break
        # company near them, else (none left to pick) everything their month tables show; with
        # nothing at all left there, they are pinned through `limits` (county headline bounds)
        # alone, and left as the audit always left them (a known gap, not yet closed here)
        more_rounds, groups, counts = _repair(con, t, counts, ((REPAIR_SQL, failing), (HIDE_AROUND_SQL, failing)))
        rounds += more_rounds
    return rounds, audits, counts


def _repair(
    con: duckdb.DuckDBPyConnection, t: int, counts: dict[int, int], attempts: tuple[tuple[str, list[int]], ...]
) -> tuple[int, list[int], dict[int, int]]:
    """Run each (repair, cells) in turn, settling after each, until one hides anything; returns
    the settling rounds, the groups whose hidden counts changed (none if no repair hid
    anything) and the groups' hidden counts."""
    rounds, changed, after = 0, [], counts
    for repair, cells in attempts:
        con.execute(repair, [cells])
        rounds += _settle(con, t)
        after = dict(con.execute(GROUP_COUNTS_SQL).fetchall())
        changed = sorted(g for g, n in after.items() if n != counts.get(g))
        if changed:
            break
    return rounds, changed, after


# a second-stage cell tied to a first-stage one: the same count, in a `same` relation
TIED_TO_SQL = """
SELECT DISTINCT t.cell_id FROM sdc_members a JOIN sdc_members b ON b.eq_id = a.eq_id AND b.cell_id <> a.cell_id
JOIN sdc_cells t ON t.cell_id = b.cell_id AND t.tied
WHERE a.cell_id IN (SELECT unnest(?::BIGINT[]))
"""


def _keep_series(
    con: duckdb.DuckDBPyConnection,
    t: int,
    counts: dict[int, int],
    pinned_before: set[tuple[str, str, str]],
    memo: headline_periods.Memo,
    limits: dict[int, tuple[float, float]],
) -> tuple[int, int, dict[int, int]]:
    """Hide more of this stage until every county headline series of the earlier stage holds
    with its months' ranges as this stage's relations leave them (`headline_periods.judge_series`),
    repairing around the cells of this stage tied to the pinned series' hidden months and
    auditing what changed against `limits` (what the series told when this stage began)."""
    rounds = audits = 0
    for _ in range(MAX_ROUNDS):
        pinned = headline_periods.judge_series(con, t, memo).pinned
        months = [c for key, cells in pinned.items() if key not in pinned_before for c in cells]
        if not months:
            return rounds, audits, counts
        tied = [c for (c,) in con.execute(TIED_TO_SQL, [months]).fetchall()]
        # the cells nearest the tied ones, else all this stage shows in the months' tables
        more_rounds, changed, after = _repair(con, t, counts, ((REPAIR_SQL, tied), (HIDE_AROUND_SQL, months)))
        rounds += more_rounds
        if not changed:  # this stage shows nothing there: the pin is not its doing
            return rounds, audits, counts
        more_rounds, more_audits, counts = _audit(con, t, changed, after, limits)
        rounds, audits = rounds + more_rounds, audits + more_audits + 1
    raise RuntimeError(f"the county headline series did not hold in {MAX_ROUNDS} rounds")


def _protect_headlines(
    con: duckdb.DuckDBPyConnection, t: int, counts: dict[int, int], earlier: dict[int, tuple[float, float]]
) -> tuple[int, int]:
    """Decide the county headline periods (`headline_periods`), re-auditing every month whose
    county cell was hidden for them or is bounded by them, until series and months both hold;
    `earlier`: what an earlier stage's series tell about their months, audited against already."""
    rounds = audits = 0
    headline_periods.start(con)
    memo = headline_periods.Memo()
    audited = dict(earlier)  # the bounds each month was last audited against
    for _ in range(MAX_ROUNDS):
        con.execute(PERIODS_SQL)
        _hide_counterparts(con)
        step = headline_periods.audit_series(con, t, memo)
        if step.hidden:
            rounds += _settle(con, t)
        after = dict(con.execute(GROUP_COUNTS_SQL).fetchall())
        groups = {g for g, n in after.items() if n != counts.get(g)}
        limits = earlier | step.limits
        new_limits = [c for c in limits.keys() | audited.keys() if limits.get(c) != audited.get(c)]
        if new_limits:
            groups |= {g for (g,) in con.execute(
                "SELECT DISTINCT grp FROM sdc_cells WHERE cell_id IN (SELECT unnest(?::BIGINT[]))", [new_limits]
            ).fetchall()}  # fmt: skip
        audited = limits
        counts = after
        more_rounds, more_audits, counts = _audit(con, t, sorted(groups), counts, limits)
        rounds, audits = rounds + more_rounds, audits + more_audits
        repaired = more_rounds > 0
        if not step.changed and not repaired:
            return rounds, audits
    raise RuntimeError(f"the county headline periods did not settle in {MAX_ROUNDS} rounds")


def _protect_stage(
    con: duckdb.DuckDBPyConnection, t: int, stage: int, pinned_before: set[tuple[str, str, str]] | None = None
) -> tuple[int, int]:
    """Protect one stage's cells: the counts about children (1), then those of rows delivered
    (2), which an earlier stage's cells bound (relations, audits, its county headline series:
    all but those `pinned_before` it) but never hide; returns the settling rounds and audits."""
    con.execute("CREATE OR REPLACE TEMP TABLE sdc_stage AS SELECT ?::INTEGER AS stage", [stage])
    con.execute(MEMBERS_SQL)
    con.execute(PAIRS_SQL)
    if stage > 1:
        # the earlier stage's series again, metrics kept whole from the last protection included:
        # this stage is held to (and audited against) them all, as were they decided afresh
        headline_periods.find_series(con)
        # this stage's relations are new: every one is judged once, whatever its cells did before
        con.execute("UPDATE sdc_cells SET judged = false")
        while con.execute(TIED_SQL).fetchone()[0]:
            pass
        _hide_counterparts(con)  # earlier cells' counterparts, settled before this stage's pairs were known
    rounds = _settle(con, t)
    counts = dict(con.execute(GROUP_COUNTS_SQL).fetchall())
    groups = sorted(
        g for (g,) in con.execute(
            "SELECT DISTINCT grp FROM sdc_cells c WHERE (suppressed OR hidden) AND grp IS NOT NULL AND stage = ? "
            "AND NOT EXISTS (SELECT 1 FROM sdc_reused r WHERE r.metric_id = c.metric_id AND r.end_month = c.end_month)",
            [stage],
        ).fetchall()
    )  # fmt: skip
    # the series are still the earlier stage's (`_protect_headlines` starts this one's): what they
    # tell about their months now, with the most this stage will ever show, bounds this stage's
    # tables throughout (hiding more only widens it)
    memo = headline_periods.Memo()
    limits = headline_periods.judge_series(con, t, memo).limits if stage > 1 else {}
    more_rounds, audits, counts = _audit(con, t, groups, counts, limits)
    if stage > 1:
        kept_rounds, kept_audits, counts = _keep_series(con, t, counts, pinned_before or set(), memo, limits)
        more_rounds, audits = more_rounds + kept_rounds, audits + kept_audits
    con.execute("UPDATE sdc_cells SET settled = suppressed WHERE period_type = 'month' AND stage = ?", [stage])
    headline_rounds, headline_audits = _protect_headlines(con, t, counts, limits)
    con.execute(PERIODS_SQL)
    _hide_counterparts(con)
    return rounds + more_rounds + headline_rounds, audits + headline_audits


# a tier beyond the home tier starts from everything the home tier hides, so holding both
# tells nothing the home tier does not (the tier then hides more, under its own threshold)
SEED_SQL = """
UPDATE sdc_cells SET suppressed = true
FROM {seed}.sdc_cells s
WHERE s.suppressed AND NOT sdc_cells.suppressed AND s.metric_id = sdc_cells.metric_id AND s.measure = sdc_cells.measure
  AND s.period_type = sdc_cells.period_type AND s.end_month = sdc_cells.end_month
  AND s.geography_code = sdc_cells.geography_code AND s.breakdown = sdc_cells.breakdown
"""


def protect(
    con: duckdb.DuckDBPyConnection, policy: Policy, basis: str | None = None, seed: str | None = None
) -> Protection:
    """Mark `sdc_cells.suppressed` for the shared store's `metric_values` (primary, then
    complementary until every relation holds and the audit pins no hidden small count, then the
    county headline periods), and write what may be published to `metric_protected`. With
    `basis` (a digest of the policy and the code), months left unchanged since the last
    protection under that basis keep their pattern and skip the audit: a day's delivery
    re-audits the months it touched, and the LP audits' answers are kept for programmes asked
    again. With `seed` (a schema holding another tier's finished `sdc_cells`), every cell hidden
    there starts hidden here."""
    t = int(policy.threshold)
    here = ".".join(map(quote, con.execute("SELECT current_database(), current_schema()").fetchone()))
    for table in WORKING_TABLES:  # stored by earlier versions in the tier's own schema
        con.execute(f"DROP TABLE IF EXISTS {here}.{table}")
    reuse = _keep_last_pattern(con, basis)
    con.execute(CELLS_SQL.format(primary=primary_suppression("value", t)))
    pairs = _join_same_counts(con, reuse)
    con.execute(REUSE_SQL if reuse else "CREATE OR REPLACE TEMP TABLE sdc_reused (metric_id VARCHAR, end_month DATE)")
    reused = scalar(con, "SELECT count(*) FROM sdc_reused")
    con.execute(SET_ASIDE_SQL if reuse else "CREATE OR REPLACE TEMP TABLE sdc_kept AS FROM sdc_cells WHERE false")
    kept_metrics = scalar(con, "SELECT count(DISTINCT metric_id) FROM sdc_kept")
    if seed:
        con.execute(SEED_SQL.format(seed=quote(seed)))
    # the LP audits' answers are kept under the basis too: a night asks mostly the same again
    with kept_ranges(con, f"{here}.sdc_ranges_kept", load=reuse, save=bool(basis)):
        rounds, audits = _protect_stage(con, t, 1)
        # none, but where a kept month's pattern was decided on other counts than today's
        pinned_before = set(headline_periods.judge_series(con, t, headline_periods.Memo()).pinned)
        # metrics kept whole are final, as this stage's are now; PERIODS_SQL knows only this run's headlines
        con.execute("INSERT INTO sdc_cells FROM sdc_kept")
        _regroup(con, pairs)
        more_rounds, more_audits = _protect_stage(con, t, 2, pinned_before)
    rounds, audits = rounds + more_rounds, audits + more_audits
    hidden = scalar(con, "SELECT count(*) FROM sdc_cells WHERE suppressed")
    con.execute(
        PROTECTED_SQL.format(
            numerator=rounded_sql("v.numerator", policy), denominator=rounded_sql("v.denominator", policy)
        )
    )
    primary = scalar(con, "SELECT count(*) FROM sdc_cells WHERE primary_cell")
    if basis:
        con.execute("CREATE OR REPLACE TABLE sdc_basis AS SELECT ?::VARCHAR AS basis", [basis])
    return Protection(
        cells=scalar(con, "SELECT count(*) FROM sdc_cells WHERE NOT hidden"),
        primary=primary,
        secondary=hidden - primary,
        rounds=rounds,
        audits=audits,
        reused_months=reused,
        reused_metrics=kept_metrics,
    )


def rounded_sql(count_sql: str, policy: Policy) -> str:
    """A published count under the policy's rounding (none, or to the nearest multiple)."""
    if not policy.round_to:
        return count_sql
    r = int(policy.round_to)
    return f"CAST(round({count_sql} / {r}) * {r} AS BIGINT)"


class DisclosureError(Exception):
    """Published tables that show a small count: publication stops, naming table and column."""

    def __init__(self, findings: list[str]):
        super().__init__("disclosure control: small counts visible in " + "; ".join(findings))
        self.findings = findings


# every published count column, and the condition under which it is a count of people or events
PUBLISHED_COUNTS = {
    "fact_metric_value": {
        "numerator": "true",
        "denominator": "metric_id IN (SELECT metric_id FROM dim_metric WHERE denominator_type = 'count')",
        "(denominator - numerator)": (
            "metric_id IN (SELECT metric_id FROM dim_metric WHERE complement_definition <> '')"
        ),
    },
    # rows quarantined are rows received less rows loaded, shown with them: a count of rows failing
    # checks, as a share's complement is (`star_schema._scorecard_sql`), not a count to suppress
    "dq_scorecard": {c: "true" for c in ("rows_received", "rows_loaded", "rows_with_warnings")},
}


def visible_small_counts(con: duckdb.DuckDBPyConnection, policy: Policy) -> list[str]:
    """Table.column of each published count showing a value from 1 to the threshold."""
    return [
        f"{table}.{column}"
        for table, columns in PUBLISHED_COUNTS.items()
        for column, where in columns.items()
        if scalar(
            con, f"SELECT count(*) FROM {table} WHERE ({where}) AND {primary_suppression(column, policy.threshold)}"
        )
    ]
