"""The published star schema, built from the shared store (attached as `s`) and cast to the
documented schema (`sihub/publishing/published_schema.yaml`): names, order and types Power BI reads cleanly."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from sihub.core.contracts import Contract
from sihub.core.db import literal, quote
from sihub.metrics.catalogue import UNASSIGNED, Metric
from sihub.privacy.disclosure import primary_suppression, rounded_sql
from sihub.privacy.tiers import Tier

SCHEMA_FILE = Path(__file__).with_name("published_schema.yaml")


class Measure(BaseModel):
    """A DAX measure shipped with the Power BI model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expression: str
    description: str
    format: str | None = None  # a format string, or a DAX expression for one when `dynamic_format`
    dynamic_format: bool = False


class TableSchema(BaseModel):
    """One published table: its columns, and how a BI model should read it (its key, the
    dimension each other key column refers to, columns a report never shows, sort and format)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    columns: dict[str, tuple[str, str]]  # name -> (DuckDB type, meaning)
    key: str | None = None  # a dimension's key: unique, never NULL
    references: dict[str, str] = {}  # column -> "table.column" of the dimension it relates to
    hidden: list[str] = []  # technical keys a report reads through the dimension
    sort_by: dict[str, str] = {}  # column -> the column that sorts it
    formats: dict[str, str] = {}  # column -> Power BI format string
    measures: dict[str, Measure] = {}

    @model_validator(mode="after")
    def _named_columns(self) -> TableSchema:
        named = [self.key] if self.key else []
        named += [*self.references, *self.hidden, *self.sort_by, *self.sort_by.values(), *self.formats]
        unknown = sorted({c for c in named if c not in self.columns})
        if unknown:
            raise ValueError(f"names columns the table does not have: {', '.join(unknown)}")
        return self


class Relationship(BaseModel):
    """Many rows of `table.column` to one row of the dimension's key `to`."""

    model_config = ConfigDict(frozen=True)

    table: str
    column: str
    to_table: str
    to_column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column} → {self.to_table}.{self.to_column} (many to one)"


def relationships(schema: dict[str, TableSchema]) -> list[Relationship]:
    """Every reference of the schema, checked to land on a dimension's key."""
    found = []
    for table, spec in schema.items():
        for column, target in spec.references.items():
            to_table, _, to_column = target.partition(".")
            if to_table not in schema or schema[to_table].key != to_column:
                raise ValueError(f"{table}.{column} refers to {target}, which is not a dimension's key")
            found.append(Relationship(table=table, column=column, to_table=to_table, to_column=to_column))
    return found


def load_schema(path: Path = SCHEMA_FILE) -> dict[str, TableSchema]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: TableSchema.model_validate(t) for name, t in raw.items()}


# metrics measured for the county alone: their sources place no event in a district (every
# one is unassigned), so a district's or locality's 0 would be a false one, whatever its
# denominator (a population is never 0)
COUNTY_ONLY_SQL = f"""
SELECT metric_id FROM s.metric_values
WHERE geography_code = {literal(UNASSIGNED)} OR geography_code IN (SELECT district_code FROM s.ref_district)
GROUP BY metric_id
HAVING bool_and(geography_code = {literal(UNASSIGNED)} OR coalesce(numerator, 0) = 0)
   AND bool_or(geography_code = {literal(UNASSIGNED)} AND numerator <> 0)
"""

# a scorecard month that is a month: read, and not still to come (an event dated in the future
# is no more a month than an unreadable date); others are `unknown`
KNOWN_MONTH = "period_month <= current_date"

# every day from the first period's start to the last one's end, with the partnership's years:
# financial (April to March, as the quarters) and academic (September to August)
DATE_SQL = """
CREATE TABLE dim_date AS
WITH days AS (
    SELECT CAST(range AS DATE) AS date FROM range(
        (SELECT min(start_date) FROM dim_period), (SELECT max(end_date) FROM dim_period) + INTERVAL 1 DAY,
        INTERVAL 1 DAY)
), years AS (
    SELECT date, year(date) - (month(date) < 4)::INT AS fy, year(date) - (month(date) < 9)::INT AS ay,
           (month(date) + 8) % 12 // 3 + 1 AS fq
    FROM days
)
SELECT date, year(date) AS year, month(date) AS month_number, strftime(date, '%b') AS month_name,
       strftime(date, '%b %Y') AS month_label, year(date) * 100 + month(date) AS month_sort,
       CAST(date_trunc('month', date) AS DATE) AS month_start,
       printf('%d-%02d', fy, (fy + 1) % 100) AS financial_year, fy AS financial_year_sort,
       printf('Q%d', fq) AS financial_quarter, printf('%d-%02d Q%d', fy, (fy + 1) % 100, fq) AS financial_quarter_label,
       fy * 10 + fq AS financial_quarter_sort,
       printf('%d/%02d', ay, (ay + 1) % 100) AS academic_year, ay AS academic_year_sort
FROM years ORDER BY date
"""

