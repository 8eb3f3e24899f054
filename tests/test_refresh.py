"""The spine end to end: real Dagster assets materialized in-process on `small` synthetic
data in a temporary SIHUB_HOME, checked against the generator's truth and against metrics
recomputed here with plain pandas."""

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from pipelines.refresh import RefreshOutcome, run_refresh
from sihub.core.contracts import load_contracts
from sihub.metrics.catalogue import load_catalogue
from sihub.privacy.tiers import load_policy
from sihub.synthetic.catalogue import CATALOGUE
from sihub.synthetic.generate import GenerationResult
from sihub.validation.rules import dataset_rules
from tests.extracts import read_rows

# Every planted defect and the rule that must catch it.
CAUGHT = {
    "bad_date": "type",
    "impossible_date": "type",
    "blank_mandatory": "required",
    "out_of_range_code": "allowed",
    "invalid_nhs_check_digit": "nhs_number",
    "invalid_upn_check_letter": "upn",
    "end_before_start": "not_before",
    "duplicate_row": "duplicate_row",
}
THRESHOLD = load_policy().threshold  # the home tier's, which published/ itself is protected by
REPO = Path(__file__).parents[1]


def test_every_row_is_accounted_for(first_run: RefreshOutcome, small: GenerationResult, home: Path) -> None:
    truth = pd.read_parquet(small.truth / "records.parquet")
    rows_per_file = truth.groupby("file").size().to_dict()
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:  # label -> file
        files = dict(con.execute("SELECT label, landing_path FROM deliveries").fetchall())
    summary = first_run.summary
    assert summary["status"] == "success" and summary["run_id"] == first_run.run_id
    assert len(summary["datasets"]) == len(CATALOGUE)
    for d in summary["datasets"]:
        assert d["rows_in"] == d["rows_loaded"] + d["rows_quarantined"]
        for f in d["files"]:
            assert f["status"] == "loaded", f
            assert f["rows_in"] == f["rows_loaded"] + f["rows_quarantined"]
            assert f["rows_in"] == rows_per_file.get(files[f["name"]], 0)
            assert len(f["sha256"]) == 64


def test_quarantine_matches_the_defect_manifest(first_run: RefreshOutcome, home: Path, manifest: pd.DataFrame) -> None:
    """Every planted defect the contract rules cover is quarantined at its file, row and
    column with the right rule, and no clean row is."""
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        quarantined = con.execute(
            "SELECT partner, dataset, source_file, source_row, source_line, rule_id, column_name FROM quarantine"
        ).fetchall()
    contracts = {c.table: c for c in load_contracts()}
    got = set()
    for partner, dataset, file, row, line, rule_id, column in quarantined:
        header = contracts[f"{partner}__{dataset}"].columns[column].source if column else ""
        rule = rule_id.split(":")[0]
        got.add((f"{partner}/{dataset}/{file}", row, line, rule, header))
    expected = {
        (m.file, m.row, int(m.line), CAUGHT[m.kind], m.column)
        for m in manifest[manifest["kind"].isin(CAUGHT)].itertuples()
    }
    # a text code in a whole-number column ("Tier 3") fails its type before its allowed values
    got = {(f, r, ln, "allowed" if (f, r, ln, "allowed", c) in expected else rule, c) for f, r, ln, rule, c in got}
    assert got == expected


