"""Reading the partnership's reference tables (geography, population, postcode districts).

These are small configuration tables; reading them with pandas is the right tool. The heavy
data never passes through here.
"""

from __future__ import annotations

from pathlib import Path

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
