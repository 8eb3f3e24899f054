"""Reading a delivery into DuckDB exactly as sent: every cell as text, every row numbered.

The one home of file reading. CSVs go through DuckDB's own reader (lines it cannot parse are
kept as unreadable rows with their line number, not dropped); workbooks through fastexcel
straight to Arrow (23x faster than openpyxl here, see bench/xlsx_readers.py); XML returns
through a streaming reader of their records (`xml_records`). Typing happens later, in SQL, so
a bad cell quarantines its row instead of failing the file.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import fastexcel

from sihub.core.contracts import HEADER_SEARCH_ROWS, Contract
from sihub.core.db import literal, quote, scalar, table_exists
from sihub.intake.workbook_cells import SUSPECT, BadCell, bad_cells
from sihub.intake.xml_records import LINE, XmlRejected, read_records
from sihub.privacy.scrub import without_values

NATIVE_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "latin-1": "latin-1"}
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
SNIFF_BYTES = 1 << 16
MAX_LINE_BYTES = 8 << 20  # a 1 MB free-text field must not fail the file


class FileRejected(Exception):
    """The whole file cannot be read under its contract; the message is one line."""


@dataclass
class RawFile:
    """What reading found: rows (in the temp table), and the columns that differ from the
    contract: the contract's source names it lacks, and the file's own header names it has
    beside them. Those go to the run summary, so when fewer than half the contract's columns
    were found (a wrong header row makes a row of data the header) they are withheld and only
    counted: a cell must never pass for a column name."""

    rows: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _header_key(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("\ufeff", "")).strip().casefold()


def _transcoded(path: Path, encoding: str, scratch: Path) -> Path:
    """A UTF-8 copy of a file, every line ending made `\\n`: for an encoding DuckDB does not
    read itself (e.g. cp1252) and for line endings it would miscount."""
    target = scratch / (path.name + ".utf8")
    try:
        with path.open(encoding=encoding, newline=None) as src, target.open("w", encoding="utf-8", newline="") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except UnicodeDecodeError as err:
        raise FileRejected(f"not readable as {encoding}: byte {err.start} cannot be decoded") from err
    return target


def _ends(path: Path) -> tuple[bytes, bytes]:
    """The first and last `SNIFF_BYTES` of a file."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
        f.seek(max(0, path.stat().st_size - SNIFF_BYTES))
        return head, f.read(SNIFF_BYTES)


def _mixed_line_endings(sample: bytes) -> bool:
    """Whether lines end in more than one way (`\\r\\n` title rows over a `\\n` body, a stray
    `\\n` at the end of a Windows file): DuckDB's reader then miscounts lines or fails."""
    endings = {m.group() for m in re.finditer(rb"\r\n|\r|\n", sample)}
    return len(endings) > 1


def _utf8(sample: bytes, cut: bool) -> bool:
    """Whether a sample is UTF-8 with characters beyond ASCII (`cut`: the sample was cut from
    a larger file, so a multi-byte character cut at either end is forgiven). Text in a
    single-byte encoding such as cp1252 almost never is: `Zoë` there is one byte that cannot
    start a UTF-8 character."""
    if max(sample, default=0) < 0x80:
        return False
    start = next((i for i, b in enumerate(sample[:4]) if b & 0xC0 != 0x80), 0) if cut else 0
    try:
        sample[start:].decode("utf-8")
    except UnicodeDecodeError as err:
        return cut and err.start >= len(sample) - 3 and err.reason == "unexpected end of data"
    return True


def _encoding(head: bytes, tail: bytes, declared: str) -> str:
    """The encoding to read a file in: a byte-order mark's; UTF-8 when a contract declares a
    single-byte encoding and the file is UTF-8 (else `Zoë` would load as `ZoÃ«`, unseen);
    else the contract's."""
    marked = next((name for mark, name in BYTE_ORDER_MARKS if head.startswith(mark)), None)
    if marked:
        return marked
    try:
        multi_byte = codecs.lookup(declared).name in ("utf-8", "utf-16", "utf-32")
    except LookupError:  # an unknown name: `_readable` refuses it, saying so
        return declared
    cut = len(head) == SNIFF_BYTES
    return "utf-8" if not multi_byte and (_utf8(head, cut) or _utf8(tail, cut)) else declared


