"""The metric catalogue: one SQL file per metric in `sql/`, with a header of `-- key: value`
lines. A metric's query returns, for every month and every district, the rows
`period_month, district_code, breakdown, numerator, denominator`: breakdown `all`, and
optionally parts of it named `dimension:value` (`age_band:10-15`). A row with no district
counts for the county only (its denominator then 0 when the denominator is a population).

The runner adds localities and the county by summing districts, then quarters (financial
year) and rolling 12 months: a `flow` metric sums its numerator over the months (and its
denominator too when that is a `count`; a `population` denominator is the period's last
month's), a `stock` metric takes the period's last month. Queries run in the shared store
and may use:
- `month_district_grid(period_month, district_code)`: every month with data x every district,
  and a NULL district for what has none (join on `district_code IS NOT DISTINCT FROM`);
- `district_children(age_from, age_to)`: children by district in an age range;
- `population_grid(age_from, age_to)`: the grid x breakdowns `all` and `age_band:<band>` with
  the children in each (`children`; 0 for the NULL district);
- `event_grid()`: the grid x breakdowns `all` and `age_band:<band>`, for rates of counts;
- `working_days(start, end)`: working days after `start` up to and including `end` (England
  and Wales bank holidays and weekends excluded; `ref_calendar`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from sihub.core.change_tracking import BuiltFrom, code_digest, tables_named
from sihub.core.db import literal, quote, scalar, table_exists
from sihub.core.paths import project
from sihub.core.sql_files import SqlFileError, read_sql_file
from sihub.linkage.views import load_views
from sihub.privacy.generalise import AGE_BANDS, age_band_sql

MetricError = SqlFileError
# the views that count rows delivered, not records held (`Metric.counts_deliveries`)
DELIVERY_SOURCES = {"dataset_quality"}
REQUIRED = ("id", "title", "description", "unit", "polarity", "numerator", "denominator", "sources", "owner", "theme")
POLARITIES = ("higher is better", "higher is worse", "neutral")
OUTPUT_COLUMNS = ("period_month", "district_code", "breakdown", "numerator", "denominator")
UNASSIGNED = "~unassigned"  # cells no one sees: counts with no district, or in no part of a breakdown
MONTHS_IN = {"month": 1, "quarter": 3, "rolling_12": 12}


@dataclass(frozen=True)
class Thresholds:
    """Red/amber/green by the metric's value: red at or beyond `red`, amber at or beyond
    `amber`, in the direction the polarity calls worse. `source` says where the limits come
    from (a national standard, a published average, the partnership's own tolerance), so a
    reader of the dictionary can judge a red."""

    amber: float
    red: float
    source: str


@dataclass(frozen=True)
class Metric:
    id: str
    title: str
    description: str
    unit: str
    polarity: str
    numerator: str
    denominator: str
    sources: tuple[str, ...]
    owner: str
    theme: str
    sql: str
    path: Path
    multiplier: float = 1.0
    aggregation: str = "flow"
    denominator_type: str = "population"
    thresholds: Thresholds | None = None
    # what the denominator less the numerator counts (children flagged but not known to children's
    # services), where those are people or events and so protected like the numerator; None where
    # the numerator is no part of the denominator, or the rest are rows, not people
    complement: str | None = None
    # how many months before a period's month its figure reaches back (re-referrals within 12
    # months: 12); a month whose reach starts before its sources do is "no data", since its
    # count cannot yet see its whole window and would read as a fall that never happened
    history_months: int = 0

    @property
    def source_tables(self) -> list[str]:
        return [s.replace("/", "__") for s in self.sources]

    @property
    def counts_deliveries(self) -> bool:
        """Whether it counts rows as partners delivered them (a re-sent row is one more) rather
        than the records the hub holds: its counts follow a topic's where the two agree."""
        return set(self.sources) <= DELIVERY_SOURCES


def _choice(path: Path, header: dict[str, str], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = header.get(key, default)
    if value not in allowed:
        raise MetricError(f"{path}: {key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _thresholds(path: Path, text: str | None, source: str | None) -> Thresholds | None:
    """The `thresholds` header with its `threshold_source`: a limit with no stated origin
    reads as a standard when it may be a guess, so one is never accepted without the other."""
    if bool(text) != bool(source):
        raise MetricError(f"{path}: thresholds and threshold_source go together (say where the limits come from)")
    if not text:
        return None
    try:
        parts = dict(p.split("=") for p in text.replace(" ", "").split(","))
        return Thresholds(amber=float(parts["amber"]), red=float(parts["red"]), source=source or "")
    except (ValueError, KeyError) as err:
        raise MetricError(f"{path}: thresholds must read 'amber=<number>, red=<number>'") from err


def parse_metric(path: Path) -> Metric:
    header, sql = read_sql_file(path, REQUIRED)
    if header["id"] != path.stem:
        raise MetricError(f"{path}: id {header['id']!r} must match the file name")
    try:
        multiplier = float(header.get("multiplier", 1))
    except ValueError as err:
        raise MetricError(f"{path}: multiplier must be a number") from err
    return Metric(
        id=header["id"],
        title=header["title"],
        description=header["description"],
        unit=header["unit"],
        polarity=_choice(path, header, "polarity", POLARITIES, "neutral"),
        numerator=header["numerator"],
        denominator=header["denominator"],
        sources=tuple(s.strip() for s in header["sources"].split(",")),
        owner=header["owner"],
        theme=header["theme"],
        sql=sql,
        path=path,
        multiplier=multiplier,
        aggregation=_choice(path, header, "aggregation", ("flow", "stock"), "flow"),
        denominator_type=_choice(path, header, "denominator_type", ("population", "count"), "population"),
        thresholds=_thresholds(path, header.get("thresholds"), header.get("threshold_source")),
        complement=_complement(path, header),
        history_months=_history(path, header.get("history_months", "0")),
    )


def _history(path: Path, text: str) -> int:
    if not text.isdigit():
        raise MetricError(f"{path}: history_months must be a whole number of months, not {text!r}")
    return int(text)


def _complement(path: Path, header: dict[str, str]) -> str | None:
    """The `complement` header: only a counted denominator has a rest to protect."""
    text = header.get("complement")
    if text and header.get("denominator_type") != "count":
        raise MetricError(f"{path}: complement needs denominator_type: count (a population has no rest to protect)")
    return text or None


def load_catalogue(folder: Path | None = None) -> list[Metric]:
    return [parse_metric(p) for p in sorted((folder or project().sql).glob("*.sql"))]


def _coverage(con: duckdb.DuckDBPyConnection, metrics: list[Metric]) -> None:
    """`dataset_coverage`: each shared table's first and last month with data (its event
    months); `metric_coverage`: from the first to the last month any source of a metric (through
    the views it reads) has data. A metric with a source of no event month (attendance, the
    scorecard) covers the whole range: what it lacks cannot be told. A month outside a metric's
    coverage is "no data", never a zero."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'event_month' "
            "AND table_schema = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    ranges = " UNION ALL ".join(
        f"SELECT {literal(t)} AS source_table, min(event_month) AS first_month, max(event_month) AS last_month "
        f'FROM "{t}"'
        for t in tables
    )
    con.execute(
        "CREATE OR REPLACE TABLE dataset_coverage AS "
        + (ranges or "SELECT NULL::VARCHAR AS source_table, NULL::DATE AS first_month, NULL::DATE AS last_month")
    )
    views = {v.name: [s.replace("/", "__") for s in v.sources] for v in load_views()}
    con.execute("CREATE OR REPLACE TABLE metric_sources (metric_id VARCHAR, source_table VARCHAR)")
    pairs = [[m.id, t] for m in metrics for s in m.source_tables for t in views.get(s, [s])]
    if pairs:
        con.executemany("INSERT INTO metric_sources VALUES (?, ?)", pairs)
    con.execute(
        "CREATE OR REPLACE TABLE metric_coverage AS SELECT metric_id, min(first_month) AS first_month, "
        "max(last_month) AS last_month FROM metric_sources LEFT JOIN dataset_coverage USING (source_table) "
        "GROUP BY metric_id HAVING count(*) FILTER (WHERE dataset_coverage.source_table IS NULL) = 0"
    )


def _prepare(con: duckdb.DuckDBPyConnection) -> None:
    """The helpers metric queries use (see the module's docstring). The months are those the
    metrics' sources cover (a dataset no metric reads does not stretch them)."""
    con.execute(
        "CREATE OR REPLACE TABLE month_district_grid AS "
        "SELECT CAST(m AS DATE) AS period_month, d.district_code FROM "
        "(SELECT coalesce((SELECT min(first_month) FROM metric_coverage), "
        "                 (SELECT min(first_month) FROM dataset_coverage)) AS lo, "
        "        coalesce((SELECT max(last_month) FROM metric_coverage), "
        "                 (SELECT max(last_month) FROM dataset_coverage)) AS hi) r, "
        "generate_series(r.lo, r.hi, INTERVAL 1 MONTH) AS s(m), "
        "(SELECT district_code FROM ref_district UNION ALL SELECT NULL) d"
    )
    con.execute(
        "CREATE OR REPLACE MACRO district_children(age_from, age_to) AS TABLE "
        "SELECT district_code, sum(population) AS children FROM ref_population "
        "WHERE age BETWEEN age_from AND age_to GROUP BY district_code"
    )
    con.execute(
        "CREATE OR REPLACE MACRO population_grid(age_from, age_to) AS TABLE "
        "WITH p AS (SELECT district_code, age, population FROM ref_population WHERE age BETWEEN age_from AND age_to), "
        "b AS (SELECT district_code, 'all' AS breakdown, sum(population) AS children FROM p GROUP BY ALL "
        f"UNION ALL SELECT district_code, 'age_band:' || {age_band_sql('age')}, sum(population) FROM p GROUP BY ALL), "
        "k AS (SELECT DISTINCT breakdown FROM b) "
        "SELECT g.period_month, g.district_code, k.breakdown, coalesce(b.children, 0) AS children "
        "FROM month_district_grid g CROSS JOIN k "
        "LEFT JOIN b ON b.district_code = g.district_code AND b.breakdown = k.breakdown"
    )
    bands = ", ".join(f"('age_band:{label}')" for _, label in AGE_BANDS)
    con.execute(
        "CREATE OR REPLACE MACRO event_grid() AS TABLE SELECT g.period_month, g.district_code, k.breakdown "
        f"FROM month_district_grid g CROSS JOIN (VALUES ('all'), {bands}) k(breakdown)"
    )
    con.execute(
        "CREATE OR REPLACE MACRO working_days(start_day, end_day) AS "
        "(SELECT count(*) FROM ref_calendar WHERE working AND day > start_day AND day <= end_day)"
    )


class _MetricRows:
    """Each metric's rows in `metric_district_values` are kept from the last run while the
    tables its query names (its sources and views) and those the helper macros read (the
    reference tables and month grid) hold the same rows, and its query and this module are the
    same (`BuiltFrom`, in `metric_inputs`): a night with one new file re-runs the metrics that
    read it (or the linkage it changed), not all thirty."""

    def __init__(self, con: duckdb.DuckDBPyConnection, metric_ids: list[str]) -> None:
        self.con = con
        con.execute(
            "CREATE TABLE IF NOT EXISTS metric_district_values (metric_id VARCHAR, period_month DATE, "
            "district_code VARCHAR, breakdown VARCHAR, numerator BIGINT, denominator BIGINT)"
        )
        con.execute("DELETE FROM metric_district_values WHERE NOT list_contains(?, metric_id)", [metric_ids])
        self.built = BuiltFrom(con, "metric_inputs", metric_ids)
        # what the helper macros read, whichever a query calls: the month grid and reference tables
        self.helpers = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND (table_name = 'month_district_grid' OR starts_with(table_name, 'ref_'))"
            ).fetchall()
        ]

    def kept(self, metric: Metric) -> bool:
        """Whether the metric's rows stand; if not, they are deleted, ready to be run again."""
        tables = tables_named(self.con, metric.sql)
        if tables is not None and self.built.same(
            metric.id, [code_digest(__name__), metric.sql], {*tables, *self.helpers}
        ):
            return True
        self.forget(metric.id)
        return False

    def forget(self, metric_id: str) -> None:
        self.built.forget(metric_id)
        self.con.execute("DELETE FROM metric_district_values WHERE metric_id = ?", [metric_id])

    def rows(self, metric_id: str) -> int:
        return scalar(self.con, "SELECT count(*) FROM metric_district_values WHERE metric_id = ?", [metric_id])


def _run(con: duckdb.DuckDBPyConnection, metric: Metric, months: int) -> int:
    """Insert one metric's district rows, checked for shape: one row per month, district
    (or none) and breakdown, and parts that do not exceed the whole."""
    try:
        con.execute(
            f"INSERT INTO metric_district_values SELECT ?, {', '.join(OUTPUT_COLUMNS)} FROM ({metric.sql})",
            [metric.id],
        )
    except duckdb.Error as err:
        raise MetricError(f"{metric.path}: {str(err).splitlines()[0]}") from err
    where = "WHERE metric_id = ?"
    gaps = scalar(
        con,
        "SELECT count(*) FROM (SELECT district_code, breakdown, count(*) AS n, count(DISTINCT period_month) AS d "
        f"FROM metric_district_values {where} GROUP BY ALL) WHERE n <> ? OR d <> ?",
        [metric.id, months, months],
    )
    if gaps:
        raise MetricError(
            f"{metric.path}: must return exactly one row per month for each district and breakdown "
            "(start from month_district_grid)"
        )
    bad = scalar(
        con,
        "SELECT count(*) FROM metric_district_values "
        f"{where} AND (breakdown <> 'all' AND breakdown NOT SIMILAR TO '[a-z_]+:.+' "
        "AND breakdown NOT SIMILAR TO '[a-z_]+/[a-z_]+:[^/]+/[^/]+' OR numerator < 0)",
        [metric.id],
    )
    if bad:
        raise MetricError(
            f"{metric.path}: breakdown must be 'all', 'dimension:value' or 'parent/child:parent value/child value' "
            "(a part of `parent:parent value`), numerators >= 0"
        )
    return scalar(con, f"SELECT count(*) FROM metric_district_values {where}", [metric.id])


def _catalogue_table(con: duckdb.DuckDBPyConnection, metrics: list[Metric]) -> None:
    """The catalogue's headers as a table, for the SQL that rolls up, protects and compares."""
    con.execute(
        "CREATE OR REPLACE TABLE metric_catalogue (metric_id VARCHAR, title VARCHAR, polarity VARCHAR, "
        "aggregation VARCHAR, denominator_type VARCHAR, multiplier DOUBLE, amber DOUBLE, red DOUBLE, "
        "complement VARCHAR, counts_deliveries BOOLEAN, history_months INTEGER)"
    )
    con.executemany(
        "INSERT INTO metric_catalogue VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [m.id, m.title, m.polarity, m.aggregation, m.denominator_type, m.multiplier]
            + ([m.thresholds.amber, m.thresholds.red] if m.thresholds else [None, None])
            + [m.complement, m.counts_deliveries, m.history_months]
            for m in metrics
        ],
    )


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table_exists(con, table) and bool(scalar(con, f"SELECT count(*) > 0 FROM {quote(table)}"))


def _feed(con: duckdb.DuckDBPyConnection, feeds: dict[str, list[str]]) -> dict[str, tuple[str, bool]]:
    """Stand a statutory return in for a bespoke extract with no rows: a temporary table under
    the extract's name (it shadows the empty one for this connection only) holding the first
    feeder with rows; its columns carry the same names, and a return without addresses gets
    an empty district (its records count for the county). Returns target -> (feeder used,
    whether it has districts). Never both: a council sending both would count each plan
    twice, so the extract wins."""
    used = {}
    for target, feeders in feeds.items():
        feeder = next((f for f in feeders if _has_rows(con, f)), None)
        if _has_rows(con, target) or feeder is None:
            continue
        have = {r[0] for r in con.execute(f"DESCRIBE {quote(feeder)}").fetchall()}
        geography = "".join(f", NULL::VARCHAR AS {c}" for c in ("district_code", "locality_code") if c not in have)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(target)} AS SELECT *{geography} FROM {quote(feeder)}")
        used[target] = (feeder, not geography)
    return used


