"""The SSAG Excel pack (`ssag_pack.xlsx`), built with openpyxl from a snapshot's star schema.

A cover (the snapshot, the month each source is current to with a warning where one is more
than two months behind, saying where it has gone as long without records before, or where its
latest months are hidden and it cannot be shown current, what the markers mean, the contents);
one sheet per SIPP theme that opens with the county's headline table (latest month, previous,
same month last year, 12 months, change on a year, the England comparator, rag with its
threshold and its source, the process-control signal in words, and whether the metric is held
back), then each metric's latest month for the county, its localities and districts (rag as cell colour,
suppressed cells as "c" with a note), then per metric a process-control chart of the county
as in NHS "Making Data Count" (monthly values, mean, process limits, special-cause months
marked) beside a table of the county and districts over two years; an alerts sheet; a
data-quality sheet; and one technical sheet (the deliveries' hashes), so board sheets carry
no codes. Every sheet says the period, the source and the run time, and is made to be read
and printed: number formats, the header frozen, widths set, landscape fitted to the page
width with the header repeated. A cell with no number says why: "c" (suppressed), "no
data", "none" (nothing to list) or "n/a" (does not apply), each explained in a legend.
Text never becomes a formula: anything that could start
one (=, +, -, @) is written as a plain string.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.comments import Comment
from openpyxl.drawing.line import LineProperties
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sihub.core.workbooks import put
from sihub.privacy.tiers import Tier

RAG_FILL = {
    r: PatternFill("solid", fgColor=c) for r, c in (("red", "F4B6B6"), ("amber", "FFE3A3"), ("green", "C6E8C6"))
}
SUPPRESSED = "c"
SUPPRESSED_NOTE = "c: suppressed by disclosure control (a count from 1 to {t}, or one that would reveal it)."
NO_DATA = "no data"
NOT_APPLICABLE = "n/a"
NONE = "none"
LEGEND = (
    'Markers: "c" suppressed by disclosure control; "no data" outside the months the sources cover (never 0); '
    '"none" no events to measure, or nothing to list; "n/a" does not apply (a county-only metric in a district, no '
    "threshold, no published comparator, or a series not judged)."
)
# what a cell with no value reads, by the fact's value_status
MARKERS = {"suppressed": SUPPRESSED, "no events": NONE, "not applicable": NOT_APPLICABLE}
TREND_MONTHS = 24
STALE_AFTER_MONTHS = 2  # a source further behind the publication than this is warned of
CHANGE_FORMAT = "+#,##0.0;-#,##0.0;0.0"
HEADLINE_HEADERS = [
    "Headline (county)", "Unit", "Latest month", "Latest", "Previous month", "Same month last year",
    "12 months to latest", "Change on a year (12 months)", "England (latest published)", "Rag and threshold",
    "Signal (process control)", "Held back",
]  # fmt: skip
SPC_SERIES = ["Mean", "Upper process limit", "Lower process limit"]
# Making Data Count's colours: orange for concern, blue for improvement, purple where neither
SPECIAL_CAUSES = {
    "special_cause_concern": ("Special cause: concern", "ED7D31"),
    "special_cause_improvement": ("Special cause: improvement", "2F75B5"),
    "special_cause_high": ("Special cause: neutral", "7030A0"),
    "special_cause_low": ("Special cause: neutral", "7030A0"),
}
CHART_DATA_COLUMN = 40  # hidden numbers-only columns the charts read, clear of every table
CHART_COLUMNS = ["County (chart)", *SPC_SERIES, *dict.fromkeys(name for name, _ in SPECIAL_CAUSES.values())]
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
    "common_cause": "common cause (no signal)",
}
ALERTS_SQL = """
SELECT g.geography_name, m.title, a.signal, a.message
FROM alerts a JOIN dim_geography g USING (geography_code) JOIN dim_metric m USING (metric_id)
ORDER BY m.theme, a.metric_id, g.geography_type, g.geography_code
"""
# a 12-month total is shown only when no month in it is hidden (else subtraction reveals it); rows
# with no readable month ('unknown') belong to no month
QUALITY_SQL = """
SELECT partner, dataset,
       CASE WHEN count(rows_received) = count(*) THEN sum(rows_received) END,
       CASE WHEN count(rows_loaded) = count(*) THEN sum(rows_loaded) END,
       avg(validity), avg(completeness), avg(nhs_number_coverage), avg(upn_coverage)
