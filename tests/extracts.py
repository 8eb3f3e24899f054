"""Reading synthetic deliveries in tests with plain csv and openpyxl, independently of the
code that wrote them."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

from synthetic.catalogue import DatasetSpec


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
