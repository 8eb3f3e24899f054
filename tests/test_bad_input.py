"""Bad input, each case generated here: a clear message naming file, row and rule, the rest
of the file (and run) going on, and no row lost (rows in = loaded + quarantined)."""

import codecs
from pathlib import Path

import duckdb
import openpyxl
import pytest

from sihub.core.contracts import Column, Contract
from sihub.intake.readers import FileRejected, RawFile, load_raw
from sihub.validation.conform import Conformed, conform

CONTRACT = Contract.model_validate(
    {
        "partner": "police",
        "dataset": "stops",
        "title": "Stops",
        "source": {"format": "csv", "encoding": "utf-8"},
        "event_date": "seen_on",
        "date_formats": ["%d/%m/%Y", "%Y-%m-%d"],
        "unique_key": ["ref"],
        "columns": {
            "ref": {"source": "Ref", "required": True, "classification": "quasi_identifier"},
            "forename": {"source": "Forename", "classification": "direct_identifier", "identifier": "forename"},
            "dob": {
                "source": "DOB",
                "type": "date",
                "classification": "direct_identifier",
                "identifier": "date_of_birth",
            },
            "seen_on": {"source": "Seen On", "type": "date", "required": True, "classification": "non_personal"},
            "code": {"source": "Code", "allowed": ["A", "B"], "classification": "non_personal"},
            "notes": {"source": "Notes", "classification": "non_personal"},
        },
    }
)
HEADER = "Ref,Forename,DOB,Seen On,Code,Notes"


