"""Publishing the star schema (DuckDB file and Parquet) and the run summary.

Everything is built in a staging folder from the shared store only, then each output is
moved into place with an atomic rename: a reader sees the old file or the new one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb

from governance.disclosure import load_policy, primary_suppression
from governance.leak_guard import LeakFound, scan
from hub.contracts import load_contracts
from hub.db import connect, literal, scalar
from hub.metrics import Metric

TABLES = ("dim_metric", "dim_period", "dim_geography", "fact_metric_value", "alerts", "dq_scorecard")


def _build(con: duckdb.DuckDBPyConnection, metrics: list[Metric]) -> None:
    policy = load_policy()
    con.execute(
        "CREATE TABLE dim_metric (metric_id VARCHAR, title VARCHAR, description VARCHAR, unit VARCHAR, "
        "polarity VARCHAR, numerator_definition VARCHAR, denominator_definition VARCHAR, sources VARCHAR, "
        "multiplier DOUBLE, owner VARCHAR, theme VARCHAR, aggregation VARCHAR, denominator_type VARCHAR, "
        "amber_threshold DOUBLE, red_threshold DOUBLE)"
    )
    con.executemany(
        "INSERT INTO dim_metric VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [m.id, m.title, m.description, m.unit, m.polarity, m.numerator, m.denominator, ", ".join(m.sources),
             m.multiplier, m.owner, m.theme, m.aggregation, m.denominator_type,
             m.thresholds.amber if m.thresholds else None, m.thresholds.red if m.thresholds else None]
            for m in metrics
        ],
    )  # fmt: skip
    con.execute(
        "CREATE TABLE dim_geography AS SELECT geography_code, geography_name, geography_type, "
        "NULLIF(parent_code, '') AS parent_code FROM s.ref_geography ORDER BY geography_type, geography_code"
    )
    con.execute(
        """
        CREATE TABLE dim_period AS
        SELECT period_id, period_type, start_month AS start_date,
               CAST(last_day(end_month) AS DATE) AS end_date,
               CASE period_type WHEN 'month' THEN strftime(end_month, '%b %Y')
                    WHEN 'quarter' THEN period_id || ' (' || strftime(start_month, '%b') || '-'
                        || strftime(end_month, '%b %Y') || ')'
                    ELSE '12 months to ' || strftime(end_month, '%b %Y') END AS label,
               CAST(year(end_month) * 100 + month(end_month) AS INTEGER) * 10
                   + CASE period_type WHEN 'month' THEN 1 WHEN 'quarter' THEN 2 ELSE 3 END AS sort_key
        FROM (SELECT DISTINCT period_id, period_type, start_month, end_month FROM s.metric_protected)
        ORDER BY sort_key
        """
    )
    con.execute(
        """
        CREATE TABLE fact_metric_value AS
        SELECT p.metric_id, p.period_id, p.geography_code,
               p.breakdown, p.numerator, p.denominator, p.value, p.suppressed, r.rag, g.signal
        FROM s.metric_protected p
        LEFT JOIN s.metric_rag r USING (metric_id, period_type, end_month, geography_code, breakdown)
        LEFT JOIN s.metric_signals g ON p.period_type = 'month' AND g.metric_id = p.metric_id
         AND g.end_month = p.end_month AND g.geography_code = p.geography_code AND g.breakdown = p.breakdown
        ORDER BY p.metric_id, p.period_type, p.end_month, p.geography_code, p.breakdown
        """
    )
    con.execute(
        "CREATE TABLE alerts AS SELECT metric_id, strftime(end_month, '%Y-%m') AS period_id, geography_code, "
        "breakdown, signal, rule, message FROM s.metric_alerts"
    )
    t = policy.threshold
    # received = loaded + quarantined, and validity = loaded / received: one small count hides
    # the split (and validity), else it could be worked out from the others
    split = " OR ".join(primary_suppression(c, t) for c in ("rows_received", "rows_loaded", "rows_quarantined"))
    con.execute(
        f"""
        CREATE TABLE dq_scorecard AS
        SELECT partner, dataset, period_id, rows_received, rows_loaded, rows_quarantined, rows_with_warnings,
               completeness, validity, uniqueness, timeliness_days, nhs_number_coverage, upn_coverage,
               validity - lag(validity) OVER (
                   PARTITION BY partner, dataset, period_month IS NULL ORDER BY period_month) AS validity_change,
               CASE WHEN validity_change > 0.005 THEN 'improving' WHEN validity_change < -0.005 THEN 'worsening'
                    WHEN validity_change IS NOT NULL THEN 'stable' END AS trend
        FROM (
        SELECT partner, dataset, coalesce(strftime(period_month, '%Y-%m'), 'unknown') AS period_id,
               CASE WHEN {primary_suppression("rows_received", t)} THEN NULL ELSE rows_received END AS rows_received,
               CASE WHEN {split} THEN NULL ELSE rows_loaded END AS rows_loaded,
               CASE WHEN {split} THEN NULL ELSE rows_quarantined END AS rows_quarantined,
               CASE WHEN {primary_suppression("rows_with_warnings", t)} THEN NULL ELSE rows_with_warnings END
                   AS rows_with_warnings,
               completeness, CASE WHEN {split} THEN NULL ELSE validity END AS validity, uniqueness,
               timeliness_days, nhs_number_coverage, upn_coverage, period_month
        FROM s.dq_monthly
        ) ORDER BY partner, dataset, period_id
        """
    )


def run_summary(shared: duckdb.DuckDBPyConnection, run_id: str, started_at: dt.datetime, published: Path) -> dict:
    """The run summary of DESIGN.md from the shared store's delivery and check logs."""
    rows = shared.execute(
        "SELECT partner, dataset, file_name, sha256, status, rows_in, rows_loaded, rows_quarantined, error "
        "FROM delivery_log WHERE run_id = ? ORDER BY partner, dataset, file_name",
        [run_id],
    ).fetchall()
    checks = {
        (p, d): (passed, failed)
        for p, d, passed, failed in shared.execute(
            "SELECT partner, dataset, count(*) FILTER (passed), count(*) FILTER (NOT passed) FROM check_log "
            "WHERE run_id = ? GROUP BY ALL",
            [run_id],
        ).fetchall()
    }
    datasets: dict[tuple[str, str], dict] = {}
    for partner, dataset, name, sha, status, rows_in, loaded, quarantined, error in rows:
        passed, failed = checks.get((partner, dataset), (0, 0))
        page = Path("data_quality") / run_id / f"{partner}__{dataset}.html"
        entry = datasets.setdefault(
            (partner, dataset),
            {
                "partner": partner,
                "dataset": dataset,
                "rows_in": 0,
                "rows_loaded": 0,
                "rows_quarantined": 0,
                "checks_passed": passed,
                "checks_failed": failed,
                "data_docs": page.as_posix() if (published / page).exists() else None,
                "files": [],
            },
        )
        entry["files"].append(
            {
                "name": name,
                "sha256": sha,
                "status": status,
                "rows_in": rows_in,
                "rows_loaded": loaded,
                "rows_quarantined": quarantined,
                "error": error,
            }
        )
        entry["rows_in"] += rows_in
        entry["rows_loaded"] += loaded
        entry["rows_quarantined"] += quarantined
    return {
        "run_id": run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "data_quality": f"data_quality/{run_id}/index.html",
        "datasets": list(datasets.values()),
    }


