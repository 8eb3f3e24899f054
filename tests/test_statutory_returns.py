"""The council's statutory returns (SSDA903, CIN census XML, Annex A, school census pupils on
roll), written by the generator for the synthetic population, load through the shipped
contracts once an agreement names them; a dataset the hub has never seen onboards with a
contract and an agreement entry alone. One refresh of a `small` world with no planted defects
serves every test here; expected values come from the generator's truth."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance

from pipelines.refresh import RefreshOutcome, run_refresh
from sihub.core.contracts import feeds, load_contracts
from sihub.core.paths import PROJECT_ENV, project_dir
from sihub.metrics.catalogue import compute, load_catalogue
from sihub.synthetic.generate import GenerationResult, generate

CHECKOUT = Path(__file__).resolve().parents[1]
RETURNS = {
    "childrens_services": [
        *(f"cin_{t}" for t in ("children", "details", "assessments", "plans", "section_47", "cp_plans", "cp_reviews")),
        *(f"ssda903_{t}" for t in ("header", "episodes", "missing", "reviews")),
        *(f"annex_a_list_{n}" for n in range(1, 12)),
    ],
    "education": ["pupils_on_roll"],
}
NEW_CONTRACT = """partner: youth_justice
dataset: outcomes
title: Youth justice outcomes
source: {format: csv, encoding: cp1252, header_row: 2, file_pattern: "*.csv"}
event_date: outcome_date
unique_key: [outcome_id]
columns:
  outcome_id: {source: Outcome Ref, required: true, classification: quasi_identifier}
  young_person: {source: YP ID, classification: direct_identifier, identifier: person_ref}
  forename: {source: First Name, classification: direct_identifier, identifier: forename}
  surname: {source: Last Name, classification: direct_identifier, identifier: surname}
  date_of_birth: {source: Birth Date, type: date, classification: direct_identifier, identifier: date_of_birth}
  postcode: {source: Post Code, classification: direct_identifier, identifier: postcode}
  outcome_date: {source: Outcome Date, type: date, required: true, classification: non_personal}
  outcome: {source: Outcome, allowed: [Caution, Youth conditional caution, Referral order],
            recode: {YCC: Youth conditional caution}, classification: sensitive}
"""


def _agreement(id_: str, partner: str, datasets: list[str]) -> dict:
    return {
        "id": id_, "partner": partner, "datasets": datasets, "lawful_basis": "UK GDPR Art 6(1)(e)",
        "purposes": ["multi-agency safeguarding intelligence"], "valid_from": dt.date(2021, 4, 1),
        "valid_to": dt.date(2030, 3, 31), "retention_years": 7, "contact": "Information Governance",
    }  # fmt: skip


def _new_dataset_file(truth: Path, folder: Path) -> pd.DataFrame:
    """Thirty outcomes for real synthetic children, in cp1252 under a title line, one outcome
    written `YCC` (the recode makes it the allowed spelling)."""
    kids = pd.read_parquet(truth / "children.parquet").head(30)
    rows = pd.DataFrame(
        {
            "Outcome Ref": [f"YJ{i:04d}" for i in range(30)],
            "YP ID": kids["police_ref"].to_numpy(),
            "First Name": kids["forename"].to_numpy(),
            "Last Name": kids["surname"].to_numpy(),
            "Birth Date": pd.to_datetime(kids["dob"]).dt.strftime("%d/%m/%Y").to_numpy(),
            "Post Code": "NR2 4AB",
            "Outcome Date": "14/02/2025",
            "Outcome": ["Caution", "YCC", "Referral order"] * 10,
        }
    )
    folder.mkdir(parents=True)
    with (folder / "outcomes_2025.csv").open("w", encoding="cp1252", newline="") as f:
        f.write("Youth Justice Service – outcomes, February 2025\r\n")  # the en dash is cp1252's own
        rows.to_csv(f, index=False, lineterminator="\r\n")
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, GenerationResult, RefreshOutcome]]:
    home = tmp_path_factory.mktemp("statutory_home")
    result = generate("small", seed=3, out=home / "landing", defect_rate=0.0, statutory=True)
    own = home / "project"  # the deployment's own configuration: the shipped one, plus
    for part in ("data_contracts", "sql", "reference", "governance"):
        shutil.copytree(CHECKOUT / part, own / part, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copy(CHECKOUT / "dagster.yaml", own / "dagster.yaml")
    (own / "data_contracts" / "youth_justice").mkdir()
    (own / "data_contracts" / "youth_justice" / "outcomes.yaml").write_text(NEW_CONTRACT, encoding="utf-8")
    _new_dataset_file(result.truth, home / "landing" / "youth_justice" / "outcomes")
    register = yaml.safe_load((own / "governance" / "agreements.yaml").read_text(encoding="utf-8"))
    register["agreements"] += [  # ... and the agreement entries: nothing else
        _agreement("TEST-RETURNS-CS", "childrens_services", RETURNS["childrens_services"]),
        _agreement("TEST-RETURNS-EDU", "education", RETURNS["education"]),
        _agreement("TEST-YJS", "youth_justice", ["outcomes"]),
    ]
    (own / "governance" / "agreements.yaml").write_text(yaml.safe_dump(register), encoding="utf-8")
    before = os.environ.get(PROJECT_ENV)
    os.environ[PROJECT_ENV] = str(own)
    project_dir.cache_clear()
    try:
        outcome = run_refresh(home, instance=DagsterInstance.ephemeral())
        assert outcome.success, outcome.reason
        yield home, result, outcome
    finally:
        if before is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = before
        project_dir.cache_clear()


def _personal(home: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def _truth(result: GenerationResult, dataset: str) -> pd.DataFrame:
    return pd.read_parquet(result.truth / "statutory" / f"{dataset}.parquet")


def _held(home: Path, dataset: str, columns: list[str]) -> pd.DataFrame:
    """A dataset's records as they stand (superseded ones left out), typed values as text."""
    from sihub.validation.current import current_rows

    contract = next(c for c in load_contracts() if c.dataset == dataset)
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT {', '.join(columns)} FROM {current_rows(contract)} t").df()