def test_redelivery_is_archived_once_and_not_double_counted(first_run: RefreshOutcome, home: Path, tmp_path) -> None:
    shutil.copytree(home, tmp_path / "home", symlinks=True)  # the session's home stays as the first run left it
    home = tmp_path / "home"
    folder = home / "landing" / "childrens_services" / "contacts"
    original = sorted(folder.iterdir())[0]
    shutil.copyfile(original, folder / "contacts_resent.csv")
    personal = home / "warehouse" / "personal.duckdb"
    with duckdb.connect(str(personal), read_only=True) as con:
        before = con.execute('SELECT count(*) FROM "childrens_services__contacts"').fetchone()[0]
    shared = str(home / "warehouse" / "shared.duckdb")
    with duckdb.connect(shared, read_only=True) as con:
        keys_before = con.execute('SELECT person_key FROM "health__ed_attendances" ORDER BY ALL').fetchall()
    second = run_refresh(home)
    assert second.success, second.reason
    files = [f for d in second.summary["datasets"] for f in d["files"]]
    # named by its safe label, never by the file's own name
    assert [f["status"] for f in files] == ["duplicate"] and files[0]["name"].startswith("childrens_services/contacts ")
    with duckdb.connect(str(personal), read_only=True) as con:
        assert con.execute('SELECT count(*) FROM "childrens_services__contacts"').fetchone()[0] == before
        archived = con.execute("SELECT count(*), count(DISTINCT sha256) FROM archive_manifest").fetchone()
    assert archived[0] == archived[1] == sum(1 for p in (home / "raw").rglob("*") if p.is_file())
    with duckdb.connect(shared, read_only=True) as con:  # pseudonyms are stable from run to run
        assert con.execute('SELECT person_key FROM "health__ed_attendances" ORDER BY ALL').fetchall() == keys_before
    third = run_refresh(home)  # nothing new: the outputs stay those the second run published
    assert third.success and third.summary == second.summary and third.run_id != second.run_id


def _rows(home: Path, partner: str, dataset: str, manifest: pd.DataFrame) -> pd.DataFrame:
    """The rows a correct hub must load: every data row but those with a defect it must catch."""
    spec = next(s for s in CATALOGUE if (s.partner, s.dataset) == (partner, dataset))
    bad = set(
        manifest.loc[manifest["kind"].isin(CAUGHT) & (manifest["dataset"] == dataset), ["file", "row"]].itertuples(
            index=False, name=None
        )
    )
    frames = []
    for path in sorted((home / "landing" / partner / dataset).glob(f"*.{spec.fmt}")):
        name = f"{partner}/{dataset}/{path.name}"
        if path.name.endswith("_resent.csv"):
            continue
        header, rows = read_rows(spec, path)
        keep = [r for i, r in enumerate(rows, start=1) if (name, i) not in bad]
        frames.append(pd.DataFrame(keep, columns=header))
    return pd.concat(frames, ignore_index=True)


def _when(value, fmt: str) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.strptime(value, fmt)


def _expected(home: Path, events: pd.DataFrame, age_from: int, age_to: int) -> pd.DataFrame:
    """Expected fact rows for district, locality and county from events(month, district)."""
    districts = pd.read_csv(REPO / "reference" / "districts.csv", dtype=str)
    pop = pd.read_csv(home / "reference" / "population.csv")
    children = pop[pop["age"].between(age_from, age_to)].groupby("district_code")["population"].sum()
    counts = events.groupby(["month", "district"]).size()
    rows = []
    for month in pd.period_range("2021-04", "2026-03", freq="M").strftime("%Y-%m"):
        per = {d: int(counts.get((month, d), 0)) for d in districts["district_code"]}
        levels = [(d, [d]) for d in per]
        levels += [(loc, list(g["district_code"])) for loc, g in districts.groupby("locality_code")]
        levels += [(districts["county_code"].iloc[0], list(per))]
        for code, members in levels:
            n = sum(per[m] for m in members)
            den = int(sum(children[m] for m in members))
            rows.append((month, code, n, den))
    return pd.DataFrame(rows, columns=["period_id", "geography_code", "n", "denominator"])


