"""The SSAG Excel pack, the metric dictionary and the Power BI data source file, read back
with openpyxl and plain Python and checked against the published tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest
import yaml

from sihub.metrics.catalogue import load_catalogue
from sihub.publishing.publish import publish

REPO = Path(__file__).parents[1]
INJECTIONS = ['=HYPERLINK("http://example.invalid","click")', "@SUM(1+1)", "+SUM(1603,0)", "-2+3"]
FILLS = {"red": "F4B6B6", "amber": "FFE3A3", "green": "C6E8C6"}


def _table(home: Path, name: str):
    return pq.read_table(home / "published" / "parquet" / f"{name}.parquet").to_pandas()


@pytest.fixture(scope="module")
def pack(first_run, home: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(home / "published" / "ssag_pack.xlsx")


def test_every_sheet_says_period_source_and_run(pack, home: Path) -> None:
    run_id = _table(home, "publication")["run_id"].iloc[0]
    metrics = _table(home, "dim_metric")
    assert pack.sheetnames[0] == "Contents" and pack.sheetnames[-3:] == ["Alerts", "DQ scorecard", "Technical"]
    assert len(pack.sheetnames) == metrics["theme"].nunique() + 4
    for ws in pack.worksheets:
        stamp = [ws.cell(row=r, column=1).value for r in (2, 3, 4)]
        assert stamp[0].startswith("Period: latest month") and stamp[1].startswith("Source:"), ws.title
        assert stamp[2].startswith(f"Run: {run_id}"), ws.title
    links = [c.hyperlink.location for c in pack["Contents"]["A"] if c.hyperlink]
    assert len(links) == len(pack.sheetnames) - 1


def test_theme_sheets_show_latest_values_rag_colours_suppression_and_trend_charts(pack, home: Path) -> None:
    fact, metrics = _table(home, "fact_metric_value"), _table(home, "dim_metric")
    geography = _table(home, "dim_geography").set_index("geography_name")["geography_code"]
    latest = fact.loc[fact["period_id"].str.fullmatch(r"\d{4}-\d{2}"), "period_id"].max()
    now = fact[(fact["period_id"] == latest) & (fact["breakdown"] == "all")].set_index(["metric_id", "geography_code"])
    checked = suppressed = coloured = 0
    for title, theme_metrics in metrics.groupby("theme"):
        ws = next(w for w in pack.worksheets if w.cell(row=1, column=1).value == title)
        header = next(r for r in range(1, 12) if ws.cell(row=r, column=1).value == "Metric")
        areas = [ws.cell(row=header, column=c).value for c in range(3, 3 + len(geography))]
        for i, m in enumerate(theme_metrics.sort_values("metric_id").itertuples(), start=1):
            assert ws.cell(row=header + i, column=1).value == m.title
            for col, area in enumerate(areas, start=3):
                cell, expected = ws.cell(row=header + i, column=col), now.loc[(m.metric_id, geography[area])]
                if expected["suppressed"]:
                    assert cell.value == "c" and cell.comment is not None
                    suppressed += 1
                else:
                    assert cell.value == (
                        "no data" if expected["value"] != expected["value"] else round(expected["value"], 1)
                    )
                if expected["rag"] in FILLS:
                    assert cell.fill.fgColor.rgb.endswith(FILLS[expected["rag"]])
                    coloured += 1
                checked += 1
        assert len(ws._charts) == len(theme_metrics)
        assert all(len(chart.series) == 8 for chart in ws._charts)  # the county and a line per district
        assert all(s.smooth is False for chart in ws._charts for s in chart.series)  # straight lines
        county = _table(home, "dim_geography").query("geography_type == 'county'")["geography_name"].iloc[0]
        for chart in ws._charts:  # the county's line comes first, named
            assert ws[chart.series[0].tx.strRef.f.split("!")[1].replace("$", "")].value == county
    assert checked > 300 and suppressed > 0 and coloured > 0


def test_alerts_and_quality_sheets(pack, home: Path) -> None:
    alerts = _table(home, "alerts")
    messages = [r[3] for r in pack["Alerts"].iter_rows(min_row=7, values_only=True) if r[3]]
    assert sorted(messages) == sorted(alerts["message"])
    quality = pack["DQ scorecard"]
    rows = [r for r in quality.iter_rows(min_row=7, values_only=True) if r[0] and r[0] != "Partner"]
    counts = [v for r in rows for v in r[2:4] if isinstance(v, int)]
    assert counts and not any(1 <= v <= 5 for v in counts)
    technical = [r for r in pack["Technical"].iter_rows(min_row=7, values_only=True) if r[0] and r[0] != "Partner"]
    files = {r[2] for r in technical if isinstance(r[3], str) and len(r[3]) == 64}
    assert files == set(_table(home, "publication")["delivery"])


def test_board_sheets_are_made_to_be_read_and_printed(pack) -> None:
    """Frozen headers, set widths, number formats, landscape fitted to the width with the
    header repeated; signals in words; hashes and rule codes on the technical sheet only."""
    import re

    for ws in pack.worksheets:
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_title_rows, ws.title
        assert ws.freeze_panes and ws.column_dimensions["A"].width >= 20, ws.title
        text = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
        if ws.title != "Technical":
            assert not [t for t in text if re.fullmatch(r"[0-9a-f]{64}", t)], ws.title
            assert not [t for t in text if re.search(r"special_cause|common_cause", t)], ws.title
    themes = [ws for ws in pack.worksheets if ws.title not in ("Contents", "Alerts", "DQ scorecard", "Technical")]
    numbers = [c for ws in themes for row in ws.iter_rows() for c in row if isinstance(c.value, float)]
    assert numbers and all(c.number_format == "#,##0.0" for c in numbers)
    shares = [c for row in pack["DQ scorecard"].iter_rows() for c in row if isinstance(c.value, float)]
    assert shares and all(c.number_format == "0.0%" and 0 <= c.value <= 1 for c in shares)
    signals = {r[2] for r in pack["Alerts"].iter_rows(min_row=7, values_only=True) if r[3]}
    assert signals and signals <= {"special cause: concern", "special cause: high", "special cause: low", "red rating"}


def test_text_that_looks_like_a_formula_stays_text(first_run, home: Path, tmp_path: Path) -> None:
    (tmp_path / "warehouse").mkdir()
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "warehouse" / "shared.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse" / "shared.duckdb")) as con:
        loaded = con.execute("SELECT DISTINCT label FROM delivery_log WHERE status = 'loaded' LIMIT 4").fetchall()
        for (name,), evil in zip(loaded, INJECTIONS, strict=True):
            con.execute("UPDATE delivery_log SET label = ? WHERE label = ?", [evil, name])
    summary = {"run_id": "injection", "started_at": "2026-01-01T00:00:00+00:00", "datasets": []}
    publish(tmp_path / "warehouse" / "shared.duckdb", tmp_path / "published", load_catalogue(), summary)
    wb = openpyxl.load_workbook(tmp_path / "published" / "ssag_pack.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    found = {c.value: c.data_type for c in cells if c.value in INJECTIONS}
    assert found == dict.fromkeys(INJECTIONS, "s")


def test_dictionary_documents_every_metric_and_column_and_pbids_opens_the_parquet(first_run, home: Path) -> None:
    text = (home / "published" / "metric_dictionary.md").read_text()
    page = (home / "published" / "metric_dictionary.html").read_text()
    for m in load_catalogue():
        assert f"`{m.id}`" in text and m.numerator in text and m.denominator in text and f"id='{m.id}'" in page
    for table, spec in yaml.safe_load((REPO / "sihub" / "publishing" / "published_schema.yaml").read_text()).items():
        assert f"### {table}" in text
        assert all(f"| {column} | {kind} |" in text for column, (kind, _) in spec["columns"].items())
    source = json.loads((home / "published" / "sihub_parquet.pbids").read_text())
    details = source["connections"][0]["details"]
    assert details["protocol"] == "folder" and Path(details["address"]["path"]) == home / "published" / "parquet"
