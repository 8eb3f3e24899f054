"""The SSAG Excel pack (`ssag_pack.xlsx`), built with openpyxl from a snapshot's star schema.

A contents sheet; one sheet per SIPP theme with each metric's latest month for the county,
its localities and districts (rag as cell colour, suppressed cells as "c" with a note) and a
trend chart of the county and its districts over the last two years; an alerts sheet; a
data-quality sheet; and one technical sheet (the deliveries' hashes), so board sheets carry
no codes. Every sheet says the period, the source and the run time, and is made to be read
and printed: number formats, the header frozen, widths set, landscape fitted to the page
width with the header repeated. A cell with no number says why: "c" (suppressed), "no
data", or "none" (nothing to list). Text never becomes a formula: anything that could start
one (=, +, -, @) is written as a plain string.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sihub.core.workbooks import put

RAG_FILL = {
    r: PatternFill("solid", fgColor=c) for r, c in (("red", "F4B6B6"), ("amber", "FFE3A3"), ("green", "C6E8C6"))
}
SUPPRESSED = "c"
SUPPRESSED_NOTE = "c: suppressed by disclosure control (a count from 1 to {t}, or one that would reveal it)."
NO_DATA = "no data"
TREND_MONTHS = 24
BOLD = Font(bold=True)
VALUE_FORMAT = "#,##0.0"
COUNT_FORMAT = "#,##0"
SHARE_FORMAT = "0.0%"
SIGNALS = {
    "special_cause_concern": "special cause: concern",
    "special_cause_improvement": "special cause: improvement",
    "special_cause_high": "special cause: high",
    "special_cause_low": "special cause: low",
    "red": "red rating",
}
ALERTS_SQL = """
SELECT g.geography_name, m.title, a.signal, a.message
FROM alerts a JOIN dim_geography g USING (geography_code) JOIN dim_metric m USING (metric_id)
ORDER BY m.theme, a.metric_id, g.geography_type, g.geography_code
"""
# a 12-month total is shown only when no month in it is hidden (else subtraction reveals it)
QUALITY_SQL = """
SELECT partner, dataset,
       CASE WHEN count(rows_received) = count(*) THEN sum(rows_received) END,
       CASE WHEN count(rows_loaded) = count(*) THEN sum(rows_loaded) END,
       avg(validity), avg(completeness), avg(nhs_number_coverage), avg(upn_coverage)
FROM dq_scorecard
WHERE period_id >= (
    SELECT strftime(max(start_date) - INTERVAL 11 MONTH, '%Y-%m') FROM dim_period WHERE period_type = 'month'
)
GROUP BY ALL ORDER BY ALL
"""
QUALITY_HEADERS = ["Partner", "Dataset", "Rows received", "Rows loaded", "Validity", "Completeness",
                   "NHS number coverage", "UPN coverage"]  # fmt: skip
QUALITY_FORMATS = {"Rows received": COUNT_FORMAT, "Rows loaded": COUNT_FORMAT} | dict.fromkeys(
    QUALITY_HEADERS[4:], SHARE_FORMAT
)  # shares from 0 to 1


def _heading(ws: Worksheet, title: str, stamp: list[str]) -> int:
    put(ws, 1, 1, title)
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    for i, line in enumerate(stamp, start=2):
        put(ws, i, 1, line)
    return len(stamp) + 3


def _readable(ws: Worksheet, header: int, widths: dict[str, float], first_free: str = "A") -> None:
    """Header frozen (with the columns left of `first_free`), widths set, and printed
    landscape, fitted to the page's width, the header row repeated on every page."""
    ws.freeze_panes = f"{first_free}{header + 1}"
    for column, width in widths.items():
        ws.column_dimensions[column].width = width
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header}:{header}"