# each breakdown split into its dimension and value, labelled and sorted: `all` first, then by
# dimension, age bands by their first age (Under 1 first), other values alphabetically
BREAKDOWN_SQL = """
CREATE TABLE dim_breakdown AS
WITH used AS (
    SELECT DISTINCT breakdown FROM fact_metric_value UNION SELECT DISTINCT breakdown FROM alerts
), split AS (
    SELECT breakdown, CASE WHEN breakdown = 'all' THEN 'all' ELSE split_part(breakdown, ':', 1) END AS dimension,
           CASE WHEN breakdown = 'all' THEN 'All' ELSE substr(breakdown, strpos(breakdown, ':') + 1) END AS value
    FROM used
), labelled AS (
    SELECT *, CASE dimension WHEN 'all' THEN 'All' WHEN 'send' THEN 'SEND'
                   ELSE upper(dimension[1]) || replace(dimension[2:], '_', ' ') END AS dimension_label,
              CASE WHEN value ILIKE 'under %' THEN -1
                   ELSE TRY_CAST(regexp_extract(value, '^([0-9]+)', 1) AS INTEGER) END AS age
    FROM split
), ranked AS (
    SELECT *, CAST(row_number() OVER (ORDER BY dimension <> 'all', dimension, age NULLS LAST, value) AS INTEGER)
                  AS sort_order
    FROM labelled
), first_of_value AS (  -- a value in two dimensions ranks once, by its first place
    SELECT *, min(sort_order) OVER (PARTITION BY value) AS first_rank FROM ranked
)
SELECT breakdown, dimension, dimension_label, value,
       CASE WHEN dimension = 'all' THEN 'All' ELSE dimension_label || ': ' || value END AS label, sort_order,
       CAST(dense_rank() OVER (ORDER BY dimension <> 'all', dimension) AS INTEGER) AS dimension_sort,
       -- Power BI sorts a column by another only when each of its values has one rank
       CAST(dense_rank() OVER (ORDER BY first_rank) AS INTEGER) AS value_sort
FROM first_of_value
ORDER BY sort_order
"""


