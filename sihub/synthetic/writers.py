"""Writing deliveries the way partners send them, and the truth beside them.

Every row written is numbered as the pipeline will number it (`row`: 1 = first data row;
`line`: the line or sheet row an analyst sees) so the truth and the defect manifest name the
same places as the hub's quarantine.
"""

from __future__ import annotations

import csv
import datetime as dt
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

from sihub.synthetic.calendar import DAY0, DAYN, days_of
from sihub.synthetic.catalogue import DatasetSpec

HIDDEN = ["_child", "_date", "_variation", "_defect", "_defect_column"]
FIXED_CREATED = dt.datetime(2026, 4, 1, 6, 0, 0)  # workbook metadata, fixed for byte-identical output

RECORDS_SCHEMA = pa.schema(
    [
        ("partner", pa.string()),
        ("dataset", pa.string()),
        ("file", pa.string()),
        ("row", pa.int64()),
        ("child_id", pa.int64()),
        ("variation", pa.string()),
    ]
)
MANIFEST_COLUMNS = ["partner", "dataset", "file", "row", "line", "column", "kind"]


def file_keys(spec: DatasetSpec, days) -> pd.Series:
    """Which delivery file each record belongs to, by the dataset's split."""
    d = days_of(days)
    if spec.split == "month":
        keys = pd.Series(d.strftime("%Y-%m"))
    elif spec.split in ("financial_year", "academic_year"):
        first_month = 4 if spec.split == "financial_year" else 9
        start = d.year - (d.month < first_month)
        keys = pd.Series(start.astype(str)) + "-" + pd.Series((start + 1) % 100).astype(str).str.zfill(2)
    elif spec.split == "census_year":
        keys = pd.Series(d.year.astype(str))
    else:
        keys = pd.Series([""] * len(d))
    return (spec.dataset + ("_" + keys).where(keys != "", "") + "." + spec.fmt).reset_index(drop=True)


class TruthWriter:
    """The record-to-child truth (Parquet) and the defect manifest (CSV), streamed."""

    def __init__(self, truth_dir: Path):
        truth_dir.mkdir(parents=True, exist_ok=True)
        self._records = pq.ParquetWriter(truth_dir / "records.parquet", RECORDS_SCHEMA)
        self._manifest_file = (truth_dir / "defects.csv").open("w", newline="", encoding="utf-8")
        self._manifest = csv.writer(self._manifest_file, lineterminator="\n")
        self._manifest.writerow(MANIFEST_COLUMNS)
        self.defects = 0

    def add(self, spec: DatasetSpec, file: str, frame: pd.DataFrame, first_row: int, header_line: int) -> None:
        rows = pd.RangeIndex(first_row, first_row + len(frame))
        table = pa.table(
            {
                "partner": [spec.partner] * len(frame),
                "dataset": [spec.dataset] * len(frame),
                "file": [file] * len(frame),
                "row": rows.to_numpy(),
                "child_id": frame["_child"].to_numpy(),
                "variation": frame["_variation"].to_numpy(),
            },
            schema=RECORDS_SCHEMA,
        )
        self._records.write_table(table)
        hit = (frame["_defect"] != "").to_numpy()
        for row, column, kind in zip(rows[hit], frame["_defect_column"][hit], frame["_defect"][hit], strict=True):
            self._manifest.writerow([spec.partner, spec.dataset, file, row, row + header_line, column, kind])
            self.defects += 1

    def close(self) -> None:
        self._records.close()
        self._manifest_file.close()