def publish(shared_path: Path, published: Path, metrics: list[Metric], summary: dict) -> dict[str, int]:
    """Build every output in staging, then swap each into place. Returns rows per table."""
    staging = published / f".staging-{summary['run_id']}"
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "parquet").mkdir(parents=True)
    with connect(staging / "metrics.duckdb") as con:
        con.execute(f"ATTACH {literal(str(shared_path))} AS s (READ_ONLY)")
        _build(con, metrics)
        findings = scan(con, "metrics", load_contracts())
        if findings:
            raise LeakFound(findings)
        counts = {t: scalar(con, f"SELECT count(*) FROM {t}") for t in TABLES}
        for table in TABLES:
            target = literal(str(staging / "parquet" / f"{table}.parquet"))
            con.execute(f"COPY {table} TO {target} (FORMAT parquet)")
        con.execute("DETACH s")
    (published / "parquet").mkdir(parents=True, exist_ok=True)
    os.replace(staging / "metrics.duckdb", published / "metrics.duckdb")
    for table in TABLES:
        os.replace(staging / "parquet" / f"{table}.parquet", published / "parquet" / f"{table}.parquet")
    summary = {
        **summary,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "success",
        "outputs": counts,
    }
    (staging / "run_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    os.replace(staging / "run_summary.json", published / "run_summary.json")
    shutil.rmtree(staging)
    return counts