def compute(
    con: duckdb.DuckDBPyConnection, metrics: list[Metric], feeds: dict[str, list[str]] | None = None
) -> dict[str, int | str]:
    """Run every metric into `metric_values`: every period (month, quarter, rolling 12
    months), geography and breakdown, with the cells no one sees (`~unassigned`) kept for
    disclosure control. `feeds` maps a source table to the tables that can stand in for it
    (`_feed`). Returns district rows per metric (`N rows (unchanged since the last run)` where its
    inputs were the same: `_MetricRows`), or why a metric was skipped."""
    fed = _feed(con, feeds or {})
    _coverage(con, metrics)
    _prepare(con)
    months = scalar(con, "SELECT count(DISTINCT period_month) FROM month_district_grid")
    kept = _MetricRows(con, [m.id for m in metrics])
    outcome: dict[str, int | str] = {}
    for metric in metrics:
        missing = [t for t in metric.source_tables if not table_exists(con, t)]
        if missing:
            kept.forget(metric.id)
            outcome[metric.id] = f"skipped: no data for {', '.join(missing)}"
            continue
        unchanged = kept.kept(metric)
        if unchanged:
            rows = kept.rows(metric.id)
        else:
            rows = _run(con, metric, months)
            kept.built.record(metric.id)
        notes = [f"{t} from {fed[t][0]}" for t in metric.source_tables if t in fed]
        notes += ["unchanged since the last run"] if unchanged else []
        outcome[metric.id] = f"{rows} rows ({'; '.join(notes)})" if notes else rows
    _catalogue_table(con, metrics)
    con.execute(ROLLUP_SQL.format(unassigned=literal(UNASSIGNED)))
    county_only = [m.id for m in metrics if any(t in fed and not fed[t][1] for t in m.source_tables)]
    if county_only:  # fed by a return with no addresses: a district's zero would be a false one
        con.execute(
            "UPDATE metric_values SET no_data = true WHERE list_contains(?, metric_id) "
            "AND geography_code <> (SELECT any_value(county_code) FROM ref_district)",
            [county_only],
        )
    over = con.execute(
        "SELECT DISTINCT metric_id FROM metric_values WHERE breakdown LIKE '%:~%' AND numerator < 0 ORDER BY 1"
    ).fetchall()
    if over:
        paths = ", ".join(str(m.path) for m in metrics if m.id in {r[0] for r in over})
        raise MetricError(f"{paths}: the parts of a breakdown add up to more than `all`")
    return outcome


