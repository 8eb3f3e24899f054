"""The published star schema, built from the shared store (attached as `s`) and cast to the
documented schema (`sihub/publishing/published_schema.yaml`): names, order and types Power BI reads cleanly."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict

from sihub.core.contracts import Contract
from sihub.core.db import literal, quote
from sihub.core.paths import project
from sihub.metrics.catalogue import Metric
from sihub.privacy.disclosure import primary_suppression, rounded_sql
from sihub.privacy.tiers import Tier

SCHEMA_FILE = Path(__file__).with_name("published_schema.yaml")


class TableSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    columns: dict[str, tuple[str, str]]  # name -> (DuckDB type, meaning)


def load_schema(path: Path = SCHEMA_FILE) -> dict[str, TableSchema]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: TableSchema.model_validate(t) for name, t in raw.items()}


def _tables(con: duckdb.DuckDBPyConnection, metrics: list[Metric], tier: Tier) -> None:
    own = f"s.{quote(tier.schema)}"  # the tier's protected values, signals and alerts
    con.execute(
        "CREATE TABLE dim_metric (metric_id VARCHAR, title VARCHAR, description VARCHAR, unit VARCHAR, "
        "polarity VARCHAR, numerator_definition VARCHAR, denominator_definition VARCHAR, sources VARCHAR, "
        "multiplier DOUBLE, owner VARCHAR, theme VARCHAR, aggregation VARCHAR, denominator_type VARCHAR, "
        "amber_threshold DOUBLE, red_threshold DOUBLE, threshold_source VARCHAR, status VARCHAR DEFAULT 'current', "
        "status_note VARCHAR)"
    )
    con.executemany(
        "INSERT INTO dim_metric (metric_id, title, description, unit, polarity, numerator_definition, "
        "denominator_definition, sources, multiplier, owner, theme, aggregation, denominator_type, amber_threshold, "
        "red_threshold, threshold_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [m.id, m.title, m.description, m.unit, m.polarity, m.numerator, m.denominator, ", ".join(m.sources),
             m.multiplier, m.owner, m.theme, m.aggregation, m.denominator_type,
             m.thresholds.amber if m.thresholds else None, m.thresholds.red if m.thresholds else None,
             m.thresholds.source if m.thresholds else None]
            for m in metrics
        ],
    )  # fmt: skip
    con.execute(
        "CREATE TABLE dim_geography AS SELECT g.geography_code, g.geography_name, g.geography_type, "
        "NULLIF(g.parent_code, '') AS parent_code, d.locality_code, "
        "CASE WHEN g.geography_type IN ('county', 'district') THEN g.geography_code END AS ons_code "
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
        FROM (SELECT DISTINCT period_id, period_type, start_month, end_month FROM {own}.metric_protected)
        ORDER BY sort_key
        """
    )
    con.execute(
        f"""
        CREATE TABLE fact_metric_value AS
        SELECT p.metric_id, p.period_id, p.geography_code,
               p.breakdown, p.numerator, p.denominator, p.value, p.suppressed, r.rag, g.signal, p.value_status,
               -- the limits of a series that was judged (enough months, none suppressed)
               CASE WHEN g.signal IS NOT NULL THEN g.mean END AS process_mean,
               CASE WHEN g.signal IS NOT NULL THEN g.upl END AS upper_process_limit,
               CASE WHEN g.signal IS NOT NULL THEN g.lpl END AS lower_process_limit
        FROM {own}.metric_protected p
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
    t, policy = tier.policy.threshold, tier.policy
    # received = loaded + quarantined, and every share is of the rows received or loaded: one
    # small count hides the split and the shares, else it could be worked out from the others
    split = " OR ".join(primary_suppression(c, t) for c in ("rows_received", "rows_loaded", "rows_quarantined"))

    def count(column: str, hidden_when: str) -> str:
        return f"CASE WHEN {hidden_when} THEN NULL ELSE {rounded_sql(column, policy)} END AS {column}"

    def share(column: str) -> str:
        return f"CASE WHEN {split} THEN NULL ELSE {column} END AS {column}"

    con.execute(
        f"""
        CREATE TABLE dq_scorecard AS
        SELECT partner, dataset, period_id, rows_received, rows_loaded, rows_quarantined, rows_with_warnings,
               completeness, validity, uniqueness, timeliness_days, nhs_number_coverage, upn_coverage, rows_purged,
               validity - lag(validity) OVER (
                   PARTITION BY partner, dataset, period_month IS NULL ORDER BY period_month) AS validity_change,
               CASE WHEN validity_change > 0.005 THEN 'improving' WHEN validity_change < -0.005 THEN 'worsening'
                    WHEN validity_change IS NOT NULL THEN 'stable' END AS trend
        FROM (
        SELECT partner, dataset, coalesce(strftime(period_month, '%Y-%m'), 'unknown') AS period_id,
               {count("rows_received", primary_suppression("rows_received", t))},
               {count("rows_loaded", split)}, {count("rows_quarantined", split)},
               {count("rows_with_warnings", primary_suppression("rows_with_warnings", t))},
               {share("completeness")}, {share("validity")}, {share("uniqueness")}, timeliness_days,
               {share("nhs_number_coverage")}, {share("upn_coverage")},
               {count("rows_purged", primary_suppression("rows_purged", t))},
               period_month
        FROM s.dq_monthly
        ) ORDER BY partner, dataset, period_id
        """
    )


def _publication(con: duckdb.DuckDBPyConnection, contracts: list[Contract], run_id: str, tier: Tier) -> None:
    """Lineage: every delivered file the shared store holds rows from, with the contract's hash.
    Beyond the home tier, the datasets and their contracts only: deliveries (their labels and
    hashes) are the partnership's own business."""
    digests = [
        (
            c.partner,
            c.dataset,
            hashlib.sha256((project().contracts / c.partner / f"{c.dataset}.yaml").read_bytes()).hexdigest(),
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
