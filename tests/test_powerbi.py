"""The published star schema as a Power BI developer meets it: a calendar without gaps, a
breakdown dimension, a status for every missing value and no padding that reads as zero, keys
that all resolve, and the generated Power BI project (TMDL) read back by Microsoft's own parser
(`make tmdl-validator`), with the Parquet folder where the analyst reaches it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from sihub.privacy.tiers import Tier, load_tiers
from sihub.publishing.powerbi_project import UNSET, parquet_folder, project_name, write_pbids, write_project
from sihub.publishing.star_schema import load_schema

REPO = Path(__file__).resolve().parents[1]
VALIDATOR = REPO / ".cache" / "tmdl" / "bin" / "python"
SCHEMA = yaml.safe_load((REPO / "sihub" / "publishing" / "published_schema.yaml").read_text())
TIERS = load_tiers()
by_tier = pytest.mark.parametrize("tier", TIERS, ids=[t.name for t in TIERS])
needs_validator = pytest.mark.skipif(
    not VALIDATOR.exists(), reason="Microsoft's TMDL parser is not installed: run `make tmdl-validator` (needs PyPI)"
)
# how Power BI types DuckDB's published types (Tabular's DataType names)
MODEL_TYPES = {"VARCHAR": "String", "BIGINT": "Int64", "INTEGER": "Int64", "DOUBLE": "Double",
               "BOOLEAN": "Boolean", "DATE": "DateTime", "TIMESTAMP": "DateTime"}  # fmt: skip
# every key a report joins on, to the dimension that must hold it
KEYS = [("fact_metric_value", c, d, k) for c, d, k in (
    ("metric_id", "dim_metric", "metric_id"), ("period_id", "dim_period", "period_id"),
    ("geography_code", "dim_geography", "geography_code"), ("breakdown", "dim_breakdown", "breakdown"))] + [
    ("alerts", "metric_id", "dim_metric", "metric_id"), ("alerts", "period_id", "dim_period", "period_id"),
    ("alerts", "geography_code", "dim_geography", "geography_code"),
    ("alerts", "breakdown", "dim_breakdown", "breakdown"),
    ("dq_scorecard", "period_id", "dim_period", "period_id"), ("comparator", "metric_id", "dim_metric", "metric_id"),
    ("dim_period", "end_date", "dim_date", "date")]  # fmt: skip


def _read_model(definition: Path) -> dict:
    found = subprocess.run(
        [str(VALIDATOR), str(REPO / "tests" / "tools" / "read_tmdl.py"), str(definition)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    return json.loads(found.stdout.strip().splitlines()[-1])  # after the .NET runtime's own INFO lines


def _parquet(folder: Path, table: str) -> str:
    return f"read_parquet('{folder / 'parquet' / (table + '.parquet')}')"


@pytest.fixture(scope="module")
def models(first_run, home: Path) -> dict[str, dict]:
    if not VALIDATOR.exists():
        pytest.skip("Microsoft's TMDL parser is not installed: run `make tmdl-validator` (needs PyPI)")
    return {
        t.name: _read_model(
            t.published(home / "published") / "powerbi" / f"{project_name(t)}.SemanticModel" / "definition"
        )
        for t in TIERS
    }


@needs_validator
@by_tier
def test_the_model_has_every_published_table_and_column_with_its_type(models: dict, tier: Tier) -> None:
    model = models[tier.name]["tables"]
    assert set(model) == set(SCHEMA)
    for table, spec in SCHEMA.items():
        expected = {c: MODEL_TYPES[kind] for c, (kind, _) in spec["columns"].items()}
        assert {c: v["type"] for c, v in model[table]["columns"].items()} == expected, table
        assert all(v["source"] == c for c, v in model[table]["columns"].items())
        # each table reads its own Parquet file through the one folder parameter
        (source,) = model[table]["partitions"]
        assert f'"{table}.parquet"' in source and "FolderPath" in source
        assert tier.marking in model[table]["description"]


@needs_validator
@by_tier
def test_every_relationship_is_one_to_many_on_columns_that_hold_it(models: dict, home: Path, tier: Tier) -> None:
    links = models[tier.name]["relationships"]
    folder = tier.published(home / "published")
    con = duckdb.connect()
    # the model relates every key a report joins on, and nothing else
    assert {(*r["from"], *r["to"]) for r in links} == set(KEYS)
    for r in links:
        assert r["active"] and (r["from_cardinality"], r["to_cardinality"]) == ("Many", "One")
        (table, column), (dim, key) = r["from"], r["to"]
        rows, distinct, empty = con.execute(
            f"SELECT count(*), count(DISTINCT {key}), count(*) FILTER ({key} IS NULL) FROM {_parquet(folder, dim)}"
        ).fetchone()
        assert rows == distinct and empty == 0, f"{dim}.{key} is not a key"
        missing = con.execute(
            f"SELECT DISTINCT f.{column} FROM {_parquet(folder, table)} f WHERE f.{column} IS NOT NULL "
            f"AND f.{column} NOT IN (SELECT {key} FROM {_parquet(folder, dim)})"
        ).fetchall()
        assert not missing, f"{table}.{column} values with no {dim} row: {missing[:5]}"


@needs_validator
def test_measures_never_total_cells_and_hide_technical_keys(models: dict) -> None:
    tables = models["partnership"]["tables"]
    fact = tables["fact_metric_value"]
    for name in ("Published value", "Published count", "Published denominator", "Shown"):
        assert "COUNTROWS(fact_metric_value) = 1" in fact["measures"][name]["expression"], name
    assert "%" in fact["measures"]["Published value"]["dynamic_format"]
    # Power BI refuses a measure named like a column anywhere in the model, whatever the case
    columns = {c.lower() for t in tables.values() for c in t["columns"]}
    assert not [m for t in tables.values() for m in t["measures"] if m.lower() in columns]
    # dim_date is the model's date table, and Power BI adds no hidden ones of its own
    assert tables["dim_date"]["data_category"] == "Time" and tables["dim_date"]["columns"]["date"]["key"]
    assert models["partnership"]["annotations"]["__PBI_TimeIntelligenceEnabled"] == "0"
    assert all(fact["columns"][k]["hidden"] for k in ("metric_id", "period_id", "geography_code", "breakdown"))
    periods = models["partnership"]["tables"]["dim_period"]["columns"]
    assert periods["label"]["sort_by"] == "sort_key"
    assert models["partnership"]["tables"]["dim_breakdown"]["columns"]["label"]["sort_by"] == "sort_order"


def test_the_calendar_has_every_day_of_every_period(first_run, home: Path) -> None:
    con = duckdb.connect()
    folder = home / "published"
    days, first, last, distinct = con.execute(
        f"SELECT count(*), min(date), max(date), count(DISTINCT date) FROM {_parquet(folder, 'dim_date')}"
    ).fetchone()
    assert days == distinct == (last - first).days + 1
    span = con.execute(
        f"SELECT min(start_date), max(end_date) FROM {_parquet(folder, 'dim_period')}"
    ).fetchone()  # fmt: skip
    assert (first, last) == span
    # the financial year starts in April and the academic year in September
    fy, ay = con.execute(
        f"SELECT financial_year, academic_year FROM {_parquet(folder, 'dim_date')} WHERE date = DATE '2024-03-31'"
    ).fetchone()
    assert (fy, ay) == ("2023-24", "2023/24")


@by_tier
def test_a_value_shows_only_as_a_value_and_no_place_reads_zero_for_a_metric_not_measured_there(
    first_run, home: Path, tier: Tier
) -> None:
    con = duckdb.connect()
    fact = _parquet(tier.published(home / "published"), "fact_metric_value")
    statuses = dict(con.execute(f"SELECT value_status, count(*) FROM {fact} GROUP BY 1").fetchall())
    assert set(statuses) <= {"value", "suppressed", "no events", "no data", "not applicable"}
    assert {"value", "suppressed", "no events", "not applicable"} <= set(statuses)
    mismatched = f"SELECT count(*) FROM {fact} WHERE (value IS NOT NULL) <> (value_status = 'value')"
    assert con.execute(mismatched).fetchone()[0] == 0
    # no events is a real 0 of 0; without data or applicability there are no counts to read as 0
    assert con.execute(
        f"SELECT count(*) FROM {fact} WHERE value_status = 'no events' AND NOT (numerator = 0 AND denominator = 0)"
    ).fetchone()[0] == 0  # fmt: skip
    assert con.execute(
        f"SELECT count(*) FROM {fact} WHERE (value_status IN ('not applicable', 'no data') AND numerator IS NOT NULL) "
        "OR (value_status = 'not applicable' AND denominator IS NOT NULL)"
    ).fetchone()[0] == 0  # fmt: skip
    # padding: a metric whose every district and locality count reads 0 (none hidden, so none
    # holds a count), whatever its denominator, while the county counts events: its places were
    # never measured
    geography = _parquet(tier.published(home / "published"), "dim_geography")
    padded = con.execute(
        f"""
        WITH levels AS (
            SELECT f.metric_id, g.geography_type = 'county' AS county,
                   bool_and(coalesce(f.numerator = 0, false) OR f.value_status = 'no data') AS all_zero
            FROM {fact} f JOIN {geography} g USING (geography_code) GROUP BY ALL
        )
        SELECT p.metric_id FROM levels p JOIN levels c ON c.metric_id = p.metric_id AND c.county AND NOT c.all_zero
        WHERE NOT p.county AND p.all_zero
        """
    ).fetchall()
    assert not padded, padded[:5]


def test_a_locality_that_is_one_district_is_marked_so_each_area_shows_once(first_run, home: Path) -> None:
    con = duckdb.connect()
    geography = _parquet(home / "published", "dim_geography")
    # independently: localities by how many districts name them
    single = {code for (code,) in con.execute(
        f"SELECT locality_code FROM {geography} WHERE geography_type = 'district' GROUP BY 1 HAVING count(*) = 1"
    ).fetchall()}  # fmt: skip
    assert single  # the synthetic county has such localities
    marked = con.execute(f"SELECT geography_code FROM {geography} WHERE NOT distinct_area").fetchall()
    assert {code for (code,) in marked} == single


def test_breakdowns_have_a_dimension_and_sort_youngest_first(first_run, home: Path) -> None:
    con = duckdb.connect()
    breakdowns = _parquet(home / "published", "dim_breakdown")
    rows = con.execute(f"SELECT breakdown, dimension, value FROM {breakdowns} ORDER BY sort_order").fetchall()
    assert rows[0] == ("all", "all", "All")
    ages = [value for _, dimension, value in rows if dimension == "age_band"]
    assert ages == ["Under 1", "1-4", "5-9", "10-15", "16-17"]
    assert all(b == f"{d}:{v}" for b, d, v in rows[1:])
    dimensions = [d for _, d, _ in rows]
    assert dimensions == sorted(dimensions, key=lambda d: (d != "all", d))  # each dimension's values together
    # Power BI sorts a column by another only where each value has one sort key
    for column, by in (("value", "value_sort"), ("dimension_label", "dimension_sort"), ("label", "sort_order")):
        ranks = con.execute(f"SELECT {column}, count(DISTINCT {by}) FROM {breakdowns} GROUP BY 1").fetchall()
        assert all(n == 1 for _, n in ranks), column
    ages = con.execute(f"SELECT value FROM {breakdowns} WHERE dimension = 'age_band' ORDER BY value_sort").fetchall()
    assert [a for (a,) in ages] == ["Under 1", "1-4", "5-9", "10-15", "16-17"]


UNC = "\\\\council-fs\\sihub\\published"


@pytest.mark.parametrize(
    "setting, expected",
    [(UNC, UNC + "\\parquet"), (UNC + "\\", UNC + "\\parquet"), (f'"{UNC}"', UNC + "\\parquet"),
     ("S:", "S:\\parquet"), ("S:\\sihub\\published", "S:\\sihub\\published\\parquet"),
     ("/srv/sihub/published", "/srv/sihub/published/parquet")],
)  # fmt: skip
def test_the_folder_setting_reaches_the_pbids_and_the_model(
    setting: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set to the published share as analysts reach it (however it was pasted), both files
    point at its Parquet folder, Windows paths written as Windows reads them; unset, at this
    machine's."""
    home, beyond = TIERS[0], TIERS[1]
    monkeypatch.setenv("SIHUB_POWERBI_FOLDER", setting)
    path = parquet_folder(tmp_path / "published", home)
    assert path == expected
    write_pbids(tmp_path, path)
    address = json.loads((tmp_path / "sihub_parquet.pbids").read_text())["connections"][0]["details"]["address"]
    assert address["path"] == expected
    write_project(tmp_path, load_schema(), path, home)
    if VALIDATOR.exists():
        model = _read_model(tmp_path / "powerbi" / "SIHub.SemanticModel" / "definition")
        assert model["expressions"]["FolderPath"].startswith(f'"{expected}" meta')
    # a release beyond the partnership names no folder of the partnership's
    assert parquet_folder(tmp_path / "published" / beyond.folder, beyond) == UNSET
    monkeypatch.delenv("SIHUB_POWERBI_FOLDER")
    assert parquet_folder(tmp_path / "published", home) == str(tmp_path / "published" / "parquet")