def ingest(path: Path, contract: Contract = CONTRACT) -> tuple[RawFile, Conformed, duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    raw = load_raw(con, contract, path, "_raw")
    return raw, conform(con, contract, "_raw", "sha", path.name, "run"), con


def quarantined(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT source_row, source_line, rule_id FROM quarantine ORDER BY source_row").fetchall()


def write(tmp_path: Path, text: str, name: str = "stops.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_empty_file_is_rejected_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"^empty file: no header row$"):
        ingest(write(tmp_path, ""))


def test_header_only_loads_nothing_and_loses_nothing(tmp_path: Path) -> None:
    _, result, _ = ingest(write(tmp_path, HEADER + "\n"))
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (0, 0, 0)


def test_binary_garbage_named_csv_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "stops.csv"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(FileRejected, match="binary"):
        ingest(path)


def test_windows_1252_names_survive_intact(tmp_path: Path) -> None:
    contract = CONTRACT.model_copy(update={"source": CONTRACT.source.model_copy(update={"encoding": "cp1252"})})
    text = f"{HEADER}\r\nR1,Zoë,01/02/2015,03/04/2024,A,O’Brien’s\r\nR2,Seán,01/02/2015,03/04/2024,B,\r\n"
    path = write(tmp_path, text, encoding="cp1252")
    _, result, con = ingest(path, contract)
    assert result.rows_loaded == 2
    names = con.execute('SELECT forename, notes FROM "police__stops" ORDER BY _row').fetchall()
    assert names == [("Zoë", "O’Brien’s"), ("Seán", None)]


def test_a_utf8_file_under_a_cp1252_contract_keeps_its_names_whole(tmp_path: Path) -> None:
    """No byte-order mark, yet UTF-8: read as cp1252 it would load `ZoÃ«`, unseen."""
    cp1252 = CONTRACT.model_copy(update={"source": CONTRACT.source.model_copy(update={"encoding": "cp1252"})})
    _, result, con = ingest(write(tmp_path, f"{HEADER}\nR1,Zoë,01/02/2015,03/04/2024,A,O’Brien’s\n"), cp1252)
    assert result.rows_loaded == 1
    assert con.execute('SELECT forename, notes FROM "police__stops"').fetchall() == [("Zoë", "O’Brien’s")]
    _, _, con = ingest(write(tmp_path, f"{HEADER}\nR1,Zoë,01/02/2015,03/04/2024,A,\n", encoding="cp1252"), cp1252)
    assert con.execute('SELECT forename FROM "police__stops"').fetchall() == [("Zoë",)]  # real cp1252 as before


def test_a_semicolon_file_under_a_comma_contract_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"is the delimiter ',' right\?"):
        ingest(write(tmp_path, HEADER.replace(",", ";") + "\nR1;Ann;01/02/2015;03/04/2024;A;\n"))


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "stops.csv"
    path.write_bytes(codecs.BOM_UTF8 + f"{HEADER}\r\nR1,Ann,01/02/2015,03/04/2024,A,\r\n".encode())
    raw, result, _ = ingest(path)
    assert result.rows_loaded == 1 and raw.missing == [] and raw.unexpected == []


CP1252 = CONTRACT.model_copy(update={"source": CONTRACT.source.model_copy(update={"encoding": "cp1252"})})
ROWS = "R1,Zoë,01/02/2015,03/04/2024,A,\r\nR2,Seán,01/02/2015,03/04/2024,B,O’Brien\r\n"


def test_a_byte_order_mark_is_honoured_whatever_encoding_the_contract_names(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" export of a dataset whose contract says cp1252."""
    path = tmp_path / "stops.csv"
    path.write_bytes(codecs.BOM_UTF8 + f"{HEADER}\r\n{ROWS}".encode())
    raw, result, con = ingest(path, CP1252)
    assert (result.rows_loaded, raw.missing, raw.unexpected) == (2, [], [])
    names = con.execute('SELECT forename, notes FROM "police__stops" ORDER BY _row').fetchall()
    assert names == [("Zoë", None), ("Seán", "O’Brien")]


def test_a_utf16_file_with_its_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "stops.csv"
    path.write_bytes(f"{HEADER}\r\n{ROWS}".encode("utf-16"))  # Python writes the mark first
    _, result, con = ingest(path, CP1252)
    assert result.rows_loaded == 2
    assert con.execute('SELECT list(forename ORDER BY _row) FROM "police__stops"').fetchone()[0] == ["Zoë", "Seán"]


@pytest.mark.parametrize("contract", [CONTRACT, CP1252], ids=["utf-8", "cp1252"])
def test_title_rows_with_other_line_endings_than_the_body_load_every_row(tmp_path: Path, contract) -> None:
    titled = contract.model_copy(update={"source": contract.source.model_copy(update={"header_row": 3})})
    text = f"Stops return\r\nMade 2024-04-05\r\n{HEADER}\n" + ROWS.replace("\r\n", "\n")
    path = write(tmp_path, text, encoding=contract.source.encoding)
    raw, result, con = ingest(path, titled)
    assert (result.rows_in, result.rows_loaded, raw.missing) == (2, 2, [])
    assert con.execute('SELECT list(_line ORDER BY _row) FROM "police__stops"').fetchone()[0] == [4, 5]


def test_a_stray_line_ending_at_the_end_of_a_crlf_file_is_harmless(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}\r\n{ROWS}\n")
    _, result, _ = ingest(path)
    assert result.rows_loaded == 2


def test_missing_mandatory_column_rejects_the_file_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"^missing required column\(s\): Seen On$"):
        ingest(write(tmp_path, "Ref,Forename,DOB,Code,Notes\nR1,Ann,01/02/2015,A,\n"))


def test_unexpected_extra_column_is_loaded_and_reported(tmp_path: Path) -> None:
    raw, result, _ = ingest(write(tmp_path, f"{HEADER},Shoe Size\nR1,Ann,01/02/2015,03/04/2024,A,,9\n"))
    assert result.rows_loaded == 1 and raw.unexpected == ["Shoe Size"]


def test_a_header_row_set_wrong_never_reports_cells_as_column_names(tmp_path: Path) -> None:
    """With the header one line too high, a title line is read as the header and the real
    header row as data: what is "unexpected" is withheld, counted only (it could be a row of
    a child's details)."""
    wrong = CONTRACT.model_copy(update={"columns": {k: c.model_copy(update={"required": False})
                                                    for k, c in CONTRACT.columns.items()}})  # fmt: skip
    text = f"Stops, Ann Smith 01/02/2015\n{HEADER}\nR1,Ann,01/02/2015,03/04/2024,A,\n"
    raw, *_ = ingest(write(tmp_path, text), wrong)
    assert raw.unexpected == ["2 column(s), names withheld: the header row does not match the contract's"]
    assert "Ann" not in str(raw)


def test_truncated_last_line_with_open_quote_is_quarantined_by_line(tmp_path: Path) -> None:
    text = f'{HEADER}\nR1,Ann,01/02/2015,03/04/2024,A,\nR2,Bob,01/02/2015,03/04/2024,B,"unfinished\n'
    _, result, con = ingest(write(tmp_path, text))
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    assert quarantined(con) == [(2, 3, "unreadable_row")]


def test_ragged_lines_do_not_shift_the_row_numbers_of_the_rest(tmp_path: Path) -> None:
    rows = [
        "R1,Ann,01/02/2015,03/04/2024,A,",
        "R2,too,many,01/02/2015,03/04/2024,A,x",
        "R3,Cy,31/02/2015,03/04/2024,A,",
    ]
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    _, result, con = ingest(write(tmp_path, text))
    assert (result.rows_in, result.rows_loaded) == (3, 1)
    assert quarantined(con) == [(2, 3, "unreadable_row"), (3, 4, "type:dob")]


def test_mixed_date_formats_listed_in_the_contract_all_type(tmp_path: Path) -> None:
    text = f"{HEADER}\nR1,Ann,01/02/2015,03/04/2024,A,\nR2,Bob,2015-02-01,2024-04-03,A,\n"
    _, result, con = ingest(write(tmp_path, text))
    assert result.rows_loaded == 2
    assert len(set(con.execute('SELECT dob, seen_on FROM "police__stops"').fetchall())) == 1


def test_impossible_dates_future_births_and_duplicates_are_quarantined_by_rule(tmp_path: Path) -> None:
    rows = [
        "R1,Ann,01/02/2015,31/02/2024,A,",  # 31 February
        "R2,Bob,01/02/2030,03/04/2024,A,",  # born after the event
        "R3,Cy,01/02/2015,03/04/2024,C,",  # code outside the allowed values
        "R4,Di,01/02/2015,03/04/2024,A,",
        "R4,Di,01/02/2015,03/04/2024,A,",  # exact duplicate
        ",Ed,01/02/2015,03/04/2024,A,",  # blank required key
    ]
    _, result, con = ingest(write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n"))
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (6, 1, 5)
    assert quarantined(con) == [
        (1, 2, "type:seen_on"),
        (2, 3, "dob_not_after_event:dob"),
        (3, 4, "allowed:code"),
        (5, 6, "duplicate_row"),
        (6, 7, "required:ref"),
    ]
    reasons = " ".join(r[0] for r in con.execute("SELECT reason FROM quarantine").fetchall())
    assert "Bob" not in reasons and "2030" not in reasons  # rules and columns, never identifier values
    values = dict(con.execute("SELECT rule_id, value FROM quarantine").fetchall())
    assert values["allowed:code"] == "C" and values["dob_not_after_event:dob"] is None


def test_a_one_megabyte_field_is_loaded_whole(tmp_path: Path) -> None:
    big = "x" * 1_000_000
    _, result, con = ingest(write(tmp_path, f'{HEADER}\nR1,Ann,01/02/2015,03/04/2024,A,"{big}"\n'))
    assert result.rows_loaded == 1
    assert con.execute('SELECT length(notes) FROM "police__stops"').fetchall() == [(1_000_000,)]


XLSX = CONTRACT.model_copy(update={"source": CONTRACT.source.model_copy(update={"format": "xlsx", "header_row": 3})})


def workbook(tmp_path: Path, hidden_first: bool = False, formula: bool = False) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    if hidden_first:
        ws.title = "lookup"
        ws.sheet_state = "hidden"
        ws["A1"] = "not the data"
        ws = wb.create_sheet("stops")
    ws["A1"] = "Norfolk Constabulary: stops, April 2024"
    ws.merge_cells("A1:F1")
    ws.append([])
    ws.append(HEADER.split(","))
    ws.append(["R1", "Ann", "01/02/2015", "03/04/2024", "A", None])
    ws.append(["R2", "Bob", "01/02/2015", "03/04/2024", '=IF(1>0,"A","B")' if formula else "B", None])
    path = tmp_path / "stops.xlsx"
    wb.save(path)
    return path


@pytest.mark.parametrize(("hidden_first", "formula"), [(False, False), (True, False), (False, True)])
def test_workbooks_with_merged_titles_hidden_sheets_and_formulas(tmp_path: Path, hidden_first, formula) -> None:
    _, result, con = ingest(workbook(tmp_path, hidden_first, formula), XLSX)
    assert result.rows_in == 2 and result.rows_in == result.rows_loaded + result.rows_quarantined
    rows = con.execute('SELECT _row, _line, ref FROM "police__stops" ORDER BY _row').fetchall()
    assert rows[0] == (1, 4, "R1")
    if formula:  # a formula saved with no result is not a blank "code": its row is quarantined, saying why
        assert (result.rows_loaded, result.rows_quarantined) == (1, 1)
        assert result.failures["excel_error:code"] == 1
        reason = con.execute("SELECT source_row, rule_id, reason FROM quarantine").fetchall()
        assert reason == [(2, "excel_error:code", reason[0][2])] and "formula saved without its result" in reason[0][2]


def test_a_workbook_that_is_not_one_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "this is not a zip file", name="stops.xlsx")
    with pytest.raises(FileRejected, match="not readable as an Excel workbook"):
        ingest(path, XLSX)


def test_a_moved_home_reads_its_own_archive(tmp_path: Path) -> None:
    """The manifest keeps where a file was first archived; a home moved, copied or restored
    elsewhere must read (and purge) the files in its own raw folder, not at that old place."""
    from sihub.intake import archive

    landing, raw = tmp_path / "landing", tmp_path / "before" / "raw"
    folder = landing / "police" / "stops"
    folder.mkdir(parents=True)
    (folder / "stops.csv").write_text(f"{HEADER}\nR1,Ann,01/02/2015,03/04/2024,A,\n")
    con = duckdb.connect()
    archive.archive(con, CONTRACT, landing, raw, "run-1")
    moved = tmp_path / "after" / "raw"
    moved.parent.mkdir()
    raw.rename(moved)
    (_sha, _name, _label, stored), *_ = archive.pending(con, CONTRACT, moved)
    assert stored.is_relative_to(moved) and stored.is_file()
    load_raw(con, CONTRACT, stored, "_raw")
    assert con.execute("SELECT count(*) FROM _raw").fetchall() == [(1,)]


def test_quarantined_rows_revalidate_after_a_contract_fix_without_redelivery(tmp_path: Path) -> None:
    from sihub.intake import archive

    landing, raw = tmp_path / "landing", tmp_path / "raw"
    folder = landing / "police" / "stops"
    folder.mkdir(parents=True)
    (folder / "stops.csv").write_text(f"{HEADER}\nR1,Ann,01/02/2015,03/04/2024,A,\nR2,Bob,01/02/2015,03/04/2024,C,\n")
    con = duckdb.connect()

    def validate(contract: Contract) -> Conformed:
        (sha, name, _label, stored), *_ = archive.pending(con, contract, raw)
        load_raw(con, contract, stored, "_raw")
        result = conform(con, contract, "_raw", sha, name, "run")
        archive.record_outcome(
            con, sha, "run", "loaded", (result.rows_in, result.rows_loaded, result.rows_quarantined), None
        )
        return result

    archive.archive(con, CONTRACT, landing, raw, "run-1")
    assert validate(CONTRACT).rows_quarantined == 1
    fixed_code = CONTRACT.columns["code"].model_copy(update={"allowed": ("A", "B", "C")})
    fixed = CONTRACT.model_copy(update={"columns": {**CONTRACT.columns, "code": fixed_code}})
    assert archive.archive(con, fixed, landing, raw, "run-2") == []  # nothing re-delivered
    assert archive.reopen(con, fixed) == 1
    result = validate(fixed)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)
    assert con.execute("SELECT count(*) FROM quarantine").fetchall() == [(0,)]
    assert con.execute('SELECT count(*) FROM "police__stops"').fetchall() == [(2,)]


def test_library_errors_reach_messages_without_the_cells_they_quote() -> None:
    from sihub.privacy.scrub import without_values

    err = ValueError("Could not parse value '943 476 5919' in row 3\nOriginal line: Zoë,Taylor")
    assert without_values(err) == "Could not parse value […] in row 3"


def test_files_checked_together_are_judged_apart(tmp_path: Path) -> None:
    """Duplicates and repeated keys count within a file only, and each file's rows and
    quarantine are its own, as when each file is checked alone."""
    from sihub.validation.conform import conform_files, stage

    files = {
        "jan.csv": ["R1,Ann,01/02/2015,03/01/2024,A,", "R1,Ann,01/02/2015,03/01/2024,A,", "R2,Bo,01/02/2015,bad,A,"],
        "feb.csv": ["R1,Ann,01/02/2015,03/01/2024,A,", "R3,Cy,01/02/2015,04/02/2024,Z,"],
        "mar.csv": [],
    }
    alone = {}
    con = duckdb.connect()
    for seq, (name, lines) in enumerate(files.items()):
        path = write(tmp_path, "\n".join([HEADER, *lines]) + "\n", name)
        alone[name] = ingest(path)[1]
        load_raw(con, CONTRACT, path, "_raw")
        stage(con, "_staged", "_raw", seq, f"sha-{name}", name)
    together = conform_files(con, CONTRACT, "_staged", "run")
    assert {name: together.get(f"sha-{name}", Conformed(0, 0, 0)) for name in files} == alone
    # recomputed by hand: jan repeats a row (and so its key) and has a bad date; feb's R1 is new to feb
    assert [(alone[n].rows_loaded, alone[n].rows_quarantined) for n in files] == [(1, 2), (1, 1), (0, 0)]
    by_file = con.execute("SELECT source_file, count(*) FROM quarantine GROUP BY ALL ORDER BY 1").fetchall()
    assert by_file == [("feb.csv", 1), ("jan.csv", 2)]
    assert con.execute("SELECT _source_file, ref FROM police__stops ORDER BY 1").fetchall() == [
        ("feb.csv", "R1"),
        ("jan.csv", "R1"),
    ]


def test_repeated_identifiers_rows_and_keys_are_judged_row_by_row(tmp_path: Path) -> None:
    """Identifier checks run once per distinct value and duplicates are found through hashes:
    each row must still get exactly the rules it breaks, recomputed here in plain Python."""
    import random

    from sihub.privacy.identifiers import is_valid_nhs_number

    contract = Contract.model_validate(
        {
            "partner": "health",
            "dataset": "visits",
            "title": "Visits",
            "source": {"format": "csv", "encoding": "utf-8"},
            "unique_key": ["ref"],
            "columns": {
                "ref": {"source": "Ref", "required": True, "classification": "quasi_identifier"},
                "nhs": {"source": "NHS", "classification": "direct_identifier", "identifier": "nhs_number"},
                "code": {"source": "Code", "classification": "non_personal"},
            },
        }
    )
    rng = random.Random(7)
    numbers = [f"{rng.randrange(10**10):010d}" for _ in range(60)] + ["", "12345"]
    assert any(map(is_valid_nhs_number, numbers)) and not all(map(is_valid_nhs_number, numbers))
    rows = [(f"R{rng.randrange(120)}", rng.choice(numbers), rng.choice("AB")) for _ in range(400)]
    _, result, con = ingest(write(tmp_path, "Ref,NHS,Code\n" + "\n".join(map(",".join, rows)) + "\n"), contract)

    expected: dict[int, set[str]] = {}
    for i, (ref, nhs, code) in enumerate(rows, start=1):
        broken = set()
        if (ref, nhs, code) in rows[: i - 1]:
            broken.add("duplicate_row")
        if ref in (r[0] for r in rows[: i - 1]):
            broken.add("unique:ref")
        if nhs and not is_valid_nhs_number(nhs):
            broken.add("nhs_number:nhs")
        if broken:
            expected[i] = broken
    got = {row: set(rules) for row, rules in con.execute("SELECT source_row, all_rules FROM quarantine").fetchall()}
    assert {"duplicate_row", "unique:ref", "nhs_number:nhs"} <= set().union(*expected.values())
    assert got == expected
    assert (result.rows_loaded, result.rows_quarantined) == (len(rows) - len(expected), len(expected))


def test_an_unreadable_line_is_kept_as_sent_and_subject_access_finds_it(tmp_path: Path) -> None:
    """The line cannot be parsed (a field too many), so it has no cells; its text stays in
    the personal zone's quarantine, where a search by the NHS number or the partner's
    reference in it finds it. Nothing of it is copied into the reasons."""
    from governance.subject_access import Person, search

    contract = CONTRACT.model_copy(
        update={
            "columns": {
                **CONTRACT.columns,
                "nhs": Column(source="NHS", classification="direct_identifier", identifier="nhs_number"),
            }
        }
    )
    path = write(
        tmp_path,
        f"{HEADER},NHS\nR1,Ann,01/02/2015,03/04/2024,A,,4010232137\n"
        "R2,Bo,02/02/2015,03/04/2024,B,x,extra,943 476 5919\n",
    )
    _, result, con = ingest(path, contract)
    assert (result.rows_in, result.rows_quarantined) == (2, 1)
    line, reason = con.execute("SELECT raw_line, reason FROM quarantine").fetchone()
    assert "943 476 5919" in line and "943" not in reason
    found = search(con, [contract], Person(nhs_number="9434765919"))
    (rows,) = found.records.values()
    assert list(rows["row"]) == [2] and rows["found_by"].iloc[0].startswith("an unreadable line")
