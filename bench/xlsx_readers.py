"""Benchmark (not a test): which reader turns a partner workbook into a DuckDB table fastest.

    uv run python bench/xlsx_readers.py

Writes a 100,000-row x 8-column workbook like the health extracts, then reads it into DuckDB
with openpyxl (read-only mode) and with fastexcel (straight to Arrow); median of 3 each.
"""

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import fastexcel
import openpyxl
import pyarrow as pa
import xlsxwriter

ROWS, COLUMNS = 100_000, 8


def write(path: Path) -> None:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "default_date_format": "dd/mm/yyyy"})
    ws = wb.add_worksheet()
    ws.write_row(0, 0, [f"col{i}" for i in range(COLUMNS)])
    day = dt.date(2024, 1, 1)
    for r in range(1, ROWS + 1):
        ws.write_row(r, 0, [f"ID{r:08d}", "Forename", "Surname", day, "Male", "NR2 4AB", "Injury", r])
    wb.close()


def with_openpyxl(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    header, data = rows[0], rows[1:]
    arrow = pa.table({h: [None if r[i] is None else str(r[i]) for r in data] for i, h in enumerate(header)})
    con.register("sheet", arrow)
    con.execute("CREATE OR REPLACE TABLE t AS SELECT * FROM sheet")


def with_fastexcel(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    con.register("sheet", fastexcel.read_excel(str(path)).load_sheet(0, dtypes="string").to_arrow())
    con.execute("CREATE OR REPLACE TABLE t AS SELECT * FROM sheet")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "extract.xlsx"
        write(path)
        con = duckdb.connect()
        results = {}
        for name, reader in (("openpyxl (read-only)", with_openpyxl), ("fastexcel to Arrow", with_fastexcel)):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                reader(path, con)
                times.append(time.perf_counter() - t0)
            assert con.execute("SELECT count(*) FROM t").fetchall()[0][0] == ROWS
            results[name] = statistics.median(times)
        base = results["openpyxl (read-only)"]
        for name, seconds in results.items():
            print(f"{name:<24}{seconds:>8.2f} s  ({base / seconds:.1f}x openpyxl)")


if __name__ == "__main__":
    main()
