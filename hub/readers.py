"""Reading a delivery into DuckDB exactly as sent: every cell as text, every row numbered.

The one home of file reading. CSVs go through DuckDB's own reader; workbooks through
fastexcel straight to Arrow (measured fastest, see the README). Typing happens later, in SQL,
so that a bad cell quarantines its row instead of failing the file.
"""

from __future__ import annotations

import codecs
import re
import shutil
import tempfile
from pathlib import Path

import duckdb
import fastexcel

from hub.contracts import Contract
from hub.db import literal, quote, scalar

NATIVE_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "latin-1": "latin-1"}


class FileRejected(Exception):
    """The whole file cannot be read under its contract; the message is one line."""


def _header_key(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("\ufeff", "")).strip().casefold()


def _transcoded(path: Path, encoding: str, scratch: Path) -> Path:
    """A UTF-8 copy of a file in an encoding DuckDB does not read itself (e.g. cp1252)."""
    try:
        codecs.lookup(encoding)
    except LookupError as err:
        raise FileRejected(f"the contract names an unknown encoding {encoding!r}") from err
    target = scratch / (path.name + ".utf8")
    try:
        with (
            path.open(encoding=encoding, newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    except UnicodeDecodeError as err:
        raise FileRejected(f"not readable as {encoding}: byte {err.start} cannot be decoded") from err
    return target


def _load_csv(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> None:
    src = contract.source
    with tempfile.TemporaryDirectory(prefix="sihub-read-") as scratch:
        encoding = NATIVE_ENCODINGS.get(src.encoding.lower())
        if encoding is None:
            path, encoding = _transcoded(path, src.encoding, Path(scratch)), "utf-8"
        options = (
            f"header = true, all_varchar = true, delim = {literal(src.delimiter)}, quote = '\"', "
            f"escape = '\"', skip = {src.header_row - 1}, encoding = {literal(encoding)}, "
            "null_padding = true, auto_detect = true"
        )
        try:
            con.execute(f"CREATE TEMP TABLE {quote(table)} AS SELECT * FROM read_csv({literal(str(path))}, {options})")
        except duckdb.Error as err:
            raise FileRejected(f"not readable as CSV: {str(err).splitlines()[0]}") from err


def _load_xlsx(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> None:
    src = contract.source
    try:
        sheet = fastexcel.read_excel(str(path)).load_sheet(src.sheet, header_row=src.header_row - 1, dtypes="string")
        arrow = sheet.to_arrow()
    except Exception as err:  # fastexcel raises its own error types for every way a workbook can be bad
        raise FileRejected(f"not readable as an Excel workbook: {str(err).splitlines()[0]}") from err
    con.register("_sheet", arrow)
    try:
        con.execute(f"CREATE TEMP TABLE {quote(table)} AS SELECT * FROM _sheet")
    finally:
        con.unregister("_sheet")


def load_raw(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, table: str) -> int:
    """Create temp table `table` holding the file's rows as text under the contract's column
    names, with `_row` (1 = first data row) and `_line` (line or sheet row). Returns the row
    count. Raises FileRejected when the file cannot be read or lacks a required column."""
    loaded = f"{table}__as_sent"
    con.execute(f"DROP TABLE IF EXISTS {quote(loaded)}")
    if contract.source.format == "csv":
        _load_csv(con, contract, path, loaded)
    else:
        _load_xlsx(con, contract, path, loaded)
    headers = [r[0] for r in con.execute(f"DESCRIBE {quote(loaded)}").fetchall()]
    by_key = {_header_key(h): h for h in headers}
    selects, missing = [], []
    for name, column in contract.columns.items():
        found = next((by_key[k] for k in map(_header_key, (column.source, *column.aliases)) if k in by_key), None)
        if found is None:
            missing.append(column.source)
            selects.append(f"NULL::VARCHAR AS {quote(name)}")
        else:
            selects.append(f"CAST({quote(found)} AS VARCHAR) AS {quote(name)}")
    required_missing = [c.source for c in contract.columns.values() if c.required and c.source in missing]
    if required_missing:
        con.execute(f"DROP TABLE {quote(loaded)}")
        raise FileRejected(f"missing required column(s): {', '.join(required_missing)}")
    header_line = contract.source.header_row
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote(table)} AS SELECT rowid + 1 AS _row, "
        f"rowid + 1 + {header_line} AS _line, {', '.join(selects)} FROM {quote(loaded)}"
    )
    con.execute(f"DROP TABLE {quote(loaded)}")
    return scalar(con, f"SELECT count(*) FROM {quote(table)}")
