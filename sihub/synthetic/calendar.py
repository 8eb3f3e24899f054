"""Day arithmetic for the generator: dates are int64 day numbers since 1970-01-01 so that
whole columns can be shifted, compared and sampled at once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sihub.synthetic import profile

EPOCH = np.datetime64("1970-01-01", "D")
DAY0 = int((np.datetime64(profile.WINDOW_START, "D") - EPOCH).astype(np.int64))
DAYN = int((np.datetime64(profile.WINDOW_END, "D") - EPOCH).astype(np.int64))


def days_of(days) -> pd.DatetimeIndex:
    """Day numbers as dates (for year, month and formatting)."""
    return pd.DatetimeIndex(np.asarray(days, dtype="int64").astype("datetime64[D]"))


def add_years(days, years: int) -> np.ndarray:
    """Same calendar date `years` later (29 February becomes 1 March)."""
    d = days_of(days)
    shifted = pd.to_datetime(
        {"year": d.year + years, "month": d.month, "day": np.where((d.month == 2) & (d.day == 29), 28, d.day)}
    )
    leap_fix = ((d.month == 2) & (d.day == 29)).astype(np.int64)
    return (shifted.to_numpy().astype("datetime64[D]") - EPOCH).astype(np.int64) + leap_fix


def age_at(dob: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whole years of age on `day`."""
    b, d = days_of(dob), days_of(day)
    before_birthday = (d.month < b.month) | ((d.month == b.month) & (d.day < b.day))
    return np.asarray(d.year - b.year - before_birthday, dtype=np.int64)


def uniform_days(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A day drawn uniformly in [start, end) for each pair."""
    return start + (rng.random(len(start)) * (end - start)).astype(np.int64)


def weekday_on_or_after(days: np.ndarray) -> np.ndarray:
    """Move weekend days to the next Monday (schools, courts and panels sit on weekdays)."""
    dates = days.astype("datetime64[D]")
    return (np.busday_offset(dates, 0, roll="forward") - EPOCH).astype(np.int64)


def add_working_days(days: np.ndarray, n: np.ndarray) -> np.ndarray:
    dates = np.busday_offset(days.astype("datetime64[D]"), 0, roll="forward")
    return (np.busday_offset(dates, n) - EPOCH).astype(np.int64)


def days_since_epoch(year, month: int, day: int) -> np.ndarray:
    """Day numbers of the given date in each of `year`."""
    y = np.asarray(year, dtype=np.int64)
    dates = pd.to_datetime({"year": y, "month": np.full(len(y), month), "day": np.full(len(y), day)})
    return (dates.to_numpy().astype("datetime64[D]") - EPOCH).astype(np.int64)