def _tables(con: duckdb.DuckDBPyConnection, metrics: list[Metric], tier: Tier) -> None:
    own = f"s.{quote(tier.schema)}"  # the tier's protected values, signals and alerts
    con.execute(
        "CREATE TABLE dim_metric (metric_id VARCHAR, title VARCHAR, description VARCHAR, unit VARCHAR, "
        "polarity VARCHAR, numerator_definition VARCHAR, denominator_definition VARCHAR, sources VARCHAR, "
        "multiplier DOUBLE, owner VARCHAR, theme VARCHAR, aggregation VARCHAR, denominator_type VARCHAR, "
        "complement_definition VARCHAR, amber_threshold DOUBLE, red_threshold DOUBLE, threshold_source VARCHAR, "
        "status VARCHAR DEFAULT 'current', status_note VARCHAR)"
    )
    con.executemany(
        "INSERT INTO dim_metric (metric_id, title, description, unit, polarity, numerator_definition, "
        "denominator_definition, sources, multiplier, owner, theme, aggregation, denominator_type, "
        "complement_definition, amber_threshold, red_threshold, threshold_source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [m.id, m.title, m.description, m.unit, m.polarity, m.numerator, m.denominator, ", ".join(m.sources),
             m.multiplier, m.owner, m.theme, m.aggregation, m.denominator_type, m.complement,
             m.thresholds.amber if m.thresholds else None, m.thresholds.red if m.thresholds else None,
             m.thresholds.source if m.thresholds else None]
            for m in metrics
        ],
    )  # fmt: skip
    con.execute(
        "CREATE TABLE dim_geography AS SELECT g.geography_code, g.geography_name, g.geography_type, "
        "NULLIF(g.parent_code, '') AS parent_code, d.locality_code, "
        "CASE WHEN g.geography_type IN ('county', 'district') THEN g.geography_code END AS ons_code, "
        # a locality that is exactly one district has the district's figures: shown once, as the district
        "g.geography_code NOT IN (SELECT locality_code FROM s.ref_district WHERE locality_code IS NOT NULL "
        "GROUP BY ALL HAVING count(*) = 1) AS distinct_area "
        "FROM s.ref_geography g LEFT JOIN s.ref_district d ON d.district_code = g.geography_code "
        "ORDER BY g.geography_type, g.geography_code"
    )
    con.execute(
        f"""
        CREATE TABLE dim_period AS
        SELECT period_id, period_type, start_month AS start_date,
               CAST(last_day(end_month) AS DATE) AS end_date,
               printf('%d-%02d', year(end_month) - (month(end_month) < 4)::INT,
                      (year(end_month) - (month(end_month) < 4)::INT + 1) % 100) AS financial_year,
               CASE period_type WHEN 'month' THEN strftime(end_month, '%b %Y')
                    WHEN 'quarter' THEN period_id || ' (' || strftime(start_month, '%b') || '-'
                        || strftime(end_month, '%b %Y') || ')'
                    ELSE '12 months to ' || strftime(end_month, '%b %Y') END AS label,
               CAST(year(end_month) * 100 + month(end_month) AS INTEGER) * 10
                   + CASE period_type WHEN 'month' THEN 1 WHEN 'quarter' THEN 2 ELSE 3 END AS sort_key
        FROM (SELECT DISTINCT period_id, period_type, start_month, end_month FROM {own}.metric_protected
              UNION  -- the months of the data-quality scorecard, which may reach beyond the metrics'
              SELECT DISTINCT strftime(period_month, '%Y-%m'), 'month', period_month, period_month
              FROM s.dq_monthly WHERE {KNOWN_MONTH})
        UNION ALL  -- rows whose event date could not be read (data quality)
        SELECT 'unknown', 'unknown', NULL, NULL, NULL, 'Month unknown', 0
        ORDER BY sort_key
        """
    )
    con.execute(DATE_SQL)
    con.execute(
        f"""
        CREATE TABLE fact_metric_value AS
        WITH county_only AS ({COUNTY_ONLY_SQL}), cells AS (
            SELECT p.*, CASE WHEN p.value_status <> 'value' THEN p.value_status
                             WHEN o.metric_id IS NOT NULL AND p.geography_code <> (
                                 SELECT geography_code FROM s.ref_geography WHERE geography_type = 'county')
                                 THEN 'not applicable'
                             WHEN p.value IS NOT NULL THEN 'value'
                             WHEN p.numerator = 0 THEN 'no events'
                             ELSE 'not applicable' END AS status  -- events, but nothing to count them against
            FROM {own}.metric_protected p LEFT JOIN county_only o USING (metric_id)
        )
        SELECT p.metric_id, p.period_id, p.geography_code, p.breakdown,
               -- where the rate does not apply there are no counts to read (nor a 0 to misread)
               CASE WHEN p.status <> 'not applicable' THEN p.numerator END AS numerator,
               CASE WHEN p.status <> 'not applicable' THEN p.denominator END AS denominator,
               p.value, p.suppressed, r.rag, g.signal, p.status AS value_status,
               -- the limits of a series that was judged (enough months, none suppressed)
               CASE WHEN g.signal IS NOT NULL THEN g.mean END AS process_mean,
               CASE WHEN g.signal IS NOT NULL THEN g.upl END AS upper_process_limit,
               CASE WHEN g.signal IS NOT NULL THEN g.lpl END AS lower_process_limit
        FROM cells p
        LEFT JOIN {own}.metric_rag r USING (metric_id, period_type, end_month, geography_code, breakdown)
        LEFT JOIN {own}.metric_signals g ON p.period_type = 'month' AND g.metric_id = p.metric_id
         AND g.end_month = p.end_month AND g.geography_code = p.geography_code AND g.breakdown = p.breakdown
        ORDER BY p.metric_id, p.period_type, p.end_month, p.geography_code, p.breakdown
        """
    )
    con.execute(
        "CREATE TABLE comparator AS SELECT metric_id, comparator, period, period_end, value, unit, publication, "
        "publisher, url, note FROM s.ref_comparator ORDER BY metric_id, comparator, period_end"
    )
    con.execute(
        "CREATE TABLE alerts AS SELECT metric_id, strftime(end_month, '%Y-%m') AS period_id, geography_code, "
        f"breakdown, signal, rule, message FROM {own}.metric_alerts"
    )
    con.execute(BREAKDOWN_SQL)
    con.execute(_scorecard_sql(tier))