def test_each_tier_has_a_project_of_its_own(first_run, home: Path) -> None:
    """Two tiers published to one workspace never replace each other."""
    ids = set()
    for tier in TIERS:
        root = tier.published(home / "published") / "powerbi"
        platform = json.loads((root / f"{project_name(tier)}.SemanticModel" / ".platform").read_text())
        ids.add(platform["config"]["logicalId"])
        assert platform["metadata"]["displayName"] == project_name(tier)
        assert (root / f"{project_name(tier)}.pbip").is_file()
    assert len(ids) == len(TIERS)
    public = next(t for t in TIERS if not t.home).published(home / "published")
    assert str(home) not in (public / "sihub_parquet.pbids").read_text()
    parameter = public / "powerbi" / "SIHub-public.SemanticModel" / "definition" / "expressions.tmdl"
    assert str(home) not in parameter.read_text()


def test_the_project_opens_its_report_on_its_model(first_run, home: Path) -> None:
    root = home / "published" / "powerbi"
    project = json.loads((root / "SIHub.pbip").read_text())
    (artifact,) = project["artifacts"]
    report = root / artifact["report"]["path"]
    pbir = json.loads((report / "definition.pbir").read_text())
    model = (report / pbir["datasetReference"]["byPath"]["path"]).resolve()
    assert (model / "definition.pbism").is_file() and (model / "definition" / "model.tmdl").is_file()
    assert json.loads((model / "definition.pbism").read_text())["version"] >= "4.0"  # TMDL, not model.bim
    pages = json.loads((report / "definition" / "pages" / "pages.json").read_text())
    assert all((report / "definition" / "pages" / p / "page.json").is_file() for p in pages["pageOrder"])