def _sheet_name(theme: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", " ", theme)[:31].strip() or "Theme"
    while name in used:
        name = name[:28] + f" {len(used)}"
    used.add(name)
    return name


def _theme_sheet(
    wb: Workbook, con: duckdb.DuckDBPyConnection, theme: str, name: str, stamp: list[str], t: int, months: list[str]
):
    ws = wb.create_sheet(name)
    row = _heading(ws, theme, stamp)
    top = row
    areas = con.execute(
        "SELECT geography_code, geography_name, geography_type FROM dim_geography "
        "ORDER BY CASE geography_type WHEN 'county' THEN 0 WHEN 'locality' THEN 1 ELSE 2 END, geography_code"
    ).fetchall()
    geographies = [(code, name) for code, name, _ in areas]
    for col, header in enumerate(["Metric", "Unit"] + [g for _, g in geographies], start=1):
        put(ws, row, col, header)
        ws.cell(row=row, column=col).font = BOLD
    metrics = con.execute(
        "SELECT metric_id, title, unit FROM dim_metric WHERE theme = ? ORDER BY metric_id", [theme]
    ).fetchall()
    latest = "SELECT max(period_id) FROM dim_period WHERE period_type = 'month'"
    for metric_id, title, unit in metrics:
        row += 1
        put(ws, row, 1, title)
        put(ws, row, 2, unit)
        values = dict(
            (g, (v, s, r))
            for g, v, s, r in con.execute(
                f"SELECT geography_code, value, suppressed, rag FROM fact_metric_value WHERE metric_id = ? "
                f"AND breakdown = 'all' AND period_id = ({latest})",
                [metric_id],
            ).fetchall()
        )
        for col, (code, _) in enumerate(geographies, start=3):
            value, suppressed, rag = values.get(code, (None, False, None))
            cell = ws.cell(row=row, column=col)
            if suppressed:
                put(ws, row, col, SUPPRESSED)
                cell.comment = Comment(SUPPRESSED_NOTE.format(t=t), "SIH")
            else:
                put(ws, row, col, NO_DATA if value is None else round(value, 1))
                cell.number_format = VALUE_FORMAT
            if rag in RAG_FILL:
                cell.fill = RAG_FILL[rag]
    row += 2
    put(ws, row, 1, f"{SUPPRESSED_NOTE.format(t=t)} Colours: rag against thresholds or the county average.")
    lines = [(code, name) for code, name, kind in areas if kind in ("county", "district")]  # the county first
    for metric_id, title, unit in metrics:
        row = _trend(ws, con, metric_id, title, unit, lines, months, row + 3, t)
    _readable(ws, top, {"A": 60, "B": 28, **{get_column_letter(c): 14 for c in range(3, 3 + len(areas))}}, "C")
    return ws


def _trend(ws, con, metric_id: str, title: str, unit: str, districts, months: list[str], row: int, t: int) -> int:
    """A block of the last two years' monthly values for the county and each district (a
    suppressed month "c", one outside the sources' coverage "no data": a chart leaves both
    as gaps, never zeros), and its line chart, lines straight."""
    values = {
        (p, g): (v, status)
        for p, g, v, status in con.execute(
            "SELECT period_id, geography_code, value, value_status FROM fact_metric_value WHERE metric_id = ? "
            "AND breakdown = 'all'",
            [metric_id],
        ).fetchall()
    }
    put(ws, row, 1, f"Trend: {title} ({unit})")
    ws.cell(row=row, column=1).font = BOLD
    header = row + 1
    put(ws, header, 1, "Month")
    for col, (_, name) in enumerate(districts, start=2):
        put(ws, header, col, name)
    for i, month in enumerate(months, start=1):
        put(ws, header + i, 1, month)
        for col, (code, _) in enumerate(districts, start=2):
            v, status = values.get((month, code), (None, "no data"))
            cell = ws.cell(row=header + i, column=col)
            if v is not None:
                put(ws, header + i, col, round(v, 2))
                cell.number_format = VALUE_FORMAT
            else:
                put(ws, header + i, col, SUPPRESSED if status == "suppressed" else NO_DATA)
    chart = LineChart()
    chart.title, chart.y_axis.title, chart.x_axis.title = title, unit, "Month"
    chart.height, chart.width = 7.5, 18
    data = Reference(ws, min_col=2, max_col=1 + len(districts), min_row=header, max_row=header + len(months))
    chart.add_data(data, titles_from_data=True)
    for series in chart.series:
        series.smooth = False  # a smoothed line draws values no month had
    chart.set_categories(Reference(ws, min_col=1, min_row=header + 1, max_row=header + len(months)))
    ws.add_chart(chart, f"{get_column_letter(len(districts) + 3)}{row}")
    return header + max(len(months), 15)


def _table(
    ws: Worksheet, row: int, headers: list[str], rows: list[tuple], formats: dict[str, str] | None = None
) -> None:
    """A header and rows from `row` ("none" when there are none), each column's numbers in its
    format from `formats` (by header)."""
    for col, h in enumerate(headers, start=1):
        put(ws, row, col, h)
        ws.cell(row=row, column=col).font = BOLD
    if not rows:
        put(ws, row + 1, 1, "none")
    for r, values in enumerate(rows, start=row + 1):
        for col, v in enumerate(values, start=1):
            put(ws, r, col, SUPPRESSED if v is None and headers[col - 1].startswith("Rows") else v)
            if isinstance(v, int | float) and headers[col - 1] in (formats or {}):
                ws.cell(row=r, column=col).number_format = formats[headers[col - 1]]


def build_pack(con: duckdb.DuckDBPyConnection, path: Path, run_id: str, threshold: int) -> list[str]:
    """Write the pack from the star schema in `con`; returns the sheet names."""
    latest, published_at = con.execute(
        "SELECT (SELECT label FROM dim_period WHERE period_type = 'month' ORDER BY sort_key DESC LIMIT 1), "
        "(SELECT strftime(max(published_at), '%Y-%m-%d %H:%M UTC') FROM publication)"
    ).fetchall()[0]
    stamp = [
        f"Period: latest month {latest} (trends: the last {TREND_MONTHS} months)",
        "Source: Safeguarding Intelligence Hub, partner extracts (children's services, police, health, education)",
        f"Run: {run_id}, published {published_at}",
    ]
    months = [r[0] for r in con.execute(
        "SELECT period_id FROM dim_period WHERE period_type = 'month' ORDER BY sort_key DESC LIMIT ?", [TREND_MONTHS]
    ).fetchall()][::-1]  # fmt: skip
    wb = Workbook()
    contents = wb.active
    contents.title = "Contents"
    row = _heading(contents, "SSAG metrics pack", stamp)
    used = {"Contents", "Alerts", "DQ scorecard", "Technical"}
    themes = [r[0] for r in con.execute("SELECT DISTINCT theme FROM dim_metric ORDER BY theme").fetchall()]
    sheets = []
    for theme in themes:
        name = _sheet_name(theme, used)
        _theme_sheet(wb, con, theme, name, stamp, threshold, months)
        sheets.append((name, f"{theme}: latest values by area, rag, trends by district"))
    alerts = wb.create_sheet("Alerts")
    headers = ["Area", "Metric", "Signal", "Alert"]
    found = [(a, m, SIGNALS.get(s, s), text) for a, m, s, text in con.execute(ALERTS_SQL).fetchall()]
    top = _heading(alerts, "Alerts: what changed where", stamp)
    _table(alerts, top, headers, found)
    _readable(alerts, top, {"A": 24, "B": 50, "C": 26, "D": 120})
    quality = wb.create_sheet("DQ scorecard")
    top = _heading(quality, "Data quality, last 12 months", stamp)
    _table(quality, top, QUALITY_HEADERS, con.execute(QUALITY_SQL).fetchall(), QUALITY_FORMATS)
    _readable(quality, top, {"A": 20, "B": 28, **{c: 16 for c in "CDEFGH"}})
    technical = wb.create_sheet("Technical")
    files = con.execute("SELECT partner, dataset, delivery, file_sha256 FROM publication ORDER BY ALL").fetchall()
    top = _heading(technical, "Technical: the deliveries behind this pack", stamp)
    _table(technical, top, ["Partner", "Dataset", "Delivery", "SHA-256"], files)
    _readable(technical, top, {"A": 20, "B": 28, "C": 36, "D": 70})
    sheets += [
        ("Alerts", "Alerts in words for the latest month"),
        ("DQ scorecard", "Per partner dataset"),
        ("Technical", "The deliveries read, with their hashes"),
    ]
    for i, (name, what) in enumerate(sheets, start=row):
        put(contents, i, 1, name)
        contents.cell(row=i, column=1).hyperlink = f"#'{name}'!A1"
        put(contents, i, 2, what)
    _readable(contents, row - 1, {"A": 40, "B": 70})
    wb.save(path)
    return wb.sheetnames