# The scorecard's dataset counts are cells of the data-quality metrics (breakdown
# `partner/dataset:`), which publish the partner and county totals they add up to: in a month
# those metrics cover, a count is shown exactly where the tier's protection of the metric shows it.
# scorecard count -> (metric, measure) publishing it
SCORECARD_CELLS = {
    "rows_received": ("identifier_validity", "denominator"),
    "rows_loaded": ("identifier_validity", "numerator"),
    "rows_with_nhs_number": ("nhs_number_coverage", "numerator"),
    "rows_with_upn": ("upn_coverage", "numerator"),
}


# a dataset-month with no rows: these are 0, every share and the delivery lag undefined
ZERO_WHEN_NO_ROWS = ("rows_received", "rows_loaded", "rows_quarantined", "rows_with_warnings", "rows_purged")


def _scorecard_sql(tier: Tier) -> str:
    """`dq_scorecard`: per dataset and month (every month the data-quality metrics cover, and
    any other with rows), counts and shares as the tier may show them.

    In a month the data-quality metrics cover, rows received and loaded (and the shares of them)
    are shown where the metric's dataset cell is, identifier coverage where its coverage cell is,
    timeliness with rows received (it is empty exactly when no rows arrived, so beside a hidden
    count it would tell a 0 from a small count);
    rows quarantined are received less loaded, shown with them: like a share's complement, a
    count of rows failing checks, not of children. In other months (before the metrics' first,
    or unknown) nothing is published that the counts add up to, and they are hidden cell by cell:
    a small count hides received, loaded and quarantined together, and every share of them."""
    own = f"s.{quote(tier.schema)}"
    t, policy = tier.policy.threshold, tier.policy
    split = " OR ".join(primary_suppression(c, t) for c in ("rows_received", "rows_loaded", "rows_quarantined"))
    shown = {
        column: f"bool_or(metric_id = {literal(metric)} AND {measure} IS NOT NULL)"
        for column, (metric, measure) in SCORECARD_CELLS.items()
    }
    metrics = ", ".join(sorted({literal(m) for m, _ in SCORECARD_CELLS.values()}))
    in_metric = "NOT (shows_rows_received AND shows_rows_loaded)"
    covered = "path IS NOT NULL"  # the month is one the data-quality metrics cover
    counts_hidden = f"CASE WHEN {covered} THEN {in_metric} ELSE {split} END"
    received_hidden = f"CASE WHEN {covered} THEN {in_metric} ELSE {primary_suppression('rows_received', t)} END"

    def count(column: str, hidden_when: str) -> str:
        return f"CASE WHEN {hidden_when} THEN NULL ELSE {rounded_sql(column, policy)} END AS {column}"

    def share(column: str, hidden_when: str = counts_hidden) -> str:
        return f"CASE WHEN {hidden_when} THEN NULL ELSE {column} END AS {column}"

    def coverage(column: str, cell: str) -> str:
        return share(column, f"CASE WHEN {covered} THEN NOT shows_{cell} ELSE {split} END")

    return f"""
        CREATE TABLE dq_scorecard AS
        WITH metric_cells AS (
            SELECT substr(breakdown, strpos(breakdown, ':') + 1) AS path, end_month,
                   {", ".join(f"{v} AS shows_{k}" for k, v in shown.items())}
            FROM {own}.metric_protected
            WHERE period_type = 'month' AND starts_with(breakdown, 'partner/dataset:') AND metric_id IN ({metrics})
              AND geography_code = (SELECT geography_code FROM s.ref_geography WHERE geography_type = 'county')
            GROUP BY ALL
        )
        SELECT partner, dataset, period_id, rows_received, rows_loaded, rows_quarantined, rows_with_warnings,
               completeness, validity, uniqueness, timeliness_days, nhs_number_coverage, upn_coverage, rows_purged,
               validity - lag(validity IGNORE NULLS) OVER (
                   PARTITION BY partner, dataset, period_month IS NULL ORDER BY period_month) AS validity_change,
               CASE WHEN validity_change > 0.005 THEN 'improving' WHEN validity_change < -0.005 THEN 'worsening'
                    WHEN validity_change IS NOT NULL THEN 'stable' END AS trend
        FROM (
        SELECT partner, dataset,
               CASE WHEN {KNOWN_MONTH} THEN strftime(period_month, '%Y-%m') ELSE 'unknown' END
                   AS period_id,
               {count("rows_received", received_hidden)},
               {count("rows_loaded", counts_hidden)}, {count("rows_quarantined", counts_hidden)},
               {count("rows_with_warnings", primary_suppression("rows_with_warnings", t))},
               {share("completeness")}, {share("validity")}, {share("uniqueness")},
               {share("timeliness_days", received_hidden)},
               {coverage("nhs_number_coverage", "rows_with_nhs_number")}, {coverage("upn_coverage", "rows_with_upn")},
               {count("rows_purged", primary_suppression("rows_purged", t))},
               period_month
        FROM (
            -- every month the metrics cover is listed, with no rows as 0: were a month listed only
            -- when rows arrived, each listed month would be known to hold at least 1
            SELECT d.* REPLACE (
                       coalesce(d.partner, split_part(m.path, '/', 1)) AS partner,
                       coalesce(d.dataset, split_part(m.path, '/', 2)) AS dataset,
                       coalesce(d.period_month, m.end_month) AS period_month,
                       {", ".join(f"coalesce(d.{c}, 0) AS {c}" for c in ZERO_WHEN_NO_ROWS)}),
                   m.* EXCLUDE (end_month)
            FROM s.dq_monthly d
            FULL JOIN metric_cells m ON m.path = d.partner || '/' || d.dataset AND m.end_month = d.period_month
        )
        ) ORDER BY partner, dataset, period_id
        """


