"""Partners' formats by contract alone, each case built here: XML returns read by record path,
one file feeding several datasets, recode maps, Excel error values and formulas with no saved
result, and the words Data Docs use for an identifier check."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import xlsxwriter

from sihub.core.contracts import Contract, load_contract
from sihub.intake import archive
from sihub.intake.readers import FileRejected, load_raw
from sihub.validation.conform import conform
from sihub.validation.data_docs import expectation
from sihub.validation.rules import row_rules

CONTRACTS = Path(__file__).resolve().parents[1] / "data_contracts"
CIN_PLANS = load_contract(CONTRACTS / "childrens_services" / "cin_cp_plans.yaml")
CIN_CHILDREN = load_contract(CONTRACTS / "childrens_services" / "cin_children.yaml")
CIN_S47 = load_contract(CONTRACTS / "childrens_services" / "cin_section_47.yaml")
CHILD = """<Child><ChildIdentifiers><LAchildID>{id}</LAchildID><PersonBirthDate>2015-03-27</PersonBirthDate>
  {sex}</ChildIdentifiers>
  <ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
  <CINdetails><CINreferralDate>2024-06-10</CINreferralDate><ReferralSource>2A</ReferralSource>
    <ReferralNFA>0</ReferralNFA>
    {plans}
  </CINdetails>
