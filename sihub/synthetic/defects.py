"""Planting the defects real extracts carry, each recorded so validation can be scored.

At most one defect per row, so that a row's quarantine reason is unambiguous.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sihub.privacy.identifiers import UPN_LETTERS
from sihub.synthetic.catalogue import DatasetSpec
from sihub.synthetic.render import column

BAD_DATES = ("unknown", "TBC", "not recorded", "see notes")
KINDS = (
    "bad_date",
    "impossible_date",
    "invalid_nhs_check_digit",
    "invalid_upn_check_letter",
    "blank_mandatory",
    "out_of_range_code",
    "end_before_start",
    "duplicate_row",
)


def _filled(values: pd.Series) -> np.ndarray:
    return (values.notna() & (values.astype(str) != "")).to_numpy()


def _eligible(spec: DatasetSpec, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    d, n = spec.defects, len(frame)
    rows = {}
    if d.dates:
        rows["bad_date"] = rows["impossible_date"] = np.ones(n, dtype=bool)
    if d.nhs:
        rows["invalid_nhs_check_digit"] = _filled(frame[d.nhs])
    if d.upn:
        rows["invalid_upn_check_letter"] = _filled(frame[d.upn])
    if d.mandatory:
        rows["blank_mandatory"] = np.ones(n, dtype=bool)
    if d.codes:
        rows["out_of_range_code"] = np.ones(n, dtype=bool)
    if d.end_before_start:
        rows["end_before_start"] = _filled(frame[d.end_before_start[1]])
    if d.duplicates:
        rows["duplicate_row"] = np.ones(n, dtype=bool)
    return rows


def _impossible(spec: DatasetSpec, header: str, year: int) -> str:
    canonical = {h: c for c, h in spec.columns}[header]
    fmt = spec.style.datetime_format if canonical in spec.datetimes else spec.style.date_format
    if spec.fmt == "xlsx":
        fmt = spec.style.date_format
    for code, value in (
        ("%d", "31"),
        ("%m", "02"),
        ("%Y", str(year)),
        ("%H", "10"),
        ("%M", "15"),
        ("%S", "00"),
    ):
        fmt = fmt.replace(code, value)
    return fmt


def plant(
    rng: np.random.Generator, spec: DatasetSpec, frame: pd.DataFrame, records: pd.DataFrame, rate: float
) -> pd.DataFrame:
    """Return the frame with defects planted and `_defect`, `_defect_column` filled in."""
    frame = frame.assign(_defect="", _defect_column="")
    n = len(frame)
    eligible = _eligible(spec, frame)
    if n == 0 or not eligible or rate <= 0:
        return frame
    kinds = [k for k in KINDS if k in eligible]
    counts = rng.multinomial(rng.binomial(n, rate), np.full(len(kinds), 1 / len(kinds)))
    used = np.zeros(n, dtype=bool)
    d = spec.defects
    duplicate_rows = np.array([], dtype=np.int64)
    for kind, count in zip(kinds, counts, strict=True):
        pool = np.flatnonzero(eligible[kind] & ~used)
        rows = np.sort(rng.choice(pool, size=min(count, len(pool)), replace=False))
        if len(rows) == 0:
            continue
        used[rows] = True
        target = np.empty(len(rows), dtype=object)
        if kind in ("bad_date", "impossible_date"):
            target[:] = np.array(d.dates, dtype=object)[rng.integers(0, len(d.dates), len(rows))]
            for header in sorted(set(target)):
                at = rows[target == header]
                if kind == "bad_date":
                    values = np.array(BAD_DATES, dtype=object)[rng.integers(0, len(BAD_DATES), len(at))]
                else:
                    years = pd.DatetimeIndex(records["_date"].to_numpy()[at].astype("datetime64[D]")).year
                    values = np.array([_impossible(spec, header, y) for y in years], dtype=object)
                frame.loc[frame.index[at], header] = values
        elif kind == "invalid_nhs_check_digit":
            target[:] = d.nhs
            for i in rows:
                value = frame.at[frame.index[i], d.nhs]
                wrong = str((int(value[-1]) + int(rng.integers(1, 10))) % 10)
                frame.at[frame.index[i], d.nhs] = value[:-1] + wrong
        elif kind == "invalid_upn_check_letter":
            target[:] = d.upn
            for i in rows:
                value = frame.at[frame.index[i], d.upn]
                others = [c for c in UPN_LETTERS if c != value[0]]
                frame.at[frame.index[i], d.upn] = others[int(rng.integers(0, len(others)))] + value[1:]
        elif kind == "blank_mandatory":
            target[:] = np.array(d.mandatory, dtype=object)[rng.integers(0, len(d.mandatory), len(rows))]
            blank = None if spec.fmt == "xlsx" else ""
            for header in sorted(set(target)):
                frame.loc[frame.index[rows[target == header]], header] = blank
        elif kind == "out_of_range_code":
            headers = list(d.codes)
            target[:] = np.array(headers, dtype=object)[rng.integers(0, len(headers), len(rows))]
            for header in sorted(set(target)):
                at = rows[target == header]
                bad = np.array(d.codes[header], dtype=object)
                frame.loc[frame.index[at], header] = bad[rng.integers(0, len(bad), len(at))]
        elif kind == "end_before_start":
            start_header, end_header = d.end_before_start
            target[:] = end_header
            canonical = {h: c for c, h in spec.columns}
            start = records[canonical[start_header]].to_numpy()[rows]
            if canonical[start_header] in spec.datetimes:
                end = pd.to_datetime(start) - pd.to_timedelta(rng.integers(1, 72, len(rows)), unit="h")
                end = end.to_numpy()
            else:
                end = start - rng.integers(1, 30, len(rows))
            frame.loc[frame.index[rows], end_header] = column(spec, canonical[end_header], end)
        else:  # duplicate_row: the copy is the defect, the original stays clean
            target[:] = ""
            duplicate_rows = rows
        frame.loc[frame.index[rows], "_defect"] = kind
        frame.loc[frame.index[rows], "_defect_column"] = target
    if len(duplicate_rows):
        frame.loc[frame.index[duplicate_rows], ["_defect", "_defect_column"]] = ""
        copies = frame.iloc[duplicate_rows].assign(_defect="duplicate_row", _defect_column="")
        order = np.concatenate([np.arange(n), duplicate_rows]).astype(float)
        order[n:] += 0.5
        frame = pd.concat([frame, copies]).iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    return frame
