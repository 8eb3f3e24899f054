"""Reading the partnership's reference tables (geography, population, postcode districts).

These are small configuration tables; reading them with pandas is the right tool. The heavy
data never passes through here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import holidays
import pandas as pd

from hub.paths import REFERENCE_DIR


def reference_file(name: str, home: Path | None = None) -> Path:
    """A reference table: `$SIHUB_HOME/reference/<name>` when present (a deployment's own
    figures, or the synthetic partnership's denominators), else the repository's copy."""
    if home is not None and (home / "reference" / name).is_file():
        return home / "reference" / name
    return REFERENCE_DIR / name


def districts(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "districts.csv", dtype=str)


def geography(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "geography.csv", dtype=str, keep_default_na=False)


def population(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    return pd.read_csv(
        reference_dir / "population.csv",
        dtype={"district_code": str, "age": int, "population": int, "estimate_type": str},
    )


def postcode_districts(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "postcode_districts.csv", dtype=str)


def working_calendar(first_year: int, last_year: int) -> pd.DataFrame:
    """Every day of the years with whether it is a working day: not a weekend, not a bank
    holiday in England and Wales (the `holidays` library keeps the dates, substitute days
    and one-off holidays included)."""
    bank = holidays.UK(subdiv="ENG", years=range(first_year, last_year + 1))
    days = pd.date_range(dt.date(first_year, 1, 1), dt.date(last_year, 12, 31), freq="D")
    return pd.DataFrame({"day": days.date, "working": [d.weekday() < 5 and d.date() not in bank for d in days]})