def _readable(path: Path, declared: str, scratch: Path) -> tuple[Path, str]:
    """The file as DuckDB will read it, and in what encoding. A byte-order mark says the
    encoding whatever the contract declares (Excel's "CSV UTF-8" export of a cp1252 dataset);
    a file in an encoding DuckDB cannot read, or with mixed line endings, is read from a
    UTF-8 copy with `\\n` endings (only then: a copy of a large file costs seconds)."""
    head, tail = _ends(path)
    encoding = _encoding(head, tail, declared)
    if b"\x00" in head and encoding != "utf-16":
        raise FileRejected("not a text file: it contains binary data")
    if encoding.lower() not in NATIVE_ENCODINGS:
        try:
            codecs.lookup(encoding)
        except LookupError as err:
            raise FileRejected(f"the contract names an unknown encoding {encoding!r}") from err
    elif not (_mixed_line_endings(head) or _mixed_line_endings(tail)):
        return path, NATIVE_ENCODINGS[encoding.lower()]
    return _transcoded(path, encoding, scratch), "utf-8"


def _csv_header(path: Path, contract: Contract, encoding: str) -> tuple[int, list[str], bool]:
    """The header's line (found, for `header_row: auto`), its names, read with Python's csv
    module from the start of the file, and whether a line with something on it follows it."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head.strip():
        raise FileRejected("empty file: no header row")
    if b"\x00" in head:
        raise FileRejected("not a text file: it contains binary data")
    try:
        text = head.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError as err:
        if len(head) < SNIFF_BYTES or err.start < len(head) - 4:
            raise FileRejected(f"not readable as {encoding}: byte {err.start} cannot be decoded") from err
        text = head[: err.start].decode("utf-8-sig")  # a multi-byte character cut at the sniff boundary
    lines = text.splitlines()
    delimiter = contract.source.delimiter
    number = contract.source.header_row
    if number == "auto":
        number = _header_row(contract, list(csv.reader(lines[:HEADER_SEARCH_ROWS], delimiter=delimiter)))
    if len(lines) < number:
        raise FileRejected(f"no header row at line {number}")
    header = next(csv.reader([lines[number - 1]], delimiter=delimiter))
    data_follows = any(line.strip().strip(delimiter) for line in lines[number:])
    names, seen = [], set()
    for i, name in enumerate(header, start=1):
        name = name.strip() or f"column_{i}"
        while name in seen:
            name += "_"
        seen.add(name)
        names.append(name)
    return number, names, data_follows


def _load_csv(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> tuple[int, bool]:
    """Read a CSV into `table`; returns its header's line and whether lines follow the header
    (to tell an empty delivery from one whose lines could not be found)."""
    src = contract.source
    with tempfile.TemporaryDirectory(prefix="sihub-read-") as scratch:
        path, encoding = _readable(path, src.encoding, Path(scratch))
        header_row, names, data_follows = _csv_header(path, contract, encoding)
        columns = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
        con.execute("DROP TABLE IF EXISTS reject_errors")
        con.execute("DROP TABLE IF EXISTS reject_scans")
        options = (
            f"header = true, auto_detect = false, columns = {columns}, delim = {literal(src.delimiter)}, "
            f"quote = '\"', escape = '\"', skip = {header_row - 1}, encoding = {literal(encoding)}, "
            f"store_rejects = true, max_line_size = {MAX_LINE_BYTES}"
        )
        try:
            con.execute(f"CREATE TEMP TABLE {quote(table)} AS SELECT * FROM read_csv({literal(str(path))}, {options})")
        except duckdb.Error as err:
            raise FileRejected(f"not readable as CSV: {without_values(err)}") from err
    return header_row, data_follows


def _sheet_key(name: str) -> str:
    return re.sub(r"[\W_]+", "", name).casefold()


def _named_sheet(names: list[str], wanted: str) -> str:
    """The visible sheet a contract names (`names`: the visible ones): exactly, else ignoring
    case, spaces and punctuation (`list_1`), else the one whose name begins with it, the
    words in order, and goes on with no digit (`List 1 - Contacts` for `List 1`, never
    `List 10`); two such sheets (`List 3 (2)` beside it) are refused, not guessed between."""
    if wanted in names:
        return wanted
    key = _sheet_key(wanted)
    words = re.findall(r"[^\W_]+", wanted)
    begins = re.compile(r"[\W_]*" + r"[\W_]*".join(map(re.escape, words)) + r"(?!\d)", re.IGNORECASE)
    same = [n for n in names if _sheet_key(n) == key]
    starting = [n for n in names if words and begins.match(n)]
    found = same or starting
    if len(found) != 1:
        why = "no sheet" if not found else f"{len(found)} sheets"
        raise FileRejected(
            f"the workbook has {why} named like {wanted!r} (it has {len(names)} sheet{'s' * (len(names) != 1)})"
        )
    return found[0]


def _visible_sheet(reader: fastexcel.ExcelReader, wanted: str | int) -> str | int:
    """A sheet index counts visible sheets only: a hidden first sheet is not the data."""
    if len(reader.sheet_names) == 1 and wanted == 0:
        return 0  # a workbook's only sheet is visible (Excel keeps one); asking would parse it twice
    visible = [name for name in reader.sheet_names if reader.load_sheet(name, n_rows=0).visible == "visible"]
    if isinstance(wanted, str):  # a hidden sheet of the same name is an old copy, not the data
        return _named_sheet(visible, wanted)
    if wanted >= len(visible):
        raise FileRejected(f"the workbook has no visible sheet number {wanted + 1}")
    return visible[wanted]


@dataclass(frozen=True)
class WorkbookLimits:
    """What a workbook may hold before it is read (a zip can inflate a few megabytes into
    gigabytes); set by `SIHUB_XLSX_MAX_MB` (on disk), `SIHUB_XLSX_MAX_INFLATED_MB` (unzipped),
    `SIHUB_XLSX_MAX_RATIO` (unzipped / zipped) and `SIHUB_XLSX_MAX_ROWS`."""

    max_mb: float = 200
    max_inflated_mb: float = 2_000
    max_ratio: float = 100  # real workbooks: 5 to 20
    max_rows: int = 5_000_000

    @classmethod
    def from_env(cls) -> WorkbookLimits:
        names = {"max_mb": "MAX_MB", "max_inflated_mb": "MAX_INFLATED_MB", "max_ratio": "MAX_RATIO"}
        values = {k: float(v) for k, n in names.items() if (v := os.environ.get(f"SIHUB_XLSX_{n}"))}
        if rows := os.environ.get("SIHUB_XLSX_MAX_ROWS"):
            values["max_rows"] = int(rows)
        return cls(**values)


def check_workbook(path: Path, limits: WorkbookLimits) -> frozenset[str]:
    """Refuse a workbook past the limits before it is read. The sizes a zip declares can lie,
    so each sheet is inflated as a stream, counting bytes and rows, and given up on as soon as
    it passes a limit: memory stays flat whatever the file claims. Returns the sheets (zip
    entries) holding an Excel error or a formula, seen on the way (`workbook_cells`)."""
    suspects = set()
    size = path.stat().st_size
    if size > limits.max_mb * 1e6:
        raise FileRejected(f"workbook of {size / 1e6:.0f} MB, over the limit of {limits.max_mb:g} MB")
    inflated = 0
    try:
        with zipfile.ZipFile(path) as z:
            for entry in z.infolist():
                sheet = entry.filename.startswith("xl/worksheets/") and entry.filename.endswith(".xml")
                rows, tail = 0, b""
                with z.open(entry) as stream:
                    while block := stream.read(1 << 20):
                        inflated += len(block)
                        if sheet:
                            rows += (tail[-3:] + block).count(b"<row")
                            if SUSPECT.search(tail + block):
                                suspects.add(entry.filename)
                            tail = block[-16:]
                        _within(limits, inflated, size, rows)
    except zipfile.BadZipFile as err:  # a zip reads no more than it declares, then fails its checksum
        raise FileRejected("not readable as an Excel workbook: not a zip, or a damaged one, or one whose "
                           "declared sizes are false") from err  # fmt: skip
    return frozenset(suspects)


def _within(limits: WorkbookLimits, inflated: int, zipped: int, rows: int) -> None:
    if inflated > limits.max_inflated_mb * 1e6:
        raise FileRejected(f"workbook inflates past the limit of {limits.max_inflated_mb:g} MB")
    if inflated > 1e6 and inflated / zipped > limits.max_ratio:
        raise FileRejected(
            f"workbook compression ratio over {limits.max_ratio:g}:1 (a zip bomb, or a sheet of one value repeated)"
        )
    if rows > limits.max_rows:
        raise FileRejected(f"a sheet of more than {limits.max_rows:,} rows, over the limit")


def _header_row(contract: Contract, rows: list[list[str | None]]) -> int:
    """`header_row: auto`: the first of `rows` (the file's first lines or sheet rows) holding
    every required column's name and, of those, the most of the contract's names."""
    keys = [{_header_key(k) for k in (c.source, *c.aliases)} for c in contract.columns.values()]
    required = [k for k, c in zip(keys, contract.columns.values(), strict=True) if c.required]
    best, best_matched = None, 0
    for number, row in enumerate(rows, start=1):
        cells = {_header_key(str(v)) for v in row if v is not None}
        matched = sum(bool(k & cells) for k in keys)
        if all(k & cells for k in required) and matched > best_matched:
            best, best_matched = number, matched
    if best is None:
        names = [c.source for c in contract.columns.values() if c.required] or ["any column of the contract"]
        raise FileRejected(
            f"no header row found in the first {len(rows)} rows (looked for {', '.join(names)}): "
            "check the contract's column names, or set header_row"
        )
    return best


def _first_rows(reader: fastexcel.ExcelReader, sheet: str | int) -> list[list[str | None]]:
    """The first rows of a sheet, from its first row (for `header_row: auto`)."""
    probe = reader.load_sheet(sheet, header_row=None, skip_rows=0, n_rows=HEADER_SEARCH_ROWS, dtypes="string")
    return [list(row) for row in zip(*probe.to_arrow().to_pydict().values(), strict=True)]


def _load_xlsx(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> int:
    """Read the contract's sheet into `table`; returns its header's sheet row (found, for
    `header_row: auto`)."""
    src = contract.source
    suspects = check_workbook(path, WorkbookLimits.from_env())
    try:
        reader = fastexcel.read_excel(str(path))
        wanted = _visible_sheet(reader, src.sheet)
        header_row = src.header_row
        if header_row == "auto":
            header_row = _header_row(contract, _first_rows(reader, wanted))
        sheet = reader.load_sheet(wanted, header_row=header_row - 1, dtypes="string")
        arrow = sheet.to_arrow()
        bad = bad_cells(path, sheet.name, header_row, suspects)
    except FileRejected:
        raise
    except Exception as err:  # fastexcel raises its own error types for every way a workbook can be bad
        raise FileRejected(f"not readable as an Excel workbook: {without_values(err)}") from err
    con.register("_sheet", arrow)
    try:
        con.execute(f"CREATE TEMP TABLE {quote(table)} AS SELECT * FROM _sheet")
    finally:
        con.unregister("_sheet")
    _mark_bad_cells(con, table, bad, header_row)
    return header_row


def _mark_bad_cells(con: duckdb.DuckDBPyConnection, table: str, bad: list[BadCell], header_row: int) -> None:
    """Put each error value (or formula without a result) back in the cell the reader left
    blank, as its text (`#N/A`): the `excel_error` rule then quarantines the row, saying why."""
    by_key = {_header_key(r[0]): r[0] for r in con.execute(f"DESCRIBE {quote(table)}").fetchall()}
    cells: dict[str, list[tuple[int, str]]] = {}
    for cell in bad:
        if column := by_key.get(_header_key(cell.header)):
            cells.setdefault(column, []).append((cell.row - header_row - 1, cell.text))
    for column, marks in cells.items():
        con.execute(
            f"UPDATE {quote(table)} SET {quote(column)} = m.text "
            f"FROM (SELECT unnest($rows) AS r, unnest($texts) AS text) m WHERE {quote(table)}.rowid = m.r",
            {"rows": [r for r, _ in marks], "texts": [t for _, t in marks]},
        )


def _load_xml(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> None:
    """Read an XML return's records into `table`: a column per contract path (and per leaf
    element no column reads), the record's line in `LINE`."""
    sources = [path for c in contract.columns.values() for path in (c.source, *c.aliases)]
    try:
        records = read_records(path, contract.source.record or "", sources)
    except XmlRejected as err:
        raise FileRejected(str(err)) from err
    con.register("_records", records)
    try:
        con.execute(f"CREATE TEMP TABLE {quote(table)} AS SELECT * FROM _records")
    finally:
        con.unregister("_records")


