"""The SSAG Excel pack, the metric dictionary and the Power BI data source file, read back
with openpyxl and plain Python and checked against the published tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from sihub.metrics.catalogue import load_catalogue
from sihub.publishing.publish import publish
from sihub.synthetic.catalogue import CATALOGUE
from tests.extracts import attendance_term_months

REPO = Path(__file__).parents[1]
INJECTIONS = ['=HYPERLINK("http://example.invalid","click")', "@SUM(1+1)", "+SUM(1603,0)", "-2+3"]
FILLS = {"red": "F4B6B6", "amber": "FFE3A3", "green": "C6E8C6"}
LEGEND_START = 'Markers: "c" suppressed'
SPC_NAMES = [
    "County (chart)",
    "Mean",
    "Upper process limit",
    "Lower process limit",
    "Special cause: concern",
    "Special cause: improvement",
    "Special cause: neutral",
]


def _table(home: Path, name: str):
    return pq.read_table(home / "published" / "parquet" / f"{name}.parquet").to_pandas()


@pytest.fixture(scope="module")
def pack(first_run, home: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(home / "published" / "ssag_pack.xlsx")


def test_every_sheet_says_period_source_and_run(pack, home: Path) -> None:
    run_id = _table(home, "publication")["run_id"].iloc[0]
    snapshot = json.loads((home / "published" / "current.json").read_text(encoding="utf-8"))["snapshot"]
    metrics = _table(home, "dim_metric")
    assert pack.sheetnames[0] == "Cover" and pack.sheetnames[-3:] == ["Alerts", "DQ scorecard", "Technical"]
    assert len(pack.sheetnames) == metrics["theme"].nunique() + 4
    for ws in pack.worksheets:
        stamp = [ws.cell(row=r, column=1).value for r in (3, 4, 5)]  # under the marking (test_disclosure)
        assert stamp[0].startswith("Period: latest month") and stamp[1].startswith("Source:"), ws.title
        assert stamp[2].startswith(f"Run: {run_id}"), ws.title
        assert stamp[2].endswith(f"snapshot {snapshot}"), ws.title
    links = [c.hyperlink.location for c in pack["Cover"]["A"] if c.hyperlink]
    assert len(links) == len(pack.sheetnames) - 1


# what a published cell reads in the pack: its value, or why it has none
MARKERS = {"suppressed": "c", "no events": "none", "not applicable": "n/a", "no data": "no data"}


def _marker(fact_row, digits: int):
    status = fact_row["value_status"]
    return round(fact_row["value"], digits) if status == "value" else MARKERS[status]


def test_theme_sheets_show_latest_values_rag_colours_suppression_and_trend_charts(pack, home: Path) -> None:
    fact, metrics = _table(home, "fact_metric_value"), _table(home, "dim_metric")
    geography = _table(home, "dim_geography").set_index("geography_name")["geography_code"]
    latest = fact.loc[fact["period_id"].str.fullmatch(r"\d{4}-\d{2}"), "period_id"].max()
    now = fact[(fact["period_id"] == latest) & (fact["breakdown"] == "all")].set_index(["metric_id", "geography_code"])
    checked = suppressed = coloured = 0
    for title, theme_metrics in metrics.groupby("theme"):
        ws = next(w for w in pack.worksheets if w.cell(row=1, column=1).value == title)
        header = next(r for r in range(1, 80) if ws.cell(row=r, column=1).value == "Metric")
        areas = [ws.cell(row=header, column=c).value for c in range(3, 3 + len(geography))]
        for i, m in enumerate(theme_metrics.sort_values("metric_id").itertuples(), start=1):
            assert ws.cell(row=header + i, column=1).value == m.title
            for col, area in enumerate(areas, start=3):
                cell, expected = ws.cell(row=header + i, column=col), now.loc[(m.metric_id, geography[area])]
                if expected["suppressed"]:
                    assert cell.value == "c" and cell.comment is not None
                    suppressed += 1
                else:
                    assert cell.value == _marker(expected, 1)
                if expected["rag"] in FILLS:
                    assert cell.fill.fgColor.rgb.endswith(FILLS[expected["rag"]])
                    coloured += 1
                checked += 1
        assert len(ws._charts) == len(theme_metrics)
        assert all(s.smooth is False for chart in ws._charts for s in chart.series)  # straight lines
        # every county month a point of its own: a month between two gaps has no line to show it
        assert all(chart.series[0].marker.symbol not in (None, "none") for chart in ws._charts)
        county = _table(home, "dim_geography").query("geography_type == 'county'")["geography_name"].iloc[0]
        districts = set(_table(home, "dim_geography").query("geography_type == 'district'")["geography_name"])
        for chart in ws._charts:  # process control: the county, its mean, limits and special causes
            names = [ws[s.tx.strRef.f.split("!")[1].replace("$", "")].value for s in chart.series]
            assert names == SPC_NAMES
            header_row = ws[chart.series[0].tx.strRef.f.split("!")[1].replace("$", "")].row
            beside = [ws.cell(row=header_row, column=c).value for c in range(1, 20)]
            assert beside[1] == county and districts <= set(beside)  # the table the chart is drawn from
            plotted = [
                ws.cell(row=r, column=ws[s.val.numRef.f.split("!")[1].split(":")[0].replace("$", "")].column).value
                for s in chart.series for r in range(header_row + 1, header_row + 25)
            ]  # fmt: skip
            assert all(v is None or isinstance(v, float | int) for v in plotted)  # gaps, never text read as 0
            assert not chart.visible_cells_only
        assert any(LEGEND_START in str(c.value) for row in ws.iter_rows(max_col=1) for c in row)
    assert checked > 300 and suppressed > 0 and coloured > 0


def test_process_limits_are_drawn_where_the_county_series_was_judged(pack, home: Path) -> None:
    """The mean and limits in the pack are those published for the county's months, present
    exactly where the series was judged; the special-cause column holds the value of each
    month with a special-cause signal and nothing else."""
    fact = _table(home, "fact_metric_value")
    county = _table(home, "dim_geography").query("geography_type == 'county'")["geography_code"].iloc[0]
    trends = {f"Trend: {m['title']} ({m['unit']})": m for m in _table(home, "dim_metric").to_dict("records")}
    series = fact[(fact["geography_code"] == county) & (fact["breakdown"] == "all")].set_index(
        ["metric_id", "period_id"]
    )
    judged = limits = 0
    for ws in pack.worksheets[1:-3]:
        for chart in ws._charts:
            header = ws[chart.series[0].tx.strRef.f.split("!")[1].replace("$", "")].row
            metric = trends[ws.cell(row=header - 1, column=1).value]
            judged_series = series.loc[metric["metric_id"]]["process_mean"].dropna()
            judged_series = judged_series.iloc[0] if len(judged_series) else float("nan")
            special_columns = [
                c for c in range(1, 60) if str(ws.cell(row=header, column=c).value).startswith("Special cause:")
            ]
            assert len(special_columns) == 3
            for r in range(header + 1, header + 25):
                month = ws.cell(row=r, column=1).value
                row = series.loc[(metric["metric_id"], month)]
                mean, upper = (ws.cell(row=r, column=c).value for c in (3, 4))
                if judged_series == judged_series:  # not NaN: the series was judged
                    assert abs(mean - round(judged_series, 2)) < 1e-9
                    limits += 1
                else:
                    assert mean is None and upper is None
                marked = {ws.cell(row=header, column=c).value: ws.cell(row=r, column=c).value for c in special_columns}
                signal = row["signal"] if isinstance(row["signal"], str) else ""
                label = {"special_cause_concern": "Special cause: concern",
                         "special_cause_improvement": "Special cause: improvement"}.get(
                    signal, "Special cause: neutral" if signal.startswith("special_cause") else None)  # fmt: skip
                for name, v in marked.items():
                    assert (v is not None) == (name == label), (metric["metric_id"], month, name)
                    if v is not None:
                        assert abs(v - round(row["value"], 2)) < 1e-9
            judged += 1
    assert judged > 10 and limits > 0


def test_each_theme_opens_with_the_countys_headline(pack, home: Path) -> None:
    """Latest month with data, the month before, the same month a year before and the 12
    months to the latest, read from the published fact table; the England comparator from
    reference/comparators.csv itself; the status of held-back metrics."""
    import pandas as pd

    fact = _table(home, "fact_metric_value")
    county = _table(home, "dim_geography").query("geography_type == 'county'")["geography_code"].iloc[0]
    metrics = _table(home, "dim_metric").set_index("title")
    headline = fact[(fact["geography_code"] == county) & (fact["breakdown"] == "all")]
    comparators = pd.read_csv(REPO / "reference" / "comparators.csv")
    england = comparators[(comparators["comparator"] == "England") & comparators["value"].notna()]
    latest_england = england.sort_values("period_end").groupby("metric_id")["value"].last()

    def shown(values: pd.DataFrame, period_id: str):
        if period_id not in values.index:
            return "no data"
        return _marker(values.loc[period_id], 2)

    rows = 0
    for ws in pack.worksheets[1:-3]:
        r = next(r for r in range(1, 12) if ws.cell(row=r, column=1).value == "Headline (county)") + 1
        while ws.cell(row=r, column=1).value not in (None, "Latest month by area"):
            metric = metrics.loc[ws.cell(row=r, column=1).value]
            values = headline[headline["metric_id"] == metric["metric_id"]].set_index("period_id")
            months = values[values.index.str.fullmatch(r"\d{4}-\d{2}") & values["value_status"].ne("no data")]
            latest = months.index.max()
            y, m = map(int, latest.split("-"))
            previous = f"{y - (m == 1)}-{(m - 2) % 12 + 1:02d}"
            assert ws.cell(row=r, column=3).value == latest
            assert [ws.cell(row=r, column=col).value for col in (4, 5, 6, 7)] == [
                shown(values, p) for p in (latest, previous, f"{y - 1}-{m:02d}", f"R12-{latest}")
            ]
            expected = latest_england.get(metric["metric_id"])
            assert ws.cell(row=r, column=9).value == ("n/a" if expected is None else round(expected, 2))
            held_back = ws.cell(row=r, column=12).value
            assert held_back == "no" if metric["status"] == "current" else held_back.startswith(metric["status"])
            if metric["amber_threshold"] == metric["amber_threshold"]:
                assert metric["threshold_source"] in ws.cell(row=r, column=10).value
            rows += 1
            r += 1
    assert rows == len(metrics)


def test_the_cover_says_how_current_each_source_is_and_warns_of_stale_ones(pack, home: Path) -> None:
    """A source is current to its latest month with records (from the truth): the scorecard
    lists every month the metrics cover, rows or none, so its last month is not that. Where the
    truth's month is hidden ("c") in the pack, a later hidden month may stand in for it. A
    source more than two months behind is warned of; as simply behind where, by the truth, it
    has not gone as long without records before (few records: the small world's rapid reviews)."""
    quality = _table(home, "dq_scorecard")
    published = _table(home, "publication")["published_at"].max()
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        truth = con.execute(
            "SELECT partner, dataset, strftime(max(month), '%Y-%m') AS month, coalesce(max(gap) - 1, 0) AS quiet "
            "FROM (SELECT partner, dataset, period_month AS month, datediff('month', lag(period_month) OVER "
            "      (PARTITION BY partner, dataset ORDER BY period_month), period_month) AS gap "
            "      FROM (SELECT DISTINCT partner, dataset, period_month FROM dq_monthly "
            "            WHERE rows_received > 0 AND period_month IS NOT NULL)) GROUP BY ALL"
        ).df()
    truth = truth.set_index(["partner", "dataset"])
    assert truth["month"].nunique() > 2  # the small world's sources end in different months
    cover = list(pack["Cover"].iter_rows(values_only=True))
    header = next(i for i, r in enumerate(cover) if r[0] == "Partner")
    listed = {(r[0], r[1]): r[2:5] for r in cover[header + 1 : header + 1 + len(truth)]}
    assert set(listed) == set(truth.index)
    card = quality.set_index(["partner", "dataset", "period_id"])["rows_received"]

    def months_to_publication(month: str) -> int:
        y, m = map(int, month.split("-"))
        return (published.year - y) * 12 + published.month - m

    for (partner, dataset), source in truth.iterrows():
        current_to, shown_behind, warning = listed[(partner, dataset)]
        hidden = pd.isna(card.get((partner, dataset, current_to)))
        assert current_to == source["month"] or (current_to > source["month"] and hidden), (partner, dataset)
        assert shown_behind == months_to_publication(current_to)
        behind = months_to_publication(source["month"])
        # a hidden latest month may have had no records: not current unless one shown lately had
        shown = card.loc[partner, dataset].drop("unknown", errors="ignore")
        shown_to = shown[shown > 0].index.max() if (shown > 0).any() else None
        uncertain = hidden and (shown_to is None or months_to_publication(shown_to) > 2)
        assert (warning != "none") == (shown_behind > 2 or uncertain), (partner, dataset)
        if uncertain and shown_behind <= 2:
            assert (shown_to or "every month's count is hidden") in warning, (partner, dataset, warning)
        if behind > max(2, source["quiet"]):
            assert warning.startswith("more than 2 months behind"), (partner, dataset)
    quiet = sum(1 for v in listed.values() if v[2].startswith("no records after"))
    stale = sum(1 for v in listed.values() if v[2] != "none")
    assert stale and quiet  # the small world's sources end well before today; some have few records
    assert any(str(r[0]).startswith(f"Warning: {stale} of {len(truth)} source(s)") for r in cover)


def test_attendance_is_current_to_the_month_its_latest_term_ends(pack, small, home: Path) -> None:
    """Attendance has no event date, only an academic year and a term: its rows count in the
    month their term ends (autumn December, spring March, summer July), read here from the
    landing files, not in the month they were delivered (board review B-4)."""
    months = attendance_term_months(small.out, next(s for s in CATALOGUE if s.dataset == "attendance"))
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        (counted,) = con.execute(
            "SELECT list(DISTINCT strftime(period_month, '%Y-%m')) FROM dq_monthly "
            "WHERE partner = 'education' AND dataset = 'attendance' AND rows_received > 0 AND period_month IS NOT NULL"
        ).fetchone()
    assert len(months) > 3 and set(counted) == months
    cover = list(pack["Cover"].iter_rows(values_only=True))
    assert next(r[2] for r in cover if r[:2] == ("education", "attendance")) == max(months)


def test_alerts_and_quality_sheets(pack, home: Path) -> None:
    alerts = _table(home, "alerts")
    messages = [r[3] for r in pack["Alerts"].iter_rows(min_row=8, values_only=True) if r[3]]
    assert sorted(messages) == sorted(alerts["message"])
    quality = pack["DQ scorecard"]
    rows = [r for r in quality.iter_rows(min_row=8, values_only=True) if r[0] and r[0] != "Partner"]
    counts = [v for r in rows for v in r[2:4] if isinstance(v, int)]
    assert counts and not any(1 <= v <= 5 for v in counts)
    technical = [r for r in pack["Technical"].iter_rows(min_row=8, values_only=True) if r[0] and r[0] != "Partner"]
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
    themes = [ws for ws in pack.worksheets if ws.title not in ("Cover", "Alerts", "DQ scorecard", "Technical")]
    numbers = [c for ws in themes for row in ws.iter_rows() for c in row if isinstance(c.value, float)]
    assert numbers and all(c.number_format in ("#,##0.0", "+#,##0.0;-#,##0.0;0.0") for c in numbers)
    shares = [c for row in pack["DQ scorecard"].iter_rows() for c in row if isinstance(c.value, float)]
    assert shares and all(c.number_format == "0.0%" and 0 <= c.value <= 1 for c in shares)
    signals = {r[2] for r in pack["Alerts"].iter_rows(min_row=8, values_only=True) if r[3]}
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


def _cover_of(scorecard_sql: str, published_at: str) -> tuple[dict, list]:
    """The cover `_cover` writes for a scorecard (a query of partner, dataset, period_id and
    rows_received) published at a time: each partner-'p' source's row, and every row."""
    from sihub.publishing.ssag_pack import _cover

    con = duckdb.connect()
    con.execute(f"CREATE TABLE publication AS SELECT TIMESTAMP '{published_at}' AS published_at")
    con.execute(f"CREATE TABLE dq_scorecard AS {scorecard_sql}")
    ws = openpyxl.Workbook().active
    _cover(ws, con, 1)
    written = list(ws.iter_rows(values_only=True))
    return {r[1]: r[2:5] for r in written if r[0] == "p"}, written


def test_a_source_more_than_two_months_behind_is_warned_of_and_no_other() -> None:
    """A source is current to its latest month with rows: a later month the scorecard lists with
    0 rows does not make it current, one hidden ("c", NULL) may have had some (but a source with
    none shown is not called current), and a source with no rows at all is said to have none."""
    rows, written = _cover_of(
        "SELECT * FROM (VALUES ('p', 'now', '2026-11', 3), ('p', 'two', '2026-09', 1), "
        "('p', 'two', '2026-10', 0), ('p', 'two', '2026-11', 0), ('p', 'three', '2026-08', 5), "
        "('p', 'three', '2026-07', 2), ('p', 'hidden', '2026-10', NULL), ('p', 'hidden', '2026-11', 0), "
        "('p', 'old', '2025-12', 4), ('p', 'old', '2026-11', 0), ('p', 'old', 'unknown', 2), "
        "('p', 'empty', '2026-10', 0), ('p', 'empty', '2026-11', 0)) t(partner, dataset, period_id, rows_received)",
        "2026-11-20 02:00",
    )
    assert rows == {
        "now": ("2026-11", 0, "none"),
        "hidden": (
            "2026-10",
            1,
            "every month's count is hidden (c): how current it is cannot be shown (ask its owner)",
        ),
        "empty": ("none", "none", "no records received"),
        "old": ("2025-12", 11, "more than 2 months behind: figures from it stop at 2025-12"),
        "three": ("2026-08", 3, "more than 2 months behind: figures from it stop at 2026-08"),
        "two": ("2026-09", 2, "none"),
    }
    assert any(
        r[0] == "Warning: 4 of 6 source(s) with no records or more than 2 months behind the publication "
        "(1 whose latest months are hidden)."
        for r in written
    )


def test_a_source_quiet_for_a_spell_it_has_had_before_is_said_to_be_maybe_up_to_date() -> None:
    """A source with few records (rapid reviews) or records in some months only (a January
    census) may have had none because none happened: behind the publication by no more months
    than it has gone without records before, it is still warned of, but as quiet and maybe up to
    date. A termly source 9 months on from its last term (terms at most 5 months apart), or a
    monthly one, is simply behind."""
    months = (
        "SELECT strftime(m, '%Y-%m') AS period_id, month(m) AS m "
        "FROM generate_series(DATE '2022-04-01', DATE '2026-03-01', INTERVAL 1 MONTH) s(m)"
    )
    rows, written = _cover_of(
        f"SELECT 'p' AS partner, 'rare' AS dataset, period_id, "
        f"CASE WHEN period_id IN ('2022-04', '2024-01', '2025-04') THEN 1 ELSE 0 END AS rows_received "
        f"FROM ({months}) "
        f"UNION ALL SELECT 'p', 'census', period_id, CASE WHEN m = 1 THEN 900 ELSE 0 END FROM ({months}) "
        f"UNION ALL SELECT 'p', 'termly', period_id, CASE WHEN m IN (12, 3, 7) THEN 80 ELSE 0 END FROM ({months}) "
        f"UNION ALL SELECT 'p', 'monthly', period_id, 40 FROM ({months})",
        "2026-12-07 02:00",
    )
    quiet = "no records after {}, but it has gone {} months without any before: it may be up to date (ask its owner)"
    assert rows["rare"] == ("2025-04", 20, quiet.format("2025-04", 20))  # 2022-05 to 2023-12
    assert rows["census"] == ("2026-01", 11, quiet.format("2026-01", 11))  # February to December
    assert rows["termly"] == ("2026-03", 9, "more than 2 months behind: figures from it stop at 2026-03")
    assert rows["monthly"] == ("2026-03", 9, "more than 2 months behind: figures from it stop at 2026-03")
    warning = "Warning: 4 of 4 source(s) with no records or more than 2 months behind the publication (2 quiet for a"
    assert any(str(r[0]).startswith(warning) for r in written)


def test_a_source_whose_latest_months_are_hidden_is_not_called_current() -> None:
    """A hidden month ("c") may hold records or none: a source is current to its latest month
    with records or hidden, but where that month is hidden and the last shown with records is
    more than two months behind, the cover cannot say it is current, and says what it can."""
    rows, written = _cover_of(
        "SELECT * FROM (VALUES ('p', 'all hidden', '2026-09', NULL), ('p', 'all hidden', '2026-10', NULL), "
        "('p', 'all hidden', '2026-11', NULL), "
        "('p', 'hidden since', '2026-06', 40), ('p', 'hidden since', '2026-07', 0), "
        "('p', 'hidden since', '2026-10', NULL), ('p', 'hidden since', '2026-11', 0), "
        "('p', 'hidden lately', '2026-09', 12), ('p', 'hidden lately', '2026-10', NULL), "
        "('p', 'hidden lately', '2026-11', NULL)) t(partner, dataset, period_id, rows_received)",
        "2026-11-20 02:00",
    )
    assert rows["all hidden"] == (
        "2026-11",
        0,
        "every month's count is hidden (c): how current it is cannot be shown (ask its owner)",
    )
    assert rows["hidden since"] == (
        "2026-10", 1, "the last month shown with records is 2026-06; later ones are hidden (c) or have none: "
        "figures from it may stop at 2026-06 (ask its owner)"
    )  # fmt: skip
    assert rows["hidden lately"] == ("2026-11", 0, "none")  # shown with records 2 months before: current either way
    warning = (
        "Warning: 2 of 3 source(s) with no records or more than 2 months behind the publication "
        "(2 whose latest months are hidden)."
    )
    assert any(r[0] == warning for r in written)


def test_the_quality_sheet_covers_the_last_12_months_and_no_unreadable_month(pack, home: Path) -> None:
    """Validity over the 12 months to the latest, from the published scorecard itself: rows
    whose month could not be read ('unknown') belong to no month, so they are not in it."""
    quality = _table(home, "dq_scorecard")
    facts = _table(home, "fact_metric_value")  # the metrics' latest month (the scorecard may reach beyond)
    latest = facts.loc[facts["period_id"].str.fullmatch(r"\d{4}-\d{2}"), "period_id"].max()
    y, m = map(int, latest.split("-"))
    first = f"{y - (m < 12)}-{(m % 12) + 1:02d}"
    window = quality[(quality["period_id"] != "unknown") & (quality["period_id"] >= first)]
    expected = window.groupby(["partner", "dataset"])["validity"].mean()
    assert (quality["period_id"] == "unknown").any()  # the small world has rows with no readable month
    rows = {(r[0], r[1]): r[4] for r in pack["DQ scorecard"].iter_rows(min_row=8, values_only=True) if r[0]}
    rows.pop(("Partner", "Dataset"), None)
    assert set(rows) == set(expected.index)
    for key, validity in expected.items():
        shown = rows[key]
        assert shown == ("c" if validity != validity else pytest.approx(validity)), key