class DeliverySink:
    """All delivery files of one dataset. CSV rows are appended as chunks arrive; a workbook
    must be written in one go, so XLSX chunks wait on disk until `close`."""

    def __init__(self, spec: DatasetSpec, out_dir: Path, truth: TruthWriter, stash: Path):
        self.spec, self.truth = spec, truth
        self.folder = out_dir / spec.partner / spec.dataset
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.rows: dict[str, int] = {}
        self.stash = stash / f"{spec.partner}__{spec.dataset}"
        self.columns: list[str] = []
        self.relative_root = out_dir

    def add(self, frame: pd.DataFrame) -> None:
        keys = file_keys(self.spec, frame["_date"].to_numpy())
        for name in sorted(keys.unique()):
            part = frame[(keys == name).to_numpy()]
            if self.spec.fmt == "xlsx":
                self._stash(name, part)
            else:
                self._append_csv(name, part)
        self.columns = list(frame.columns)

    def _stash(self, name: str, part: pd.DataFrame) -> None:
        """Park a chunk's rows of one workbook on disk (one workbook's rows at most in memory)."""
        folder = self.stash / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{len(list(folder.iterdir())):05d}.pkl").open("wb") as f:
            pickle.dump(part, f, protocol=pickle.HIGHEST_PROTOCOL)

    def _append_csv(self, name: str, part: pd.DataFrame) -> None:
        path = self.folder / name
        new = name not in self.rows
        part.drop(columns=HIDDEN).to_csv(
            path,
            mode="w" if new else "a",
            header=new,
            index=False,
            encoding=self.spec.style.encoding,
            lineterminator=self.spec.style.line_end,
        )
        first = self.rows.get(name, 0) + 1
        self.truth.add(self.spec, self._relative(path), part, first, header_line=1)
        self.rows[name] = first - 1 + len(part)

    def close(self) -> None:
        if self.spec.fmt != "xlsx":
            return
        stashed = {p.name for p in self.stash.iterdir()} if self.stash.exists() else set()
        for name in sorted(stashed | set(self._every_month())):
            parts = [pd.read_pickle(p) for p in sorted((self.stash / name).glob("*.pkl"))]
            part = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=self.columns)
            path = self.folder / name
            header_line = self._write_xlsx(path, part.drop(columns=HIDDEN), self._period(name))
            self.truth.add(self.spec, self._relative(path), part, 1, header_line)
            self.rows[name] = len(part)
        shutil.rmtree(self.stash, ignore_errors=True)

    def _every_month(self) -> list[str]:
        """Monthly deliveries arrive every month, if need be with no rows."""
        if self.spec.split != "month":
            return []
        return list(file_keys(self.spec, np.arange(DAY0, DAYN)).unique())

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.relative_root).as_posix()

    def _period(self, file_name: str) -> str:
        """The period a delivery covers, as its title row says it (`April 2021`)."""
        key = file_name.removeprefix(self.spec.dataset).strip("_").removesuffix(f".{self.spec.fmt}")
        if self.spec.split == "month":
            return pd.Period(key, freq="M").strftime("%B %Y")
        return key or "all periods"

    def _write_xlsx(self, path: Path, cells: pd.DataFrame, period: str) -> int:
        """Write one workbook; returns the sheet row of the header."""
        wb = xlsxwriter.Workbook(
            str(path),
            {"constant_memory": True, "default_date_format": "dd/mm/yyyy", "strings_to_numbers": False},
        )
        wb.set_properties({"created": FIXED_CREATED, "author": self.spec.style.organisation or self.spec.partner})
        ws = wb.add_worksheet(self.spec.dataset[:31])
        stamp = wb.add_format({"num_format": "dd/mm/yyyy hh:mm"})
        row = 0
        if self.spec.title:
            title = f"{self.spec.style.organisation}: {self.spec.title}, {period}"
            ws.write(0, 0, title, wb.add_format({"bold": True}))
            row = 2
        ws.write_row(row, 0, list(cells.columns), wb.add_format({"bold": True}))
        header_line = row + 1
        for values in cells.itertuples(index=False, name=None):
            row += 1
            for col, value in enumerate(values):
                if value is None or value == "":
                    continue
                if isinstance(value, dt.datetime):
                    ws.write_datetime(row, col, value, stamp)
                else:
                    ws.write(row, col, value)
        wb.close()
        return header_line