def _unreadable_lines(con: duckdb.DuckDBPyConnection, fmt: str) -> str:
    """A table expression of (line, reason) for lines the CSV reader rejected."""
    has_rejects = fmt == "csv" and table_exists(con, "reject_errors")
    if not has_rejects:
        return "(SELECT NULL::BIGINT AS line, NULL::VARCHAR AS reason, NULL::VARCHAR AS raw_line WHERE false)"
    return (
        "(SELECT line, string_agg(DISTINCT lower(replace(CAST(error_type AS VARCHAR), '_', ' ')), '; ') AS reason, "
        "any_value(csv_line) AS raw_line FROM reject_errors GROUP BY line)"
    )


def load_raw(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> RawFile:
    """Create temp table `table` holding the file's rows as text under the contract's column
    names, with `_row` (1 = first data row), `_line` (line or sheet row), `_unreadable`
    (why a line could not be parsed, else NULL) and `_raw_line` (such a line as sent: it
    stays in the personal zone, where subject access searches it). Raises FileRejected when the file cannot be
    read or lacks a required column. Must run outside a transaction: row numbers come from
    the staged table's rowid."""
    loaded = f"{table}__as_sent"
    con.execute(f"DROP TABLE IF EXISTS {quote(loaded)}")
    data_follows, header_line = False, 1  # an XML record carries its own line
    if contract.source.format == "csv":
        header_line, data_follows = _load_csv(con, contract, path, loaded)
    elif contract.source.format == "xml":
        _load_xml(con, contract, path, loaded)
    else:
        header_line = _load_xlsx(con, contract, path, loaded)
    headers = [r[0] for r in con.execute(f"DESCRIBE {quote(loaded)}").fetchall() if r[0] != LINE]
    by_key = {_header_key(h): h for h in headers}
    selects, missing, used = [], [], set()
    for name, column in contract.columns.items():
        keys = [_header_key(k) for k in (column.source, *column.aliases)]
        found = next((by_key[k] for k in keys if k in by_key), None)
        if found is None:
            missing.append(column.source)
            selects.append(f"NULL::VARCHAR AS {quote(name)}")
        else:
            used.add(found)
            selects.append(f"CAST(s.{quote(found)} AS VARCHAR) AS {quote(name)}")
    required_missing = [c.source for c in contract.columns.values() if c.required and c.source in missing]
    if contract.source.format == "xml":  # an element left out of every record is an empty optional one
        missing = required_missing
        if not scalar(con, f"SELECT count(*) FROM {quote(loaded)}"):
            missing = required_missing = []  # no record of this type in the return: nothing can be missing
    if required_missing:
        con.execute(f"DROP TABLE {quote(loaded)}")
        hint = ""
        if contract.source.format == "csv" and len(headers) == 1 and re.search(r"[;\t|]", headers[0]):
            hint = f" (the header is one column: is the delimiter {contract.source.delimiter!r} right?)"
        raise FileRejected(f"missing required column(s): {', '.join(required_missing)}{hint}")
    rejects = _unreadable_lines(con, contract.source.format)
    rejected = scalar(con, f"SELECT count(*) FROM {rejects}")
    if not rejected:  # the usual file: row k is line header + k (an XML record's own line), nothing to work out
        line = f"s.{LINE}" if contract.source.format == "xml" else f"rowid + {header_line + 1}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote(table)} AS SELECT rowid + 1 AS _row, {line} "
            f"AS _line, NULL::VARCHAR AS _unreadable, NULL::VARCHAR AS _raw_line, {', '.join(selects)} "
            f"FROM {quote(loaded)} s ORDER BY rowid"
        )
    else:
        _number_around_rejects(con, table, loaded, rejects, header_line, rejected, contract, selects)
    con.execute(f"DROP TABLE {quote(loaded)}")
    unexpected = sorted(h for h in headers if h not in used)
    if unexpected and len(used) < len(contract.columns) / 2:
        unexpected = [f"{len(unexpected)} column(s), names withheld: the header row does not match the contract's"]
    rows = scalar(con, f"SELECT count(*) FROM {quote(table)}")
    if data_follows and not rows:  # never a silent empty load
        raise FileRejected(
            f"lines follow the header (line {header_line}) but no row could be read from them: "
            "check the contract's header_row and delimiter"
        )
    return RawFile(rows, missing, unexpected)