ROLLUP_SQL = """
CREATE OR REPLACE TABLE metric_values AS
WITH district AS (
    SELECT v.metric_id, v.period_month, coalesce(v.district_code, {unassigned}) AS district_code, v.breakdown,
           v.numerator, v.denominator, d.locality_code, r.county_code
    FROM metric_district_values v
    LEFT JOIN ref_district d USING (district_code)
    CROSS JOIN (SELECT any_value(county_code) AS county_code FROM ref_district) r
), geographies AS (
    SELECT metric_id, period_month, district_code AS geography_code, breakdown, numerator, denominator
    FROM district
    UNION ALL
    SELECT metric_id, period_month, locality_code, breakdown, sum(numerator), sum(denominator)
    FROM district WHERE locality_code IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT metric_id, period_month, county_code, breakdown, sum(numerator), sum(denominator)
    FROM district GROUP BY ALL
), remainders AS (
    -- the part of `all` in no part of a breakdown (records with no age, say): never shown
    SELECT a.metric_id, a.period_month, a.geography_code, split_part(p.breakdown, ':', 1) || ':' || {unassigned},
           any_value(a.numerator) - sum(p.numerator), any_value(a.denominator) - sum(p.denominator)
    FROM geographies a JOIN geographies p
      ON p.metric_id = a.metric_id AND p.period_month = a.period_month AND p.geography_code = a.geography_code
     AND p.breakdown <> 'all'
    WHERE a.breakdown = 'all'
    GROUP BY a.metric_id, a.period_month, a.geography_code, split_part(p.breakdown, ':', 1)
), monthly AS (
    SELECT * FROM geographies UNION ALL SELECT * FROM remainders
), months AS (
    SELECT DISTINCT period_month AS m FROM month_district_grid
), periods AS (
    -- financial-year quarters (fy: the year the financial year starts in), rolling years by their last month
    SELECT 'month' AS period_type, m AS start_month, m AS end_month FROM months
    UNION ALL
    SELECT 'quarter', q, CAST(q + INTERVAL 2 MONTH AS DATE)
    FROM (SELECT DISTINCT CAST(date_trunc('quarter', m) AS DATE) AS q FROM months)
    WHERE q >= (SELECT min(m) FROM months) AND q + INTERVAL 2 MONTH <= (SELECT max(m) FROM months)
    UNION ALL
    SELECT 'rolling_12', CAST(m - INTERVAL 11 MONTH AS DATE), m FROM months
    WHERE m - INTERVAL 11 MONTH >= (SELECT min(m) FROM months)
)
SELECT v.metric_id, p.period_type, p.start_month, p.end_month,
       CASE p.period_type
           WHEN 'month' THEN strftime(p.end_month, '%Y-%m')
           WHEN 'quarter' THEN printf('%d-%02d Q%d', fy, (fy + 1) % 100, (month(p.start_month) + 8) % 12 // 3 + 1)
           ELSE 'R12-' || strftime(p.end_month, '%Y-%m') END AS period_id,
       v.geography_code, v.breakdown,
       sum(v.numerator) FILTER (WHERE c.aggregation = 'flow' OR v.period_month = p.end_month) AS numerator,
       sum(v.denominator) FILTER (
           WHERE (c.aggregation = 'flow' AND c.denominator_type = 'count') OR v.period_month = p.end_month
       ) AS denominator,
       v.geography_code LIKE '~%' OR v.breakdown LIKE '%:~%' AS hidden,
       CASE WHEN mc.metric_id IS NULL THEN false  -- a source without event months: the whole range
            WHEN mc.first_month IS NULL THEN true  -- its dated sources hold no rows: no data at all
            ELSE p.start_month < mc.first_month + to_months(c.history_months) OR p.end_month > mc.last_month
       END AS no_data
FROM monthly v
JOIN metric_catalogue c USING (metric_id)
LEFT JOIN metric_coverage mc USING (metric_id)
JOIN (SELECT *, year(start_month) - (month(start_month) < 4)::INT AS fy FROM periods) p
  ON v.period_month BETWEEN p.start_month AND p.end_month
GROUP BY ALL
"""
