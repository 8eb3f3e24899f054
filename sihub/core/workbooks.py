"""Writing Excel cells the one safe way: text from data goes in as text, whatever it starts
with, so a cell reading `=HYPERLINK(...)` (a partner's free text, a file name) shows as that
text and never becomes a live formula in a reader's Excel. Every workbook the hub writes
(the SSAG pack, subject access exports) writes through here."""

from __future__ import annotations

from collections.abc import Iterable

from openpyxl.worksheet.worksheet import Worksheet


def put(ws: Worksheet, row: int, column: int, value: object) -> None:
    """One cell; text as text (no formula from data)."""
    cell = ws.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


def put_table(ws: Worksheet, header: list[str], rows: Iterable[Iterable[object]], first_row: int = 1) -> int:
    """A header and rows from `first_row`; returns the row after the last."""
    for column, name in enumerate(header, start=1):
        put(ws, first_row, column, name)
    row = first_row
    for row, values in enumerate(rows, start=first_row + 1):
        for column, value in enumerate(values, start=1):
            put(ws, row, column, value)
    return row + 1
