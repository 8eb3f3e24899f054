"""Identifiers typed inside a shared text column never reach the shared store or an output.

A partner's non-personal column (`Contact Source`) carries sentences holding a child's NHS
number (spaced, hyphenated, run on after a colon), postcode, e-mail, phone, UPN, PNC
reference, name and date of birth. The identifiers planted come from the generator's truth;
the checks look for them with plain string searches of their own."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.refresh import run_refresh
from sihub.synthetic.catalogue import CATALOGUE
from tests.extracts import read_rows

POSTCODE = "NR1 3QU"


def _sentences(child: pd.Series) -> list[str]:
    nhs = child["nhs_number"].replace(" ", "")
    spaced, hyphened = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}", f"{nhs[:3]}-{nhs[3:6]}-{nhs[6:]}"
    dob = pd.Timestamp(child["dob"]).strftime("%d/%m/%Y")
    return [
        f"Called by mum re NHS {spaced}",
        f"NHS:{nhs}",
        hyphened,
        f"lives at {POSTCODE}",
        f"spoke to {child['forename'].lower()} {child['surname'].upper()} at school",
        f"{child['surname']}, {child['forename']} DOB {dob}",
        "parent e-mail jo.bloggs@example.org",
        "rang 07700 900123 twice",
        f"pupil {child['upn']}",
        "PNC 12/345678U",  # U: the Modulus 23 check letter of 12/345678
    ]


@pytest.fixture(scope="module")
def planted(first_run, home: Path, small, tmp_path_factory: pytest.TempPathFactory):
    copy = tmp_path_factory.mktemp("text") / "home"
    shutil.copytree(home, copy, symlinks=True)
    children = pd.read_parquet(small.truth / "children.parquet")
    child = children[children["upn"].notna() & children["nhs_number"].notna()].iloc[0]
    sentences = _sentences(child)
    spec = next(s for s in CATALOGUE if s.dataset == "contacts")
    folder = copy / "landing" / "childrens_services" / "contacts"
    source = sorted(folder.glob("*.csv"))[-1]
    header, rows = read_rows(spec, source)
    column = header.index("Contact Source")
    for row, sentence in zip(rows, sentences, strict=False):
        row[column] = sentence
    with (folder / "contacts_corrected.csv").open("w", encoding=spec.style.encoding, newline="") as f:
        csv.writer(f).writerows([header, *rows])
    outcome = run_refresh(copy)
    assert outcome.success, outcome.reason
    nhs = child["nhs_number"].replace(" ", "")
    dob = pd.Timestamp(child["dob"]).strftime("%d/%m/%Y")
    secrets = [nhs, POSTCODE, POSTCODE.replace(" ", ""), child["upn"], child["surname"].upper(),
               "jo.bloggs@example.org", "07700 900123", "12/345678U", dob]  # fmt: skip
    return copy, secrets, len(sentences)


def _texts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    out = []
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE data_type = 'VARCHAR' AND NOT internal"
    ).fetchall():
        query = f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
        for (value,) in con.execute(query).fetchall():
            if not re.fullmatch(r"[0-9a-f]{64}", value):  # pseudonymous keys
                out.append((table, column, value))
    return out


def test_no_planted_identifier_lands_in_the_shared_store(planted) -> None:
    home, secrets, planted_rows = planted
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        texts = _texts(con)
        marked = con.execute(
            "SELECT count(*) FROM childrens_services__contacts WHERE contact_source LIKE '%[%]%'"
        ).fetchone()[0]
    for table, column, value in texts:
        digits = re.sub(r"[^0-9]", "", value)
        assert secrets[0] not in digits, (table, column)
        for secret in secrets[1:]:
            assert secret.upper() not in value.upper(), (table, column, secret)
    assert marked == planted_rows  # each row is kept, its identifier replaced by a marker


def test_no_planted_identifier_reaches_a_published_output(planted) -> None:
    home, secrets, _ = planted
    for path in (home / "published").rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, (path.name, secret)


def test_the_finding_names_column_and_rule_never_the_value(planted) -> None:
    home, secrets, _ = planted
    from pipelines.instance import hub_instance

    instance = hub_instance(home)
    records = [r for r in instance.all_logs(instance.get_runs(limit=1)[0].run_id) if r.user_message]
    found = [r.user_message for r in records if "replaced by a marker" in r.user_message]
    assert any("contact_source: nhs_number" in m for m in found), found
    assert any("forename and surname" in m for m in found), found
    for message in (r.user_message for r in records):
        assert not any(s in message for s in secrets), message


def _store(mode: str):
    from sihub.core.contracts import Contract
    from sihub.intake import archive

    contract = Contract.model_validate({
        "partner": "health", "dataset": "notes", "title": "Notes", "source": {"format": "csv"},
        "checks": {"embedded_identifiers": mode},
        "columns": {
            "forename": {"source": "F", "classification": "direct_identifier", "identifier": "forename"},
            "surname": {"source": "S", "classification": "direct_identifier", "identifier": "surname"},
            "remark": {"source": "R", "classification": "non_personal"},
        },
    })  # fmt: skip
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS personal")
    con.execute("USE personal")
    archive.ensure_tables(con)
    con.execute("USE memory")
    con.execute(
        "CREATE TABLE personal.health__notes AS SELECT 'f' AS _source_sha256, 'n.csv' AS _source_file, "
        "row_number() OVER () AS _row, * FROM (VALUES ('Ann', 'Lee', 'Self-harm'), "
        "('Bob', 'Ray', 'seen with ann LEE, NHS no. 943.476.5919')) v(forename, surname, remark)"
    )
    return con, contract


def test_a_contract_that_blocks_keeps_the_dataset_out_of_the_store() -> None:
    from sihub.privacy.text_guard import known_names_table
    from sihub.sharing.split import IdentifiersInText, build_shared_table

    con, contract = _store("block")
    names = known_names_table(con, "personal", [contract])
    with pytest.raises(IdentifiersInText) as blocked:
        build_shared_table(con, contract, "personal", _key(), names)
    assert "health__notes.remark: nhs_number in 1 row(s)" in str(blocked.value)
    assert "forename and surname" in str(blocked.value) and "943" not in str(blocked.value)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'health__notes' "
                       "AND database_name = 'memory'").fetchone()[0] == 0  # fmt: skip


def test_a_contract_that_scrubs_shares_the_row_with_markers() -> None:
    from sihub.privacy.text_guard import known_names_table
    from sihub.sharing.split import build_shared_table

    con, contract = _store("scrub")
    shared = build_shared_table(con, contract, "personal", _key(), known_names_table(con, "personal", [contract]))
    rows = sorted(r[0] for r in con.execute("SELECT remark FROM health__notes").fetchall())
    assert rows == ["Self-harm", "seen with [NAME], NHS no. [NHS NUMBER]"]
    assert {f.kind for f in shared.findings} == {"nhs_number", "forename and surname"}


def test_names_saved_by_one_run_guard_that_run_only_and_a_child_delivered_since_is_still_found() -> None:
    """The names are saved once per refresh for its governed steps; a step run later on its own
    (a partial materialisation after a new delivery) must not guard with the old list."""
    from sihub.privacy.text_guard import known_names, save_known_names
    from sihub.sharing.split import build_shared_table

    con, contract = _store("scrub")
    con.execute("USE personal")
    assert save_known_names(con, [contract], "run-1")["name"] == 4  # Ann Lee, Lee Ann, Bob Ray, Ray Bob
    con.execute("USE memory")
    con.execute(
        "INSERT INTO personal.health__notes VALUES ('g', 'm.csv', 3, 'Cy', 'Moor', 'Self-harm'), "
        "('g', 'm.csv', 4, 'Di', 'Fox', 'met Cy Moor at the clinic')"
    )
    saved = known_names(con, "personal", [contract], "run-1")
    assert con.execute(f"SELECT count(*) FROM {saved} WHERE value = 'CY MOOR'").fetchone()[0] == 0
    later = known_names(con, "personal", [contract], "run-2")
    build_shared_table(con, contract, "personal", _key(), later)
    rows = sorted(r[0] for r in con.execute("SELECT remark FROM health__notes").fetchall())
    assert "met [NAME] at the clinic" in rows and not any("Moor" in r for r in rows), rows


def _key():
    from sihub.privacy.keys import PseudonymKey

    return PseudonymKey(b"a test key of enough variety 0123456789")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ring 01603 222333 or +44 7700 900123", "ring [PHONE] or [PHONE]"),
        ("NHS9434765919.", "NHS[NHS NUMBER]."),
        ("9434765919,9434765919", "[NHS NUMBER],[NHS NUMBER]"),
        ("ref 9434765919/2", "ref [NHS NUMBER]/2"),
        ("case 1234567890", None),  # fails Modulus 11: not an NHS number
        ("Physical abuse", None),
        ("on 2024-01-15 at 10:30", None),  # a date with no name or birth word beside it stays
        ("born 3rd March 2015", "born [DOB]"),
        ("Zoë O'Brien and ZOE O'BRIEN", "[NAME] and [NAME]"),
        ("postcode nr13qu", "postcode [POSTCODE]"),
    ],
)
def test_the_guard_finds_identifiers_in_any_spelling(text: str, expected: str | None) -> None:
    from sihub.privacy.text_guard import guard_values

    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE names AS SELECT 'name' AS kind, unnest(['ZOE OBRIEN', 'OBRIEN ZOE']) AS value")
    guard_values(
        con, "SELECT 'c' AS c, ?::VARCHAR AS v".replace("?", "'" + text.replace("'", "''") + "'"), "names", "g"
    )
    out = con.execute("SELECT guarded FROM g").fetchall()
    assert (out[0][0] if out else None) == expected


ATTACKS = [
    "917–962–2410", "917\u00a0962\u00a02410", "917\t962\t2410", "917,962,2410", "(917) 962 2410", "917_962_2410",
    "917 -- 962 -- 2410", "９１７９６２２４１０", "9\u200b179622410", "UPNE926200213004", "E926 2002 1300 4",
    "E926-200-213-004", "NR30  5FY", "NR30-5FY", "NR30\u00a05FY", "(07700) 900123", "07700.900.123",
    "0044 7700 900123", "07700  900123", "+44 (0) 7700 900123", "Kelly Harrison's mum", "Kelly Ann Harrison",
    "Kelly-Harrison", "Katherine O’Brien", "Katherine OBrien", "K\u0435lly Harrison", "HARRISON, Kelly",
    "DOB 2009/07/09", "DOB 09072009", "born July 9, 2009", "born 9th of July 2009", "PNC 2009/0123456 C",
    "x @ example.com", "ref LCS1001289", "Child LCS-1001289", "Police LCS 1001289", "Abigail Ev\u03b1ns",
    "\uff2d\uff41\uff52\uff49\uff45 \uff33\uff41\uff55\uff4e\uff44\uff45\uff52\uff53", "Kelly Anne Marie Harrison",
]  # fmt: skip


@pytest.mark.parametrize("text", ATTACKS)
def test_the_guard_sees_through_separators_look_alikes_and_word_order(text: str) -> None:
    """Ways found to write an identifier past a plain pattern: what is left holds no run of
    four digits, no known name and no reference."""
    from sihub.privacy.text_guard import guard_values

    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE known AS SELECT * FROM (VALUES ('name', 'KELLY HARRISON'), ('name', 'HARRISON KELLY'), "
        "('name', 'KATHERINE OBRIEN'), ('name', 'OBRIEN KATHERINE'), ('ref', 'LCS1001289'), "
        "('name', 'ABIGAIL EVANS'), ('name', 'MARIE SAUNDERS')) t(kind, value)"
    )
    con.execute("CREATE TABLE t AS SELECT 'c' AS c, ?::VARCHAR AS v", [text])
    guard_values(con, "SELECT c, v FROM t", "known", "g")
    (out,) = con.execute("SELECT guarded FROM g").fetchone()
    plain = re.sub(r"[^0-9A-Za-z]", "", out.translate(str.maketrans("０１２３４５６７８９", "0123456789")))
    assert not re.search(r"[0-9]{4}", plain), out
    assert not re.search(r"harrison|brien|lcs|example|evans|saunders", plain, re.IGNORECASE), out


@pytest.mark.parametrize(
    "text",
    ["seen 03/04/2025 943 476 5919", "2025 943 476 5919", "School nurse 2025 9434765919", "NHS \u0669\u0664\u0663\u0664"
     "\u0667\u0666\u0665\u0669\u0661\u0669", "NHS \U0001d7d7\U0001d7d2\U0001d7d1\U0001d7d2\U0001d7d5\U0001d7d4"
     "\U0001d7d3\U0001d7d7\U0001d7cf\U0001d7d7"],
)  # fmt: skip
def test_an_nhs_number_after_other_numbers_or_in_other_digits_is_found(text: str) -> None:
    from sihub.privacy.text_guard import guard_values

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'c' AS c, ?::VARCHAR AS v", [text])
    guard_values(con, "SELECT c, v FROM t", None, "g")
    (out,) = con.execute("SELECT guarded FROM g").fetchone()
    assert "[NHS NUMBER]" in out and "943" not in out and "5919" not in out


@pytest.mark.parametrize("text", ["24/7 A&E", "Seen 01/2025 a.m.", "Queen Elizabeth Hospital King's Lynn"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    from sihub.privacy.text_guard import guard_values

    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE known AS SELECT * FROM (VALUES ('name', 'ELIZABETH KING')) t(kind, value)")
    con.execute("CREATE TABLE t AS SELECT 'c' AS c, ?::VARCHAR AS v", [text])
    guard_values(con, "SELECT c, v FROM t", "known", "g")
    assert con.execute("SELECT count(*) FROM g").fetchone()[0] == 0


def test_subject_access_finds_a_record_that_names_the_child_only_in_its_text(planted) -> None:
    """The planted contact rows carry another child's reference in their identifier columns
    but this child's NHS number in the text: subject access for this child shows them."""
    from governance.subject_access import Person, search
    from sihub.core.contracts import load_contracts

    home, secrets, _ = planted
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        found = search(con, load_contracts(), Person(nhs_number=secrets[0]))
    written = found.records["childrens_services/contacts"]
    in_text = written[written["found_by"] == "an identifier in its text: review"]
    assert len(in_text) >= 3  # the three sentences holding the NHS number