</Child>"""
PLAN = """<ChildProtectionPlans><CPPstartDate>{start}</CPPstartDate>
      <InitialCategoryOfAbuse>{cat}</InitialCategoryOfAbuse>
      <LatestCategoryOfAbuse>{cat}</LatestCategoryOfAbuse><NumberOfPreviousCPP>0</NumberOfPreviousCPP>
      <Reviews><CPPreviewDate>2024-09-01</CPPreviewDate><CPPreviewDate>2025-03-01</CPPreviewDate></Reviews>
    </ChildProtectionPlans>"""


def census(tmp_path: Path, children: list[str], root: str = "<Message>", name: str = "cin.xml") -> Path:
    header = (
        "<Header><CollectionDetails><Collection>CIN</Collection><Year>2025</Year>"
        "<ReferenceDate>2025-03-31</ReferenceDate></CollectionDetails></Header>"
    )
    path = tmp_path / name
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n{root}\n{header}\n<Children>\n'
        + "\n".join(children)
        + "\n</Children>\n</Message>\n",
        encoding="utf-8",
    )
    return path


def load(path: Path, contract: Contract):
    con = duckdb.connect()
    raw = load_raw(con, contract, path, "_raw")
    return raw, conform(con, contract, "_raw", "sha", path.name, "run"), con


def test_an_xml_return_loads_each_record_with_its_ancestors_values(tmp_path: Path) -> None:
    plans = PLAN.format(start="2024-07-08", cat="NEG") + PLAN.format(start="2025-01-02", cat="EMO")
    path = census(tmp_path, [CHILD.format(id="C1", sex="<Sex>F</Sex>", plans=plans)])
    raw, result, con = load(path, CIN_PLANS)
    assert (raw.rows, result.rows_loaded, result.rows_quarantined) == (2, 2, 0)
    rows = con.execute(
        "SELECT _line, la_child_id, CAST(plan_start AS VARCHAR), category, 0, cin_referral_date "
        "FROM childrens_services__cin_cp_plans ORDER BY _row"
    ).fetchall()
    starts = [i for i, line in enumerate(path.read_text().splitlines(), 1) if "<ChildProtectionPlans>" in line]
    assert [r[:5] for r in rows] == [
        (starts[0], "C1", "2024-07-08", "Neglect", 0),  # NEG recoded
        (starts[1], "C1", "2025-01-02", "Emotional abuse", 0),
    ]
    assert {str(r[5]) for r in rows} == {"2024-06-10"}  # read from the plan's parent
    reviews = load_contract(CONTRACTS / "childrens_services" / "cin_cp_reviews.yaml")
    raw, result, con = load(path, reviews)  # each review date a record, its plan and child four steps up
    got = con.execute(
        "SELECT la_child_id, CAST(plan_start AS VARCHAR), CAST(review_date AS VARCHAR) "
        "FROM childrens_services__cin_cp_reviews ORDER BY _row"
    ).fetchall()
    assert got == [
        ("C1", "2024-07-08", "2024-09-01"),
        ("C1", "2024-07-08", "2025-03-01"),
        ("C1", "2025-01-02", "2024-09-01"),
        ("C1", "2025-01-02", "2025-03-01"),
    ]


def test_a_namespaced_return_with_the_older_gender_element_loads(tmp_path: Path) -> None:
    """Tags match by local name; `GenderCurrent` (to 2023-24) is an alias of `Sex`, its codes recoded."""
    children = [
        CHILD.format(id=f"C{i}", sex=f"<GenderCurrent>{g}</GenderCurrent>", plans="") for i, g in enumerate("120")
    ]
    path = census(tmp_path, children, root='<Message xmlns="http://www.dfe.gov.uk/CIN">')
    raw, result, con = load(path, CIN_CHILDREN)
    assert (raw.rows, result.rows_loaded) == (3, 3)
    got = con.execute("SELECT sex, CAST(reference_date AS VARCHAR) FROM childrens_services__cin_children ORDER BY _row")
    assert got.fetchall() == [("M", "2025-03-31"), ("F", "2025-03-31"), ("U", "2025-03-31")]


def test_a_record_type_the_return_does_not_hold_loads_no_rows_without_error(tmp_path: Path) -> None:
    path = census(tmp_path, [CHILD.format(id="C1", sex="<Sex>M</Sex>", plans="")])
    raw, result, _ = load(path, CIN_S47)
    assert (raw.rows, raw.missing, result.rows_in) == (0, [], 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY a "aaaa">]>\n<Message>&a;</Message>', "document type"),
        ("<Message>\n<Children>\n<Child></Children>\n</Message>", "not well-formed XML at line 3, column 10"),
        ("<Return><Pupils/></Return>", "no element at Children/Child/CINdetails/ChildProtectionPlans"),
    ],
)
def test_a_bad_xml_file_is_refused_with_a_reason_and_no_value(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cin.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileRejected, match=message):
        load_raw(duckdb.connect(), CIN_PLANS, path, "_raw")


def _sheets(path: Path, header_rows: int = 1) -> Path:
    """A workbook like Annex A: a list per sheet, some answers Excel errors, some lookups
    saved without their result."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("List 3")
    ws.write_row(0, 0, ["Child Unique ID", "Gender", "Date of referral", "Referral NFA?"])
    ws.write_row(1, 0, ["C1", "b) Female", "10/06/2024", "a) Yes"])
    ws.write_row(2, 0, ["C2", "Female", "11/06/2024", "b) No"])
    ws.write_row(3, 0, ["C3", "a) Male", "12/06/2024"])
    ws.write_formula(3, 3, "=VLOOKUP(A4,Z:Z,1,0)", None, "#N/A")  # an error Excel shows as #N/A
    ws.write_row(4, 0, ["C4", "Male"])
    ws.write_formula(4, 2, "=TODAY()", None, "")  # a formula saved with no result
    ws = wb.add_worksheet("List 7")
    ws.write_row(0, 0, ["Child Unique ID", "Gender", "Child Protection Plan Start Date"])
    ws.write_row(1, 0, ["C1", "b) Female", "01/07/2024"])
    wb.close()
    return path