def _compare(home: Path, metric: str, expected: pd.DataFrame) -> None:
    """The metric's monthly values before disclosure control equal the expected ones, and the
    published ones show them except where suppressed (every count from 1 to the threshold among those)."""
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        values = con.execute(
            "SELECT period_id, geography_code, numerator, denominator FROM metric_values WHERE metric_id = ? "
            "AND period_type = 'month' AND breakdown = 'all' AND NOT hidden",
            [metric],
        ).df()
    expected = expected.rename(columns={"denominator": "expected_denominator"})
    values = values.merge(expected, on=["period_id", "geography_code"], how="outer")
    assert len(values) == len(expected) and values["numerator"].notna().all()
    assert (values["numerator"] == values["n"]).all() and (
        values["denominator"] == values["expected_denominator"]
    ).all()
    fact = pq.read_table(home / "published" / "parquet" / "fact_metric_value.parquet").to_pandas()
    fact = fact[
        (fact["metric_id"] == metric) & (fact["breakdown"] == "all") & fact["period_id"].str.match(r"^\d{4}-\d{2}$")
    ]
    fact = fact.merge(expected, on=["period_id", "geography_code"], how="inner", validate="one_to_one")
    assert len(fact) == len(expected)
    assert fact.loc[fact["n"].between(1, THRESHOLD), "suppressed"].all()
    assert fact.loc[fact["suppressed"], ["numerator", "value"]].isna().all().all()
    shown = fact[~fact["suppressed"]]
    assert (shown["numerator"] == shown["n"]).all()
    assert ((shown["value"] - shown["n"] * 10_000 / shown["denominator"]).abs() < 1e-9).all()
    assert fact["n"].sum() > 0


def _district(postcodes: pd.Series) -> pd.Series:
    outward = pd.read_csv(REPO / "reference" / "postcode_districts.csv", dtype=str)
    mapping = outward.set_index("postcode_district")["district_code"]
    code = postcodes.astype(str).str.upper().str.replace(" ", "", regex=False)
    return code.str[:-3].map(mapping)


def _monthly(rows: pd.DataFrame, date_header: str, fmt: str, postcode_header: str) -> pd.DataFrame:
    """Events as (month, district) from a date and a postcode column."""
    months = [_when(v, fmt).strftime("%Y-%m") for v in rows[date_header]]
    return pd.DataFrame({"month": months, "district": _district(rows[postcode_header]).to_numpy()}).dropna()


@pytest.mark.parametrize(
    ("partner", "dataset", "date_header", "fmt", "postcode_header", "metric"),
    [
        ("childrens_services", "contacts", "Contact Date", "%d/%m/%Y", "Postcode", "contacts_per_10k"),
        (
            "police",
            "domestic_abuse_incidents",
            "incident_datetime",
            "%Y-%m-%d %H:%M:%S",
            "home_postcode",
            "domestic_abuse_children_per_10k",
        ),
    ],
)
def test_count_metrics_match_an_independent_computation(
    first_run, home, manifest, partner, dataset, date_header, fmt, postcode_header, metric
) -> None:
    rows = _rows(home, partner, dataset, manifest)
    events = _monthly(rows, date_header, fmt, postcode_header)
    _compare(home, metric, _expected(home, events, 0, 17))


def test_self_harm_metric_matches_an_independent_computation(first_run, home, manifest) -> None:
    rows = _rows(home, "health", "ed_attendances", manifest)
    rows = rows[rows["Attendance Reason"] == "Self-harm"]
    arrival = [_when(v, "%d/%m/%Y %H:%M") for v in rows["Arrival Date"]]
    born = [_when(v, "%d/%m/%Y") for v in rows["Date of Birth"]]
    age = [a.year - b.year - ((a.month, a.day) < (b.month, b.day)) for a, b in zip(arrival, born, strict=True)]
    events = pd.DataFrame(
        {
            "month": [a.strftime("%Y-%m") for a in arrival],
            "district": _district(rows["Postcode"]).to_numpy(),
            "age": age,
        }
    )
    events = events[events["age"].between(10, 17)].dropna()
    assert len(events) > 20
    _compare(home, "self_harm_attendances_10_17_per_10k", _expected(home, events, 10, 17))


