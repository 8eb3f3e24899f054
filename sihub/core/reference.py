"""The partnership's reference tables (geography, population, postcode districts, ethnic
groups, national comparators, working days): read from the project or the home, and loaded
into the shared store.

These are small configuration tables; reading them with pandas is the right tool. The heavy
data never passes through here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import holidays
import pandas as pd

from sihub.core.db import literal, quote, scalar
from sihub.core.paths import HubPaths, project


def reference_file(name: str, home: Path | None = None) -> Path:
    """A reference table: `$SIHUB_HOME/reference/<name>` when present (a deployment's own
    figures, or the synthetic partnership's denominators), else the project's copy."""
    if home is not None and (HubPaths(home).reference / name).is_file():
        return HubPaths(home).reference / name
    return project().reference / name


def districts(reference_dir: Path | None = None) -> pd.DataFrame:
    return pd.read_csv((reference_dir or project().reference) / "districts.csv", dtype=str)


def geography(reference_dir: Path | None = None) -> pd.DataFrame:
    return pd.read_csv((reference_dir or project().reference) / "geography.csv", dtype=str, keep_default_na=False)


def population(reference_dir: Path | None = None) -> pd.DataFrame:
    return pd.read_csv(
        (reference_dir or project().reference) / "population.csv",
        dtype={"district_code": str, "age": int, "population": int, "estimate_type": str},
    )


def postcode_districts(reference_dir: Path | None = None) -> pd.DataFrame:
    return pd.read_csv((reference_dir or project().reference) / "postcode_districts.csv", dtype=str)


def working_calendar(first_year: int, last_year: int) -> pd.DataFrame:
    """Every day of the years with whether it is a working day: not a weekend, not a bank
    holiday in England and Wales (the `holidays` library keeps the dates, substitute days
    and one-off holidays included)."""
    bank = holidays.UK(subdiv="ENG", years=range(first_year, last_year + 1))
    days = pd.date_range(dt.date(first_year, 1, 1), dt.date(last_year, 12, 31), freq="D")
    return pd.DataFrame({"day": days.date, "working": [d.weekday() < 5 and d.date() not in bank for d in days]})


REFERENCE_TABLES = {
    "ref_population": "population.csv",
    "ref_geography": "geography.csv",
    "ref_district": "districts.csv",
    "ref_postcode_district": "postcode_districts.csv",
    "ref_ethnic_group": "ethnic_groups.csv",
    "ref_comparator": "comparators.csv",
}
# columns that are not text (every file is read as text, so a code such as `01` keeps its zero)
REFERENCE_TYPES = {
    "ref_population": {"age": "INTEGER", "population": "BIGINT"},
    "ref_comparator": {"period_end": "DATE", "value": "DOUBLE"},
}
CALENDAR_YEARS_BACK = 25  # working days are counted for events of children, so 18 years and a margin


def load_reference(con: duckdb.DuckDBPyConnection, home: Path) -> dict[str, int]:
    """(Re)load the reference tables into the shared store; returns rows per table."""
    counts = {}
    for table, name in REFERENCE_TABLES.items():
        path = reference_file(name, home)
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv({literal(str(path))}, header = true, "
            "all_varchar = true)"
        )
        counts[table] = scalar(con, f"SELECT count(*) FROM {table}")
    today = dt.date.today()
    calendar = working_calendar(today.year - CALENDAR_YEARS_BACK, today.year + 1)
    con.execute("CREATE OR REPLACE TABLE ref_calendar AS SELECT * FROM calendar")
    counts["ref_calendar"] = len(calendar)
    for table, types in REFERENCE_TYPES.items():
        for column, kind in types.items():
            con.execute(f"ALTER TABLE {table} ALTER {quote(column)} TYPE {kind}")
    return counts