FROM dq_scorecard
WHERE period_id <> 'unknown' AND period_id >= (
    SELECT strftime(max(start_date) - INTERVAL 11 MONTH, '%Y-%m') FROM metric_period WHERE period_type = 'month'
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


# A source more than `STALE_AFTER_MONTHS` behind the publication is warned of. One with few
# records (rapid reviews) or records in some months only (a January census) may have had no
# records because none happened: where its quiet spell is no longer than one it has had before,
# the warning says so, and that it may be up to date (termly attendance 9 months on from March is
# not: its terms are at most 5 months apart). A hidden month ("c") may have had records or none:
# where a source's latest months are hidden and the last shown with records is that far behind,
# it is not called current either, and the warning says what the pack can tell.
CURRENCY_SQL = """
WITH months AS (
    -- the scorecard lists every month the metrics cover: one shown with 0 rows had none (one
    -- hidden, "c", is taken to have had some, but not shown to)
    SELECT partner, dataset, strptime(period_id, '%Y-%m') AS month, rows_received IS DISTINCT FROM 0 AS has_rows,
           rows_received > 0 AS shown_rows
    FROM dq_scorecard WHERE period_id <> 'unknown'
), quiet AS (
    SELECT *, datediff('month', lag(month) OVER (PARTITION BY partner, dataset ORDER BY month), month) - 1 AS before
    FROM months WHERE has_rows
), sources AS (
    SELECT s.partner, s.dataset, max(q.month) AS last, max(q.month) FILTER (WHERE q.shown_rows) AS last_shown,
           coalesce(max(q.before), 0) AS longest_quiet
    FROM (SELECT DISTINCT partner, dataset FROM months) s LEFT JOIN quiet q USING (partner, dataset)
    GROUP BY ALL
)
SELECT partner, dataset, strftime(last, '%Y-%m') AS current_to, datediff('month', last, p.published_on) AS behind,
       longest_quiet, strftime(last_shown, '%Y-%m') AS shown_to,
       CASE WHEN last IS NULL THEN 'no records' WHEN behind > $stale AND behind <= longest_quiet THEN 'quiet'
            WHEN behind > $stale THEN 'behind' WHEN last_shown IS NULL THEN 'all hidden'
            WHEN datediff('month', last_shown, p.published_on) > $stale THEN 'hidden since'
            ELSE 'current' END AS state
FROM sources, (SELECT max(published_at) AS published_on FROM publication) p
ORDER BY partner, dataset
"""
CURRENCY_HEADERS = ["Partner", "Dataset", "Current to", "Months behind publication", "Warning"]
# what the cover says of a source in each state of `CURRENCY_SQL`
CURRENCY_WARNINGS = {
    "current": NONE,
    "no records": "no records received",
    "quiet": "no records after {current_to}, but it has gone {longest_quiet} months without any before: "
    "it may be up to date (ask its owner)",
    "behind": f"more than {STALE_AFTER_MONTHS} months behind: figures from it stop at {{current_to}}",
    "all hidden": "every month's count is hidden (c): how current it is cannot be shown (ask its owner)",
    "hidden since": "the last month shown with records is {shown_to}; later ones are hidden (c) or have none: "
    "figures from it may stop at {shown_to} (ask its owner)",
}
HIDDEN_STATES = ("all hidden", "hidden since")


def _cover(ws: Worksheet, con: duckdb.DuckDBPyConnection, row: int) -> int:
    """How current each source is (its latest month with records, against the month of
    publication), warning of any more than `STALE_AFTER_MONTHS` behind (saying where its quiet
    spell is one it has had before), and the legend of markers; returns the next free row."""
    put(ws, row, 1, "How current the sources are")
    ws.cell(row=row, column=1).font = BOLD
    currency = con.execute(CURRENCY_SQL, {"stale": STALE_AFTER_MONTHS}).fetchall()
    sources = [
        (partner, dataset, current_to or NONE, NONE if behind is None else behind,
         CURRENCY_WARNINGS[state].format(current_to=current_to, longest_quiet=longest_quiet, shown_to=shown_to))
        for partner, dataset, current_to, behind, longest_quiet, shown_to, state in currency
    ]  # fmt: skip
    _table(ws, row + 1, CURRENCY_HEADERS, sources)
    row += len(sources) + 3
    states = [state for *_, state in currency]
    stale = len(states) - states.count("current")
    quiet, hidden = states.count("quiet"), sum(states.count(s) for s in HIDDEN_STATES)
    kinds = [f"{quiet} quiet for a spell they have had before"] * bool(quiet)
    kinds += [f"{hidden} whose latest months are hidden"] * bool(hidden)
    if stale:
        put(ws, row, 1, (
            f"Warning: {stale} of {len(sources)} source(s) with no records or more than {STALE_AFTER_MONTHS} months "
            f"behind the publication" + (f" ({'; '.join(kinds)})." if kinds else ".")
        ))  # fmt: skip
        ws.cell(row=row, column=1).font = Font(bold=True, color="C00000")
        row += 1
    put(ws, row, 1, LEGEND)
    return row + 2


def _theme_sheet(
    wb: Workbook, con: duckdb.DuckDBPyConnection, theme: str, name: str, stamp: list[str], t: int, months: list[str]
):
    ws = wb.create_sheet(name)
    row = _heading(ws, theme, stamp)
    top = row
    metrics = con.execute(
        "SELECT metric_id, title, unit FROM dim_metric WHERE theme = ? ORDER BY metric_id", [theme]
    ).fetchall()
    row = _headline(ws, con, metrics, row) + 2
    put(ws, row, 1, "Latest month by area")
    ws.cell(row=row, column=1).font = BOLD
    row += 1
    areas = con.execute(
        "SELECT geography_code, geography_name, geography_type FROM dim_geography "
        "ORDER BY CASE geography_type WHEN 'county' THEN 0 WHEN 'locality' THEN 1 ELSE 2 END, geography_code"
    ).fetchall()
    geographies = [(code, name) for code, name, _ in areas]
    for col, header in enumerate(["Metric", "Unit"] + [g for _, g in geographies], start=1):
        put(ws, row, col, header)
        ws.cell(row=row, column=col).font = BOLD
    latest = "SELECT max(period_id) FROM metric_period WHERE period_type = 'month'"
    for metric_id, title, unit in metrics:
        row += 1
        put(ws, row, 1, title)
        put(ws, row, 2, unit)
        values = dict(
            (g, (v, s, r))
            for g, v, s, r in con.execute(
                f"SELECT geography_code, value, value_status, rag FROM fact_metric_value WHERE metric_id = ? "
                f"AND breakdown = 'all' AND period_id = ({latest})",
                [metric_id],
            ).fetchall()
        )
        for col, (code, _) in enumerate(geographies, start=3):
            value, status, rag = values.get(code, (None, NO_DATA, None))
            cell = ws.cell(row=row, column=col)
            if status == "suppressed":
                cell.comment = Comment(SUPPRESSED_NOTE.format(t=t), "SIH")
            _shown(ws, row, col, (value if value is None else round(value, 1), status))
            if rag in RAG_FILL:
                cell.fill = RAG_FILL[rag]
    row += 2
    put(ws, row, 1, f"{SUPPRESSED_NOTE.format(t=t)} Colours: rag against thresholds or the county average.")
    put(ws, row + 1, 1, LEGEND)
    lines = [(code, name) for code, name, kind in areas if kind in ("county", "district")]  # the county first
    for metric_id, title, unit in metrics:
        row = _trend(ws, con, metric_id, title, unit, lines, months, row + 4)
    widths = {get_column_letter(c): 14 for c in range(3, 3 + max(len(areas), len(HEADLINE_HEADERS)))}
    _readable(ws, top, {"A": 60, "B": 28, **widths, "J": 44, "K": 28, "L": 30}, "C")
    return ws


def _shown(ws: Worksheet, row: int, col: int, found: tuple | None, number_format: str = VALUE_FORMAT) -> None:
    """A value as its number, or why there is none: "c" (suppressed), "none" (no events),
    "n/a" (not applicable) or "no data"."""
    value, status = found or (None, NO_DATA)
    if value is not None:
        put(ws, row, col, round(value, 2))
        ws.cell(row=row, column=col).number_format = number_format
    else:
        put(ws, row, col, MARKERS.get(status, NO_DATA))


HEADLINE_SQL = """
SELECT p.period_type, strftime(p.start_date, '%Y-%m') AS month, strftime(p.end_date, '%Y-%m') AS last_month,
       f.value, f.value_status, f.rag, f.signal
FROM fact_metric_value f JOIN dim_period p USING (period_id) JOIN dim_geography g USING (geography_code)
WHERE f.metric_id = ? AND g.geography_type = 'county' AND f.breakdown = 'all'
  AND p.period_type IN ('month', 'rolling_12')
"""
ENGLAND_SQL = """
SELECT value, period, publication FROM comparator
WHERE metric_id = ? AND comparator = 'England' AND value IS NOT NULL ORDER BY period_end DESC LIMIT 1
"""


def _months_before(month: str, n: int) -> str:
    year, m = map(int, month.split("-"))
    index = year * 12 + m - 1 - n
    return f"{index // 12}-{index % 12 + 1:02d}"


def _headline(ws: Worksheet, con: duckdb.DuckDBPyConnection, metrics: list[tuple], row: int) -> int:
    """The county's headline table for the theme's metrics, from `row`; returns its last row.
    The latest month is the metric's own last month with data, so a source that stops early
    shows its last figure (and the month) rather than a row of "no data"."""
    for col, header in enumerate(HEADLINE_HEADERS, start=1):
        put(ws, row, col, header)
        ws.cell(row=row, column=col).font = BOLD
    described = {
        m: rest
        for m, *rest in con.execute(
            "SELECT metric_id, amber_threshold, red_threshold, threshold_source, status, status_note FROM dim_metric "
            "WHERE list_contains(?, metric_id)",
            [[m for m, _, _ in metrics]],
        ).fetchall()
    }
    for metric_id, title, unit in metrics:
        row += 1
        rows = con.execute(HEADLINE_SQL, [metric_id]).fetchall()
        months = {m: (v, st, rag, sig) for kind, m, _, v, st, rag, sig in rows if kind == "month"}
        rolling = {last: (v, st) for kind, _, last, v, st, _, _ in rows if kind == "rolling_12"}
        with_data = [m for m, (_, st, _, _) in months.items() if st != NO_DATA]
        put(ws, row, 1, title)
        put(ws, row, 2, unit)
        latest = max(with_data) if with_data else None
        amber, red, source, status, note = described[metric_id]
        # a metric's status (`dim_metric`): "current" read as how current the data is (the cover's)
        put(ws, row, 12, "no" if status == "current" else f"{status}: {note}")
        if latest is None:
            for col in range(3, 12):
                put(ws, row, col, NO_DATA)
            continue
        put(ws, row, 3, latest)
        for col, month in ((4, latest), (5, _months_before(latest, 1)), (6, _months_before(latest, 12))):
            _shown(ws, row, col, months.get(month, (None, NO_DATA))[:2])
        now, year_ago = rolling.get(latest), rolling.get(_months_before(latest, 12))
        _shown(ws, row, 7, now)
        if now and year_ago and now[0] is not None and year_ago[0] is not None:
            _shown(ws, row, 8, (now[0] - year_ago[0], "value"), CHANGE_FORMAT)
        else:
            put(ws, row, 8, NOT_APPLICABLE)
        england = con.execute(ENGLAND_SQL, [metric_id]).fetchone()
        if england:
            _shown(ws, row, 9, (england[0], "value"))
            ws.cell(row=row, column=9).comment = Comment(f"{england[2]}, {england[1]}", "SIH")
        else:
            put(ws, row, 9, NOT_APPLICABLE)
        _, _, rag, signal = months[latest]
        if amber is None:
            put(ws, row, 10, f"{NOT_APPLICABLE}: no threshold (areas are rated against the county)")
        else:
            put(ws, row, 10, f"{rag or NOT_APPLICABLE}: amber at {amber:g}, red at {red:g} ({source})")
            if rag in RAG_FILL:
                ws.cell(row=row, column=10).fill = RAG_FILL[rag]
        put(ws, row, 11, SIGNALS.get(signal, signal) if signal else f"{NOT_APPLICABLE}: not judged")
    return row


def _trend(ws, con, metric_id: str, title: str, unit: str, areas, months: list[str], row: int) -> int:
    """A process-control chart of the county's last two years, as NHS "Making Data Count"
    draws one: the monthly values, the series' mean and process limits as straight lines, and
    the months with a special-cause signal marked (orange concern, blue improvement, purple
    neither). Beside it, the table it is drawn from with a column per district, where a
    suppressed month reads "c" and one outside the sources' coverage "no data". The chart reads
    hidden columns holding numbers only, so both are gaps in it, never zeros (a chart plots
    text as 0). A series not judged (too few months, or one suppressed) has no limits, and
    says so."""
    values = {
        (p, g): (v, status, signal)
        for p, g, v, status, signal in con.execute(
            "SELECT period_id, geography_code, value, value_status, signal FROM fact_metric_value "
            "WHERE metric_id = ? AND breakdown = 'all'",
            [metric_id],
        ).fetchall()
    }
    county, name = areas[0]
    limits = con.execute(
        "SELECT any_value(process_mean), any_value(upper_process_limit), any_value(lower_process_limit) "
        "FROM fact_metric_value WHERE metric_id = ? AND geography_code = ? AND breakdown = 'all' "
        "AND process_mean IS NOT NULL",
        [metric_id, county],
    ).fetchone()
    put(ws, row, 1, f"Trend: {title} ({unit})")
    ws.cell(row=row, column=1).font = BOLD
    header = row + 1
    shown = ["Month", name, *SPC_SERIES, *(n for _, n in areas[1:])]
    hidden_from = CHART_DATA_COLUMN
    for col, text in enumerate(shown, start=1):
        put(ws, header, col, text)
    for col, text in enumerate(CHART_COLUMNS, start=hidden_from):
        put(ws, header, col, text)
    special_columns = {key: hidden_from + CHART_COLUMNS.index(label) for key, (label, _) in SPECIAL_CAUSES.items()}
    for i, month in enumerate(months, start=1):
        r = header + i
        put(ws, r, 1, month)
        v, status, signal = values.get((month, county), (None, NO_DATA, None))
        _shown(ws, r, 2, (v, status))
        for col, limit in enumerate(limits, start=3):
            if limit is not None:
                _shown(ws, r, col, (limit, "value"))
        for col, (code, _) in enumerate(areas[1:], start=3 + len(SPC_SERIES)):
            _shown(ws, r, col, values.get((month, code), (None, NO_DATA))[:2])
        if v is not None:
            _shown(ws, r, hidden_from, (v, "value"))
            if signal in special_columns:
                _shown(ws, r, special_columns[signal], (v, "value"))
        for col, limit in enumerate(limits, start=hidden_from + 1):
            if limit is not None:
                _shown(ws, r, col, (limit, "value"))
    for col in range(hidden_from, hidden_from + len(CHART_COLUMNS)):
        ws.column_dimensions[get_column_letter(col)].hidden = True
    if limits[0] is None:
        put(ws, row, 4, "No process limits: the series has too few published months, or a suppressed one.")
    chart = LineChart()
    chart.title, chart.y_axis.title, chart.x_axis.title = f"{title}: {name}", unit, "Month"
    chart.height, chart.width = 7.5, 18
    chart.visible_cells_only = False  # its data sits in hidden columns
    last = header + len(months)
    data = Reference(
        ws, min_col=hidden_from, max_col=hidden_from + len(CHART_COLUMNS) - 1, min_row=header, max_row=last
    )
    chart.add_data(data, titles_from_data=True)
    for series in chart.series:
        series.smooth = False  # a smoothed line draws values no month had
    county_line, mean_line, upper, lower, *specials = chart.series
    county_line.graphicalProperties = GraphicalProperties(ln=LineProperties(solidFill="1F4E79", w=22000))
    # a point for every month: one shown between two hidden months has no line to draw it
    county_line.marker.symbol, county_line.marker.size = "circle", 5
    county_line.marker.graphicalProperties = GraphicalProperties(solidFill="1F4E79")
    mean_line.graphicalProperties = GraphicalProperties(ln=LineProperties(solidFill="7F7F7F", w=12700))
    for limit in (upper, lower):
        limit.graphicalProperties = GraphicalProperties(ln=LineProperties(solidFill="7F7F7F", prstDash="dash"))
    colours = dict(SPECIAL_CAUSES.values())
    for special, label in zip(specials, CHART_COLUMNS[1 + len(SPC_SERIES) :], strict=True):
        special.graphicalProperties = GraphicalProperties(ln=LineProperties(noFill=True))
        special.marker.symbol, special.marker.size = "circle", 8
        special.marker.graphicalProperties = GraphicalProperties(solidFill=colours[label])
    chart.set_categories(Reference(ws, min_col=1, min_row=header + 1, max_row=last))
    ws.add_chart(chart, f"{get_column_letter(len(shown) + 2)}{row}")
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
        put(ws, row + 1, 1, NONE)
    for r, values in enumerate(rows, start=row + 1):
        for col, v in enumerate(values, start=1):
            if v is None:  # a hidden count (and a share built on it) is "c"; anything else missing does not apply
                v = SUPPRESSED if headers[col - 1].startswith(("Rows", "Validity")) else NOT_APPLICABLE
            put(ws, r, col, v)
            if isinstance(v, int | float) and headers[col - 1] in (formats or {}):
                ws.cell(row=r, column=col).number_format = formats[headers[col - 1]]


def build_pack(con: duckdb.DuckDBPyConnection, path: Path, run_id: str, tier: Tier, snapshot: str) -> list[str]:
    """Write the tier's pack from the star schema in `con`, its marking atop every sheet and
    in every page's header and footer; returns the sheet names."""
    threshold = tier.policy.threshold
    # the metrics' periods: dim_period also holds months only the data-quality scorecard reaches
    con.execute(
        "CREATE OR REPLACE TEMP VIEW metric_period AS SELECT * FROM dim_period "
        "WHERE period_id IN (SELECT period_id FROM fact_metric_value)"
    )
    latest, published_at = con.execute(
        "SELECT (SELECT label FROM metric_period WHERE period_type = 'month' ORDER BY sort_key DESC LIMIT 1), "
        "(SELECT strftime(max(published_at), '%Y-%m-%d %H:%M UTC') FROM publication)"
    ).fetchall()[0]
    stamp = [
        tier.label,
        f"Period: latest month {latest} (trends: the last {TREND_MONTHS} months)",
        "Source: Safeguarding Intelligence Hub, partner extracts (children's services, police, health, education)",
        f"Run: {run_id}, published {published_at}, snapshot {snapshot}",
    ]
    months = [r[0] for r in con.execute(
        "SELECT period_id FROM metric_period WHERE period_type = 'month' ORDER BY sort_key DESC LIMIT ?", [TREND_MONTHS]
    ).fetchall()][::-1]  # fmt: skip
    wb = Workbook()
    contents = wb.active
    contents.title = "Cover"
    title = "SSAG metrics pack" if tier.home else f"Safeguarding partnership metrics ({tier.name} release)"
    row = _cover(contents, con, _heading(contents, title, stamp))
    used = {"Cover", "Alerts", "DQ scorecard", "Technical"}
    themes = [r[0] for r in con.execute("SELECT DISTINCT theme FROM dim_metric ORDER BY theme").fetchall()]
    sheets = []
    for theme in themes:
        name = _sheet_name(theme, used)
        _theme_sheet(wb, con, theme, name, stamp, threshold, months)
        sheets.append((name, f"{theme}: the county's headline, latest values by area, process-control charts"))
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
    put(contents, row, 1, "Contents")
    contents.cell(row=row, column=1).font = BOLD
    for i, (name, what) in enumerate(sheets, start=row + 1):
        put(contents, i, 1, name)
        contents.cell(row=i, column=1).hyperlink = f"#'{name}'!A1"
        put(contents, i, 2, what)
    _readable(contents, len(stamp) + 2, {"A": 40, "B": 70, "C": 16, "D": 16, "E": 90})
    for ws in wb.worksheets:  # printed or not, no page leaves without its marking
        ws.oddHeader.center.text = ws.oddFooter.center.text = tier.marking
        ws.cell(row=2, column=1).font = BOLD
    wb.save(path)
    return wb.sheetnames