def test_recode_and_excel_errors_in_an_annex_a_list(tmp_path: Path) -> None:
    contract = load_contract(CONTRACTS / "childrens_services" / "annex_a_list_3.yaml")
    raw, result, con = load(_sheets(tmp_path / "annex_a.xlsx"), contract)
    assert (raw.rows, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    loaded = con.execute("SELECT child_ref, sex, referral_nfa FROM childrens_services__annex_a_list_3 ORDER BY _row")
    assert loaded.fetchall() == [("C1", "F", True), ("C2", "F", False)]  # both spellings of Female are F
    reasons = con.execute("SELECT source_row, rule_id, reason FROM quarantine ORDER BY source_row").fetchall()
    assert [(r, rule) for r, rule, _ in reasons] == [
        (3, "excel_error:referral_nfa"),
        (4, "excel_error:date_of_referral"),
    ]
    assert all("Excel error value" in reason for *_, reason in reasons)  # never a silent blank
    recoded = con.execute("SELECT value_sent, value_loaded, rows FROM recodings ORDER BY ALL").fetchall()
    assert recoded == [
        ("Female", "F", 1), ("Male", "M", 1), ("a) Male", "M", 1), ("a) Yes", "yes", 1), ("b) Female", "F", 1),
        ("b) No", "no", 1),
    ]  # fmt: skip


def test_one_workbook_feeds_two_datasets_and_duplicates_are_judged_per_dataset(tmp_path: Path) -> None:
    """Annex A dropped once in its shared folder feeds List 3 and List 7; the same bytes
    copied into another dataset's own folder are that dataset's delivery, not a duplicate;
    sent again under another name, they are a duplicate of the dataset's own."""
    lists = [load_contract(CONTRACTS / "childrens_services" / f"annex_a_list_{n}.yaml") for n in (3, 7)]
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    book = _sheets((landing / "childrens_services" / "annex_a").mkdir(parents=True) or (
        landing / "childrens_services" / "annex_a" / "annex_a.xlsx"))  # fmt: skip
    own = lists[0].model_copy(update={"dataset": "referrals_copy", "source": lists[0].source.model_copy(
        update={"folder": None})})  # fmt: skip
    (landing / "childrens_services" / "referrals_copy").mkdir()
    (landing / "childrens_services" / "referrals_copy" / "annex_a.xlsx").write_bytes(book.read_bytes())
    con = duckdb.connect()
    seen = {c.dataset: archive.archive(con, c, landing, raw, "run-1") for c in [*lists, own]}
    assert {d: [s.status for s in sightings] for d, sightings in seen.items()} == {
        "annex_a_list_3": ["archived"], "annex_a_list_7": ["archived"], "referrals_copy": ["archived"]
    }  # fmt: skip
    assert len({s[0].sha256 for s in seen.values()}) == 3  # three deliveries, one file's bytes
    (landing / "childrens_services" / "annex_a" / "annex_a_resent.xlsx").write_bytes(book.read_bytes())
    again = archive.archive(con, lists[0], landing, raw, "run-2")
    assert [(s.status, s.sha256) for s in again] == [("duplicate", seen["annex_a_list_3"][0].sha256)]
    contents = con.execute("SELECT DISTINCT content_sha256 FROM archive_manifest").fetchall()
    assert len(contents) == 1


def test_data_docs_state_an_identifier_check_in_its_own_words() -> None:
    """A UPN with a wrong check letter matches any regex of a UPN's shape: the page must say
    which check failed, not call it a regex failure."""
    rule = next(r for r in row_rules(CIN_PLANS) if r.kind == "upn")
    stated = expectation(CIN_PLANS, rule)
    assert type(stated).__name__ == "UnexpectedRowsExpectation"
    assert "check letter" in stated.description and "regex" not in stated.description.lower()


def _annex_a_like(path: Path, sheets: dict[str, list[list[str]]]) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            ws.write_row(r, 0, row)
    wb.close()
    return path


CONTACTS = ["Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)", "Date of Contact",
            "Contact Source"]  # fmt: skip


def test_a_list_is_found_by_a_longer_sheet_name_and_its_header_under_title_rows(tmp_path: Path) -> None:
    contract = load_contract(CONTRACTS / "childrens_services" / "annex_a_list_1.yaml")
    row = ["C1", "b) Female", "a) WBRI", "02/03/2015", "9", "01/02/2025", "q) 6: Police"]
    book = _annex_a_like(
        tmp_path / "annex.xlsx",
        {
            "Guidance": [["Read me first"]],
            "List 10 - Adoption": [["Child Unique ID", "Family identifier"], ["A1", "F1"]],
            "List 1 - Contacts": [["Annex A, List 1: contacts"], ["Inspection April 2025"], [], CONTACTS, row, row],
        },
    )
    raw, result, con = load(book, contract)
    assert (raw.rows, raw.missing, result.rows_loaded) == (2, [], 2)  # two like contacts: warned, both kept
    assert con.execute("SELECT DISTINCT _line, child_ref, sex FROM childrens_services__annex_a_list_1").fetchall() in (
        [(5, "C1", "F"), (6, "C1", "F")], [(6, "C1", "F"), (5, "C1", "F")]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sheets", "message"),
    [
        ({"List 10": [CONTACTS]}, "no sheet named like 'List 1'"),
        ({"List 1 a": [CONTACTS], "List 1 b": [CONTACTS]}, "2 sheets named like 'List 1'"),
        ({"List 1": [["Title"], ["Gender", "Date of Contact"]]}, "no header row found in the first 2 rows"),
    ],
)
def test_a_list_that_cannot_be_found_is_refused_saying_why(tmp_path: Path, sheets, message: str) -> None:
    contract = load_contract(CONTRACTS / "childrens_services" / "annex_a_list_1.yaml")
    with pytest.raises(FileRejected, match=message):
        load_raw(duckdb.connect(), contract, _annex_a_like(tmp_path / "annex.xlsx", sheets), "_raw")


def test_a_csv_header_is_found_under_title_lines_and_file_patterns_ignore_case(tmp_path: Path) -> None:
    episodes = load_contract(CONTRACTS / "childrens_services" / "ssda903_episodes.yaml")
    auto = episodes.model_copy(update={"source": episodes.source.model_copy(update={"header_row": "auto"})})
    folder = tmp_path / "childrens_services" / "ssda903"
    folder.mkdir(parents=True)
    path = folder / "SSDA903_Episodes.CSV"
    path.write_text(
        "SSDA903 2024-25\r\nEpisodes table\r\n"
        "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"
        "538333,21/07/2016,S,C2,N2,U6,PR1,24/04/2017,X1,CARPL,NR2 4AB,,1148477\n",
        encoding="utf-8",
    )
    assert archive.landing_files(tmp_path, episodes) == [path]
    raw, result, con = load(path, auto)
    assert (raw.rows, result.rows_loaded) == (1, 1)
    got = con.execute("SELECT _line, child_ref, legal_status FROM childrens_services__ssda903_episodes")
    assert got.fetchall() == [(4, "538333", "C2")]


def test_a_hidden_sheet_of_the_same_name_is_never_read_and_two_candidates_are_refused(tmp_path: Path) -> None:
    contract = load_contract(CONTRACTS / "childrens_services" / "annex_a_list_1.yaml")
    row = ["FRESH1", "b) Female", "a) WBRI", "02/03/2015", "9", "01/02/2025", "q) 6: Police"]
    path = tmp_path / "annex.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    stale = wb.add_worksheet("List 1")
    for r, values in enumerate([CONTACTS, ["STALE1", *row[1:]]]):
        stale.write_row(r, 0, values)
    stale.hide()
    fresh = wb.add_worksheet("List 1 - Contacts")
    for r, values in enumerate([CONTACTS, row]):
        fresh.write_row(r, 0, values)
    fresh.activate()
    wb.close()
    _, _, con = load(path, contract)
    assert con.execute("SELECT child_ref FROM childrens_services__annex_a_list_1").fetchall() == [("FRESH1",)]
    copied = _annex_a_like(tmp_path / "copied.xlsx", {"List 1 - Contacts": [CONTACTS, row], "List 1 (2)": [CONTACTS]})
    with pytest.raises(FileRejected, match="2 sheets named like 'List 1'"):
        load_raw(duckdb.connect(), contract, copied, "_raw")


@pytest.mark.parametrize(
    ("postcode", "district"),
    [("NR2 4AB", "NR2"), ("nr24ab", "NR2"), ("NR1 3", "NR1"), (" PE37  9NX ", "PE37"), ("NR2\t4AB", "NR2"), ("", None)],
)
def test_a_postcode_or_its_sector_gives_its_district(postcode: str, district: str | None) -> None:
    from sihub.privacy.generalise import outward_code_sql

    assert duckdb.connect().execute(f"SELECT {outward_code_sql('$p')}", {"p": postcode}).fetchall() == [(district,)]