def _as_text(frame: pd.DataFrame) -> list[tuple]:
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
            return ""
        if isinstance(v, pd.Timestamp | dt.datetime):
            return v.date().isoformat()
        return str(v).lower() if isinstance(v, bool) else str(v)

    return sorted(tuple(cell(v) for v in row) for row in frame.itertuples(index=False))


@pytest.mark.parametrize(
    "dataset",
    [d for d in RETURNS["childrens_services"] if not d.startswith("annex_a")] + RETURNS["education"],
)
def test_each_return_loads_every_record_as_the_generator_wrote_it(world, dataset: str) -> None:
    home, result, _ = world
    truth = _truth(result, dataset)
    quarantined = _personal(
        home, f"SELECT rule_id, count(*) AS n FROM quarantine WHERE dataset = '{dataset}' GROUP BY 1"
    )
    assert quarantined.empty, quarantined.to_dict("records")
    columns = list(truth.columns)
    held = _held(home, dataset, columns)
    assert len(held) == len(truth) > 0
    assert _as_text(held) == _as_text(truth)


def test_one_annex_a_workbook_feeds_a_dataset_per_list(world) -> None:
    home, result, _ = world
    deliveries = _personal(
        home, "SELECT dataset, status, rows_loaded FROM deliveries WHERE dataset LIKE 'annex_a_list_%' ORDER BY dataset"
    )
    assert sorted(deliveries["dataset"]) == sorted(f"annex_a_list_{n}" for n in range(1, 12))
    assert set(deliveries["status"]) == {"loaded"}  # the same file, never "identical to an earlier delivery"
    for n in range(1, 12):
        truth = _truth(result, f"annex_a_list_{n}")
        loaded = deliveries.set_index("dataset").loc[f"annex_a_list_{n}", "rows_loaded"]
        assert loaded == len(truth), n
    contacts = _truth(result, "annex_a_list_1")
    held = _held(home, "annex_a_list_1", ["child_ref", "sex", "ethnicity", "date_of_contact"])
    expected = pd.DataFrame(
        {
            "child_ref": contacts["Child Unique ID"],
            "sex": contacts["Gender"].str[3:4],  # "a) Male" -> M: recoded before validation
            "ethnicity": contacts["Ethnicity"].str[3:],  # "a) WBRI" -> WBRI
            "date_of_contact": pd.to_datetime(contacts["Date of Contact"], format="%d/%m/%Y").dt.date,
        }
    )
    assert _as_text(held) == _as_text(expected)