def test_star_schema_is_published_in_duckdb_and_parquet(first_run: RefreshOutcome, home: Path) -> None:
    published = home / "published"
    with duckdb.connect(str(published / "metrics.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        geo = con.execute("SELECT geography_type, count(*) FROM dim_geography GROUP BY ALL").fetchall()
        fact_columns = [r[0] for r in con.execute("DESCRIBE fact_metric_value").fetchall()]
    assert {
        "dim_metric",
        "dim_period",
        "dim_geography",
        "fact_metric_value",
        "alerts",
        "dq_scorecard",
    } <= tables
    assert dict(geo) == {"county": 1, "district": 7, "locality": 6}
    assert fact_columns == [
        "metric_id",
        "period_id",
        "geography_code",
        "breakdown",
        "numerator",
        "denominator",
        "value",
        "suppressed",
        "rag",
        "signal",
        "value_status",
        "process_mean",
        "upper_process_limit",
        "lower_process_limit",
    ]
    for table in tables:
        assert (published / "parquet" / f"{table}.parquet").exists()
    summary = json.loads((published / "run_summary.json").read_text())
    assert summary["outputs"]["dim_metric"] == len(load_catalogue())


def test_no_identifier_reaches_a_published_output(first_run: RefreshOutcome, home: Path, small) -> None:
    children = pd.read_parquet(small.truth / "children.parquet")
    identifiers = set(children["nhs_number"]) | set(children["upn"]) | set(children["surname"])
    identifiers |= set(children["la_ref"]) | set(children["police_ref"])
    for path in (home / "published" / "parquet").glob("*.parquet"):
        table = pq.read_table(path).to_pandas()
        for column in table.columns:
            if table[column].dtype == object:
                values = set(table[column].dropna().astype(str))
                assert not values & identifiers, f"{path.name}.{column}"
    exact = set(children["nhs_number"]) | set(children["upn"]) | set(children["la_ref"]) | set(children["police_ref"])
    spaced = {f"{n[:3]} {n[3:6]} {n[6:]}" for n in children["nhs_number"]}
    pattern = re.compile(r"\b\d{3} ?\d{3} ?\d{4}\b|\b[A-Z]\d{12}\b|\bLCS\d+\b|\bNP\d+\b")
    for path in (home / "published").rglob("*"):
        if path.suffix in (".json", ".html"):
            found = set(pattern.findall(path.read_text(encoding="utf-8")))
            assert not found & (exact | spaced), path.name


def test_scorecard_counts_every_row_and_every_defect(first_run, home: Path, small, manifest) -> None:
    truth = pd.read_parquet(small.truth / "records.parquet")
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        dq = con.execute(
            "SELECT partner || '/' || dataset, sum(rows_received), sum(rows_quarantined) FROM dq_monthly GROUP BY 1"
        ).fetchall()
    received = {k: int(r) for k, r, _ in dq}
    bad = {k: int(q) for k, _, q in dq}
    expected_rows = truth.groupby(truth["partner"] + "/" + truth["dataset"]).size().to_dict()
    expected_bad = manifest.groupby(manifest["partner"] + "/" + manifest["dataset"]).size().to_dict()
    assert received == expected_rows
    assert {k: v for k, v in bad.items() if v} == expected_bad
    card = pq.read_table(home / "published" / "parquet" / "dq_scorecard.parquet").to_pandas()
    for column in ("rows_received", "rows_loaded", "rows_with_warnings"):
        assert not card[column].between(1, THRESHOLD).any()
    assert card["validity"].dropna().between(0, 1).all()
    assert card["trend"].dropna().isin(["improving", "worsening", "stable"]).all()
    # a small count hides the split between loaded and quarantined, and validity with it
    assert card.loc[card["rows_loaded"].isna(), ["rows_quarantined", "validity"]].isna().all().all()
    assert card["rows_loaded"].notna().any()


def test_data_docs_are_written_per_dataset_for_the_data_team_and_linked(first_run: RefreshOutcome, home: Path) -> None:
    summary = first_run.summary
    index = home / "operations" / summary["data_quality"]
    assert index.exists()
    for d in summary["datasets"]:
        page = home / "operations" / d["data_docs"]
        assert page.exists() and d["data_docs"].endswith(f"{d['partner']}__{d['dataset']}.html")
        contract = next(c for c in load_contracts() if (c.partner, c.dataset) == (d["partner"], d["dataset"]))
        assert d["checks_passed"] + d["checks_failed"] == len(dataset_rules(contract))
    attendance = next(d for d in summary["datasets"] if d["dataset"] == "attendance")
    # 6 built in (no freshness: attendance has no event date) + its raw GX expectation
    assert attendance["checks_passed"] + attendance["checks_failed"] == 7
    contacts = (
        home / "operations" / "data_quality" / first_run.run_id / "childrens_services__contacts.html"
    ).read_text()
    assert "contact_date: must be a date" in contacts and "unexpected values found" in contacts
    # the pages render offline: styles written in, nothing fetched from the internet
    for page in (home / "operations" / "data_quality" / first_run.run_id).glob("*.html"):
        text = page.read_text()
        assert not re.search(r'<(link|script|img|iframe)[^>]+(href|src)="https?://', text), page.name


def _identifiers(small) -> set[str]:
    children = pd.read_parquet(small.truth / "children.parquet")
    spaced = {f"{n[:3]} {n[3:6]} {n[6:]}" for n in children["nhs_number"]}
    return (
        set(children["nhs_number"])
        | spaced
        | set(children["upn"])
        | set(children["la_ref"])
        | set(children["police_ref"])
        | set(children["forename"] + " " + children["surname"])
    )


def test_no_identifier_in_the_dagster_event_log(first_run: RefreshOutcome, instance: DagsterInstance, small) -> None:
    identifiers = _identifiers(small)
    logs = instance.all_logs(first_run.run_id)
    assert len(logs) > 100
    text = "\n".join(str(entry) for entry in logs)
    found = {i for i in identifiers if i in text}
    assert not found, f"{len(found)} identifier value(s) in the event log"
    assert os.environ["SIHUB_PSEUDONYM_KEY"] not in text


def test_shared_store_holds_pseudonyms_not_identifiers(first_run: RefreshOutcome, home: Path, small) -> None:
    children = pd.read_parquet(small.truth / "children.parquet")
    key = os.environ["SIHUB_PSEUDONYM_KEY"].encode()
    by_nhs = {
        hmac.new(key, f"nhs:{n}".encode(), hashlib.sha256).hexdigest(): c
        for n, c in zip(children["nhs_number"], children["child_id"], strict=True)
    }
    identifiers = _identifiers(small)
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        keyed = {}
        for table in tables:
            frame = con.execute(f'SELECT * FROM "{table}"').df()
            for column in frame.columns:
                if frame[column].dtype == object:
                    assert not set(frame[column].dropna().astype(str)) & identifiers, f"{table}.{column}"
            if "person_key" in frame:
                keyed[table] = set(frame["person_key"].dropna())
    # the same child gets the same pseudonym in children's services and in health
    in_both = {
        by_nhs[k] for k in keyed["childrens_services__contacts"] & keyed["health__ed_attendances"] if k in by_nhs
    }
    assert len(in_both) > 50


def test_the_analyst_sees_each_datasets_state_in_dagster(
    first_run: RefreshOutcome, home: Path, instance, small: GenerationResult
) -> None:
    """What the Dagster catalogue shows of a dataset: landing observed (files there), the
    validated asset's state (rows standing, deliveries, coverage) with Data Docs as a link, and
    the contract's owner, the stage and partner as tags."""
    from dagster import AssetKey, MetadataValue

    from pipelines.definitions import build_definitions

    contract = next(c for c in load_contracts() if c.key == "police/missing_episodes")
    observed = instance.fetch_observations(AssetKey(["landing", "police", "missing_episodes"]), limit=1).records
    files = len(list((small.out / "police" / "missing_episodes").glob("*.csv")))
    assert observed and observed[0].asset_observation.metadata["files_in_landing"].value == files
    validated = instance.get_latest_materialization_event(AssetKey(["validated", "police", "missing_episodes"]))
    meta = validated.asset_materialization.metadata
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        shared = con.execute("SELECT count(*) FROM police__missing_episodes").fetchone()[0]
    assert meta["rows_standing"].value == shared and meta["deliveries"].value == files
    assert isinstance(meta["data_docs"], type(MetadataValue.url("x")))
    spec = build_definitions(home).resolve_asset_graph().get(AssetKey(["validated", "police", "missing_episodes"]))
    assert spec.owners == [f"team:{contract.owner}"]
    assert spec.tags["partner"] == "police" and spec.tags["stage"] == "validated"