def _number_around_rejects(
    con: duckdb.DuckDBPyConnection,
    table: str,
    loaded: str,
    rejects: str,
    header_line: int,
    rejected: int,
    contract: Contract,
    selects: list[str],
) -> None:
    """`load_raw`'s table when the CSV reader rejected some lines: good rows in file order
    interleave with rejected lines, so number them all, line by line."""
    last_line = header_line + rejected + scalar(con, f"SELECT count(*) FROM {quote(loaded)}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {quote(table)} AS
        WITH rejected AS {rejects},
        good AS (SELECT rowid AS k, * FROM {quote(loaded)}),
        lines AS (
            SELECT line, row_number() OVER (ORDER BY line) AS row
            FROM range({header_line + 1}, {last_line + 1}) r(line)
        ),
        free AS (SELECT l.line, l.row, row_number() OVER (ORDER BY l.line) - 1 AS k FROM lines l
                 WHERE l.line NOT IN (SELECT line FROM rejected))
        SELECT f.row AS _row, f.line AS _line, NULL::VARCHAR AS _unreadable, NULL::VARCHAR AS _raw_line,
            {", ".join(selects)}
        FROM good s JOIN free f USING (k)
        UNION ALL
        SELECT l.row, l.line, r.reason, r.raw_line,
            {", ".join(f"NULL::VARCHAR AS {quote(n)}" for n in contract.columns)}
        FROM rejected r JOIN lines l USING (line)
        ORDER BY _row
        """
    )
