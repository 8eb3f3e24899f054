"""The cells of a workbook sheet that hold no value to read: Excel error values (`#N/A`,
`#DIV/0!`, ...) and formulas saved without their result (written by a program that does not
calculate, or by Excel with calculation set to manual).

Workbook readers turn both into blank cells, so a lookup that failed in the partner's workbook
would arrive as "not recorded". Here each is found with its sheet row and header, for the
reader to put back as a marker that the `excel_error` rule quarantines with a reason. The sheet
is streamed (expat over the zipped XML), and only when the reader's size check, inflating every
sheet anyway, saw an error cell or a formula in it (`SUSPECT`): most workbooks pay nothing.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

NO_SAVED_VALUE = "#NO_SAVED_VALUE"  # the marker of a formula saved without its result
EXCEL_ERRORS = (
    "#NULL!",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#N/A",
    "#GETTING_DATA",
    "#SPILL!",
    "#CALC!",
    "#FIELD!",
    "#BLOCKED!",
    "#CONNECT!",
    "#BUSY!",
    "#UNKNOWN!",
    "#PYTHON!",
    NO_SAVED_VALUE,
)
SUSPECT = re.compile(rb'\bt="e"|<(?:\w+:)?f[ >/]')
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"  # as expat names it
BLOCK = 1 << 20


@dataclass(frozen=True)
class BadCell:
    row: int  # the sheet row, as Excel numbers it
    header: str  # the text of the header cell above it
    text: str  # the error value, or NO_SAVED_VALUE


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _parse(z: zipfile.ZipFile, part: str, start=None, end=None, text=None) -> None:
    """Stream a zip entry through expat with the given handlers."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    with z.open(part) as stream:
        while block := stream.read(BLOCK):
            parser.Parse(block, False)
    parser.Parse(b"", True)


def _refuse(*_args: object) -> None:
    raise ValueError("a document type declaration inside a workbook")


def _sheet_part(z: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip entry of the sheet named `sheet`."""
    ids: dict[str, str] = {}
    targets: dict[str, str] = {}
    _parse(z, "xl/workbook.xml", start=lambda n, a: _local(n) == "sheet" and ids.setdefault(a["name"], a[REL]))
    _parse(
        z,
        "xl/_rels/workbook.xml.rels",
        start=lambda n, a: _local(n) == "Relationship" and targets.setdefault(a["Id"], a["Target"]),
    )
    target = targets.get(ids.get(sheet, ""))
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def _shared_strings(z: zipfile.ZipFile, wanted: set[int]) -> dict[int, str]:
    """The shared strings at the indices `wanted` (the header's), read as a stream."""
    if not wanted or "xl/sharedStrings.xml" not in z.namelist():
        return {}
    out: dict[int, str] = {}
    state = {"i": -1, "text": [], "in_t": False}

    def start(name: str, _attrs: dict) -> None:
        tag = _local(name)
        if tag == "si":
            state["i"] += 1
            state["text"] = []
        elif tag == "t":
            state["in_t"] = True

    def end(name: str) -> None:
        tag = _local(name)
        if tag == "t":
            state["in_t"] = False
        elif tag == "si" and state["i"] in wanted:
            out[state["i"]] = "".join(state["text"])

    def text(data: str) -> None:
        if state["in_t"] and state["i"] in wanted:
            state["text"].append(data)

    _parse(z, "xl/sharedStrings.xml", start, end, text)
    return out


def _column_number(ref: str) -> int:
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + ord(ch.upper()) - 64
    return n


class _Cells:
    """expat handlers over a sheet: the header row's cells and every bad cell below it."""

    def __init__(self, header_row: int) -> None:
        self.header_row = header_row
        self.row = 0
        self.col = 0
        self.cell: dict | None = None
        self.into: str | None = None
        self.header: dict[int, tuple[str, str]] = {}  # column -> (cell type, text)
        self.bad: list[tuple[int, int, str]] = []  # (row, column, text)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "row":
            self.row = int(attrs["r"]) if "r" in attrs else self.row + 1
            self.col = 0
        elif tag == "c":
            ref = attrs.get("r", "")
            self.col = _column_number(ref) if ref else self.col + 1
            self.cell = {"t": attrs.get("t", "n"), "f": False, "v": [], "is": []}
        elif self.cell is not None and tag in ("v", "f", "t"):
            self.into = {"v": "v", "t": "is"}.get(tag)
            if tag == "f":
                self.cell["f"] = True

    def text(self, data: str) -> None:
        if self.cell is not None and self.into:
            self.cell[self.into].append(data)

    def end(self, name: str) -> None:
        tag = _local(name)
        if tag in ("v", "t"):
            self.into = None
        elif tag == "c" and self.cell is not None:
            cell, self.cell = self.cell, None
            value = "".join(cell["v"]).strip()
            if self.row == self.header_row:
                self.header[self.col] = (cell["t"], "".join(cell["is"]) if cell["t"] == "inlineStr" else value)
            elif self.row > self.header_row and cell["t"] == "e":
                self.bad.append((self.row, self.col, value if value in EXCEL_ERRORS else "#VALUE!"))
            elif self.row > self.header_row and cell["f"] and not value:
                self.bad.append((self.row, self.col, NO_SAVED_VALUE))


def bad_cells(path: Path, sheet: str, header_row: int, suspects: frozenset[str]) -> list[BadCell]:
    """Error values and formulas with no saved result below the header of `sheet` (none to
    look for unless its zip entry is among `suspects`)."""
    if not suspects:
        return []
    with zipfile.ZipFile(path) as z:
        part = _sheet_part(z, sheet)
        if part is None or part not in suspects:
            return []
        cells = _Cells(header_row)
        _parse(z, part, cells.start, cells.end, cells.text)
        shared = _shared_strings(z, {int(v) for t, v in cells.header.values() if t == "s" and v.isdigit()})
    names = {col: shared.get(int(v), "") if t == "s" and v.isdigit() else v for col, (t, v) in cells.header.items()}
    return [BadCell(row, names[col], text) for row, col, text in cells.bad if names.get(col)]
