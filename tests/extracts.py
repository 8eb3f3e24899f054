"""Reading synthetic deliveries in tests with plain csv and openpyxl, independently of the
code that wrote them."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import openpyxl

from sihub.synthetic.catalogue import DatasetSpec


def read_rows(spec: DatasetSpec, path: Path) -> tuple[list[str], list[list]]:
    """Header and data rows of a delivery file, cells as the partner wrote them."""
    if spec.fmt == "csv":
        with path.open(encoding=spec.style.encoding, newline="") as f:
            rows = list(csv.reader(f))
        return rows[0], rows[1:]
    wb = openpyxl.load_workbook(path, read_only=True)
    sheet = wb.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    wb.close()
    start = 2 if spec.title else 0
    header = [str(c) for c in rows[start]]
    return header, [[("" if c is None else c) for c in r] for r in rows[start + 1 :]]


UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
# The code lists partners' systems allow (what a data contract would declare).
ALLOWED = {
    "Threshold Tier": {"1", "2", "3", "4"},
    "Category of Abuse": {"Neglect", "Emotional abuse", "Physical abuse", "Sexual abuse", "Multiple"},
    "Legal Status": {"C2", "V2", "E1", "J2", "L2"},
    "dash_risk_level": {"Standard", "Medium", "High"},
    "flag_type": {"CCE", "CSE", "County Lines", "Trafficking"},
    "Attendance Reason": {"Injury", "Illness", "Mental health", "Other", "Self-harm"},
    "Concern Category": {
        "Neglect",
        "Domestic abuse",
        "Physical injury",
        "Emotional wellbeing",
        "Sexual abuse",
        "Other",
    },
    "SENprovision": {"N", "K", "E"},
    "NCyearActual": {"R", *(str(y) for y in range(1, 12))},
    "Term": {"Autumn", "Spring", "Summer"},
    "Category": {"SUSP", "PERM"},
    "Ethnicity": {
        "WBRI",
        "WIRI",
        "WIRT",
        "WOTH",
        "WROM",
        "MWBC",
        "MWBA",
        "MWAS",
        "MOTH",
        "AIND",
        "APKN",
        "ABAN",
        "AOTH",
        "BCRB",
        "BAFR",
        "BOTH",
        "CHNE",
        "OOTH",
        "REFU",
        "NOBT",
    },
}


def nhs_ok(value: str) -> bool:
    digits = value.replace(" ", "")
    if not re.fullmatch(r"\d{10}", digits):
        return False
    check = 11 - sum(int(c) * w for c, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    return check != 10 and (check % 11) == int(digits[9])


def upn_ok(value: str) -> bool:
    if not re.fullmatch(r"[A-Z]\d{12}", value):
        return False
    return UPN_LETTERS[sum(int(c) * w for c, w in zip(value[1:], range(2, 14), strict=True)) % 23] == value[0]


def parse(spec: DatasetSpec, header: str, cell) -> dt.datetime | None:
    """A date cell as the partner meant it, or None when it cannot be a date."""
    if isinstance(cell, dt.datetime):
        return cell
    formats = (spec.style.date_format, spec.style.datetime_format)
    for fmt in formats:
        try:
            return dt.datetime.strptime(str(cell), fmt)
        except ValueError:
            continue
    return None


def looks_like_date(text: str) -> bool:
    return bool(re.fullmatch(r"\d{2}/\d{2}/\d{4}( \d{2}:\d{2})?|\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?", text))


def detect(spec: DatasetSpec, header: list[str], rows: list[list]) -> set[tuple[int, str, str]]:
    """Every defect visible in a file, found by plain rules: (row, column, kind)."""
    d, col = spec.defects, {h: i for i, h in enumerate(header)}
    found: set[tuple[int, str, str]] = set()
    seen: set[tuple] = set()
    for number, row in enumerate(rows, start=1):
        key = tuple(row)
        if key in seen:
            found.add((number, "", "duplicate_row"))
            continue
        seen.add(key)
        for h in d.mandatory:
            if row[col[h]] in ("", None):
                found.add((number, h, "blank_mandatory"))
        for h in d.dates:
            cell = row[col[h]]
            if cell not in ("", None) and parse(spec, h, cell) is None:
                kind = "impossible_date" if looks_like_date(str(cell)) else "bad_date"
                found.add((number, h, kind))
        if d.nhs and row[col[d.nhs]] not in ("", None) and not nhs_ok(str(row[col[d.nhs]])):
            found.add((number, d.nhs, "invalid_nhs_check_digit"))
        if d.upn and row[col[d.upn]] not in ("", None) and not upn_ok(str(row[col[d.upn]])):
            found.add((number, d.upn, "invalid_upn_check_letter"))
        for h in d.codes:
            if row[col[h]] not in ALLOWED[h]:
                found.add((number, h, "out_of_range_code"))
        if d.end_before_start:
            start_h, end_h = d.end_before_start
            start, end = (parse(spec, h, row[col[h]]) for h in (start_h, end_h))
            if start and end and end < start:
                found.add((number, end_h, "end_before_start"))
    return found


# each term's last month: (years after the academic year's first, month)
TERM_ENDS = {"Autumn": (0, 12), "Spring": (1, 3), "Summer": (1, 7)}


def attendance_term_months(out: Path, spec: DatasetSpec) -> set[str]:
    """The months ("2024-12") the landing attendance files' terms end in, rows with a term or
    academic year that cannot be read left out: read here from the files, not the hub's contract."""
    months = set()
    for path in sorted((out / spec.partner / spec.dataset).iterdir()):
        header, rows = read_rows(spec, path)
        year, term = header.index("AcademicYear"), header.index("Term")
        for row in rows:
            first, name = str(row[year]).strip()[:4], str(row[term]).strip()
            if name in TERM_ENDS and first.isdigit():
                add, month = TERM_ENDS[name]
                months.add(f"{int(first) + add}-{month:02d}")
    return months