def test_every_record_type_of_one_cin_census_file_is_a_dataset(world) -> None:
    home, _, _ = world
    files = _personal(
        home,
        "SELECT dataset, count(DISTINCT file_name) AS files, count(*) FILTER (status = 'loaded') AS loaded "
        "FROM deliveries WHERE dataset LIKE 'cin_%' GROUP BY dataset",
    ).set_index("dataset")
    assert len(files) == 7 and set(files["files"]) == {5} and set(files["loaded"]) == {5}  # five census years


def test_a_metric_fed_from_the_cin_census_equals_the_same_metric_from_the_bespoke_extract(world, tmp_path) -> None:
    """Child protection plans open at each month's end, for the county and by category: from the
    bespoke extract, and from the CIN census standing in for it (the bespoke table emptied)."""
    home, _, _ = world
    metric = [m for m in load_catalogue(CHECKOUT / "sql") if m.id == "cp_plans_per_10k"]
    county = "SELECT period_id, breakdown, numerator FROM metric_values WHERE period_type = 'month' " + (
        "AND geography_code = (SELECT any_value(county_code) FROM ref_district) ORDER BY ALL"
    )
    values = {}
    for source in ("bespoke", "census"):
        copy = tmp_path / f"{source}.duckdb"
        shutil.copy(home / "warehouse" / "shared.duckdb", copy)
        with duckdb.connect(str(copy)) as con:
            if source == "census":
                con.execute("DELETE FROM childrens_services__cp_plans")
            outcome = compute(con, metric, feeds(load_contracts(CHECKOUT / "data_contracts")))
            values[source] = con.execute(county).fetchall()
            districts = con.execute(
                "SELECT bool_and(no_data) FROM metric_values WHERE geography_code <> "
                "(SELECT any_value(county_code) FROM ref_district)"
            ).fetchone()[0]
            assert districts == (source == "census")  # the census has no address: no district figure, never 0
        assert ("from childrens_services__cin_cp_plans" in str(outcome["cp_plans_per_10k"])) == (source == "census")
    assert len(values["bespoke"]) > 60 and sum(n for *_, n in values["bespoke"]) > 0
    assert values["census"] == values["bespoke"]


def test_a_dataset_never_seen_onboards_with_a_contract_and_an_agreement_entry(world) -> None:
    home, _, outcome = world
    summary = next(d for d in outcome.summary["datasets"] if d["partner"] == "youth_justice")
    assert (summary["rows_in"], summary["rows_loaded"], summary["rows_quarantined"]) == (30, 30, 0)
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        shared = con.execute("SELECT * FROM youth_justice__outcomes").df()
    assert len(shared) == 30 and shared["person_key"].notna().all()
    identifiers = {"young_person", "forename", "surname", "date_of_birth", "postcode"}
    assert not identifiers & set(shared.columns)  # they stay in the personal zone
    assert shared["outcome"].value_counts().to_dict() == {
        "Caution": 10, "Youth conditional caution": 10, "Referral order": 10
    }  # fmt: skip
    recoded = _personal(home, "SELECT value_sent, value_loaded, rows FROM recodings WHERE dataset = 'outcomes'")
    assert recoded.to_dict("records") == [
        {"value_sent": "YCC", "value_loaded": "Youth conditional caution", "rows": 10}
    ]
    page = home / "operations" / next(d for d in outcome.summary["datasets"] if d["dataset"] == "outcomes")["data_docs"]
    assert page.exists()


def test_returns_that_carry_only_the_councils_child_id_still_link(world) -> None:
    """SSDA903 episodes carry no NHS number, UPN or name: the council's own child ID keys
    them, and linkage joins them to the child's other records (the bespoke extracts carry the
    same ID beside names and NHS numbers)."""
    home, _, _ = world
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        unkeyed, unlinked, total = con.execute(
            "SELECT count(*) FILTER (e.person_key IS NULL), count(*) FILTER (l.person_key IS NULL), count(*) "
            "FROM childrens_services__ssda903_episodes e LEFT JOIN child_link l USING (person_key)"
        ).fetchone()
    assert total > 0 and unkeyed == 0 and unlinked == 0
