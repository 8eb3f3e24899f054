"""Turning canonical records into the cells a partner's system writes: its headers, date
formats, sex codes and NHS number spacing. CSV cells become text; XLSX cells keep real dates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sihub.synthetic.builders import BLANK_DAY
from sihub.synthetic.calendar import EPOCH
from sihub.synthetic.catalogue import DatasetSpec


def _day_values(spec: DatasetSpec, days: np.ndarray, fmt: str):
    days = np.asarray(days, dtype=np.int64)
    blank = days == BLANK_DAY
    dates = pd.Series((np.where(blank, 0, days) + EPOCH.astype(np.int64)).astype("datetime64[D]"))
    if spec.fmt == "xlsx":
        out = np.array(dates.dt.date, dtype=object)
        out[blank] = None
        return out
    out = dates.dt.strftime(fmt).to_numpy(dtype=object)
    out[blank] = ""
    return out


def _timestamp_values(spec: DatasetSpec, values) -> np.ndarray:
    stamps = pd.Series(pd.to_datetime(values))
    if spec.fmt == "xlsx":
        return np.array(stamps.dt.to_pydatetime(), dtype=object)
    return stamps.dt.strftime(spec.style.datetime_format).to_numpy(dtype=object)


def column(spec: DatasetSpec, canonical: str, values) -> np.ndarray:
    """One canonical column as the partner writes it."""
    style = spec.style
    if canonical in spec.dates:
        return _day_values(spec, values, style.date_format)
    if canonical in spec.datetimes:
        return _timestamp_values(spec, values)
    values = pd.Series(values, dtype=object)
    if canonical == "sex":
        return values.map({"M": style.sex_codes[0], "F": style.sex_codes[1]}).to_numpy(dtype=object)
    if canonical == "nhs_number" and style.nhs_spaced:
        values = values.where(values.isna(), values.str[:3] + " " + values.str[3:6] + " " + values.str[6:])
    blank = None if spec.fmt == "xlsx" else ""
    return values.where(values.notna(), blank).to_numpy(dtype=object)


def render(spec: DatasetSpec, records: pd.DataFrame) -> pd.DataFrame:
    """The delivery frame: partner headers in file order, plus the hidden truth columns."""
    cells = {header: column(spec, canonical, records[canonical].to_numpy()) for canonical, header in spec.columns}
    frame = pd.DataFrame(cells, dtype=object)
    frame["_child"] = records["_child"].to_numpy()
    frame["_date"] = records["_date"].to_numpy()
    frame["_variation"] = records["_variation"].to_numpy()
    return frame