def _publication(con: duckdb.DuckDBPyConnection, contracts: list[Contract], run_id: str, tier: Tier) -> None:
    """Lineage: every delivered file the shared store holds rows from, with the contract's hash.
    Beyond the home tier, the datasets and their contracts only: deliveries (their labels and
    hashes) are the partnership's own business."""
    digests = [
        (
            c.partner,
            c.dataset,
            hashlib.sha256(c.file.read_bytes()).hexdigest(),
        )
        for c in contracts
    ]
    con.execute("CREATE TEMP TABLE contract_digest (partner VARCHAR, dataset VARCHAR, contract_sha256 VARCHAR)")
    con.executemany("INSERT INTO contract_digest VALUES (?, ?, ?)", digests)
    deliveries = "label, sha256" if tier.home else "NULL::VARCHAR AS label, NULL::VARCHAR AS sha256"
    con.execute(
        f"""
        CREATE TABLE publication AS
        SELECT ? AS run_id, CAST(? AS TIMESTAMP) AS published_at, ? AS disclosure_policy, ? AS tier, ? AS marking,
               d.partner, d.dataset, c.contract_sha256, d.label AS delivery, d.sha256 AS file_sha256
        FROM (SELECT DISTINCT partner, dataset, {deliveries} FROM s.delivery_log WHERE status = 'loaded') d
        LEFT JOIN contract_digest c USING (partner, dataset)
        ORDER BY d.partner, d.dataset, d.label
        """,
        [run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), tier.policy.name, tier.name, tier.marking],
    )


def _conform(con: duckdb.DuckDBPyConnection, schema: dict[str, TableSchema]) -> None:
    """Each table cast to its documented columns, in order; a column built but not documented
    (or documented but not built) is a bug, and says so."""
    for table, spec in schema.items():
        built = [r[0] for r in con.execute(f"DESCRIBE {quote(table)}").fetchall()]
        if built != list(spec.columns):
            raise RuntimeError(f"{table}: built columns {built} differ from the documented {list(spec.columns)}")
        casts = ", ".join(f"CAST({quote(c)} AS {t}) AS {quote(c)}" for c, (t, _) in spec.columns.items())
        con.execute(f"CREATE TABLE {quote(table + '__typed')} AS SELECT {casts} FROM {quote(table)}")
        con.execute(f"DROP TABLE {quote(table)}")
        con.execute(f"ALTER TABLE {quote(table + '__typed')} RENAME TO {quote(table)}")


def build_star_schema(
    con: duckdb.DuckDBPyConnection,
    metrics: list[Metric],
    contracts: list[Contract],
    run_id: str,
    tier: Tier,
    schema: dict[str, TableSchema],
) -> list[str]:
    """Build every published table of the tier in the connection's database, each carrying
    the tier's marking as its comment; returns their names."""
    _tables(con, metrics, tier)
    _publication(con, contracts, run_id, tier)
    _conform(con, schema)
    for table in schema:
        con.execute(f"COMMENT ON TABLE {quote(table)} IS {literal(tier.label)}")
    return list(schema)
