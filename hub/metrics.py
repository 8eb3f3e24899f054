"""The metric catalogue: one SQL file per metric in `sql/`, with a header of `-- key: value`
lines (id, title, unit, numerator, denominator, sources, ...). A metric's query returns
district rows for every month; the runner adds locality and county by summing numerators
and denominators, and the rate.

Queries run in the shared store and may use:
- `month_district_grid(period_month, district_code)`: every month with data x every district;
- `district_children(age_from, age_to)`: a table macro of children by district in an age range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from hub.db import literal, scalar
from hub.paths import SQL_DIR
from hub.sql_files import SqlFileError, read_sql_file

REQUIRED = ("id", "title", "unit", "numerator", "denominator", "sources")
OUTPUT_COLUMNS = ("period_month", "district_code", "breakdown", "numerator", "denominator")


MetricError = SqlFileError


@dataclass(frozen=True)
class Metric:
    id: str
    title: str
    unit: str
    numerator: str
    denominator: str
    sources: tuple[str, ...]
    sql: str
    path: Path
    description: str = ""
    polarity: str = "neutral"
    multiplier: float = 1.0
    owner: str = ""
    theme: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def source_tables(self) -> list[str]:
        return [s.replace("/", "__") for s in self.sources]


def parse_metric(path: Path) -> Metric:
    header, sql = read_sql_file(path, REQUIRED)
    if header["id"] != path.stem:
        raise MetricError(f"{path}: id {header['id']!r} must match the file name")
    known = {
        "id",
        "title",
        "unit",
        "numerator",
        "denominator",
        "sources",
        "description",
        "polarity",
        "multiplier",
        "owner",
        "theme",
    }
    return Metric(
        id=header["id"],
        title=header["title"],
        unit=header["unit"],
        numerator=header["numerator"],
        denominator=header["denominator"],
        sources=tuple(s.strip() for s in header["sources"].split(",")),
        sql=sql,
        path=path,
        description=header.get("description", ""),
        polarity=header.get("polarity", "neutral"),
        multiplier=float(header.get("multiplier", 1)),
        owner=header.get("owner", ""),
        theme=header.get("theme", ""),
        extra={k: v for k, v in header.items() if k not in known},
    )


def load_catalogue(folder: Path = SQL_DIR) -> list[Metric]:
    return [parse_metric(p) for p in sorted(folder.glob("*.sql"))]


def _prepare(con: duckdb.DuckDBPyConnection) -> None:
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'event_month' "
            "AND table_schema = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    months = " UNION ALL ".join(f'SELECT event_month FROM "{t}"' for t in tables) or "SELECT NULL::DATE"
    con.execute(
        "CREATE OR REPLACE TABLE month_district_grid AS "
        "SELECT CAST(m AS DATE) AS period_month, d.district_code FROM "
        f"(SELECT min(event_month) AS lo, max(event_month) AS hi FROM ({months})) r, "
        "generate_series(r.lo, r.hi, INTERVAL 1 MONTH) AS s(m), ref_district d"
    )
    con.execute(
        "CREATE OR REPLACE MACRO district_children(age_from, age_to) AS TABLE "
        "SELECT district_code, sum(population) AS children FROM ref_population "
        "WHERE age BETWEEN age_from AND age_to GROUP BY district_code"
    )


def compute(con: duckdb.DuckDBPyConnection, metrics: list[Metric]) -> dict[str, int | str]:
    """Run every metric into `metric_values` (district, locality, county). Returns rows per
    metric, or the reason a metric was skipped."""
    _prepare(con)
    con.execute(
        "CREATE OR REPLACE TABLE metric_district_values (metric_id VARCHAR, period_month DATE, "
        "district_code VARCHAR, breakdown VARCHAR, numerator BIGINT, denominator BIGINT)"
    )
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    outcome: dict[str, int | str] = {}
    for metric in metrics:
        missing = [t for t in metric.source_tables if t not in present]
        if missing:
            outcome[metric.id] = f"skipped: no data for {', '.join(missing)}"
            continue
        try:
            con.execute(
                f"INSERT INTO metric_district_values SELECT ?, {', '.join(OUTPUT_COLUMNS)} FROM ({metric.sql})",
                [metric.id],
            )
        except duckdb.Error as err:
            raise MetricError(f"{metric.path}: {str(err).splitlines()[0]}") from err
        outcome[metric.id] = scalar(con, "SELECT count(*) FROM metric_district_values WHERE metric_id = ?", [metric.id])
    multipliers = ", ".join(f"({literal(m.id)}, {float(m.multiplier)})" for m in metrics) or "(NULL, NULL)"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE metric_values AS
        WITH district AS (
            SELECT v.*, d.locality_code, d.county_code FROM metric_district_values v
            JOIN ref_district d USING (district_code)
        ), levels AS (
            SELECT metric_id, period_month, district_code AS geography_code, breakdown, numerator, denominator
            FROM district
            UNION ALL
            SELECT metric_id, period_month, locality_code, breakdown, sum(numerator), sum(denominator)
            FROM district GROUP BY ALL
            UNION ALL
            SELECT metric_id, period_month, county_code, breakdown, sum(numerator), sum(denominator)
            FROM district GROUP BY ALL
        )
        SELECT l.*, CASE WHEN denominator > 0 THEN numerator * m.multiplier / denominator END AS value
        FROM levels l JOIN (VALUES {multipliers}) AS m(metric_id, multiplier) USING (metric_id)
        """
    )
    return outcome
