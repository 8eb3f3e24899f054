"""Pseudonymisation: keyed HMAC in SQL equal to Python's hmac, stable for a person, unlinkable
under another key, and refused without a proper key."""

import hashlib
import hmac
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sihub.privacy.keys import ENV, PseudonymKey, PseudonymKeyError, create_key_file, load_key
from sihub.privacy.pseudonymise import folded_name_sql, hmac_pads, hmac_sql

KEY = PseudonymKey(b"a-test-key-that-is-long-enough-for-hmac-0123")


def sql_hmac(key: PseudonymKey, messages: list[str]) -> list[str]:
    outer_inner = list(reversed(hmac_pads(key)))
    con = duckdb.connect()
    con.execute("CREATE TABLE m AS SELECT unnest(?) AS msg", [messages])
    return [r[0] for r in con.execute(f"SELECT {hmac_sql('msg')} FROM m ORDER BY rowid", outer_inner).fetchall()]


def test_sql_hmac_equals_pythons_hmac_sha256() -> None:
    messages = ["nhs:9434765919", "upn:P926200412006", "name:OBRIEN|ZOE|2015-02-01", "é ü ☃"]
    expected = [hmac.new(KEY.secret, m.encode(), hashlib.sha256).hexdigest() for m in messages]
    assert sql_hmac(KEY, messages) == expected
    long_key = PseudonymKey(b"x" * 100)  # longer than a block: hashed first, as RFC 2104 says
    assert sql_hmac(long_key, messages[:1]) == [
        hmac.new(long_key.secret, messages[0].encode(), hashlib.sha256).hexdigest()
    ]


def test_another_key_gives_unlinkable_pseudonyms_and_extracts_get_their_own_key() -> None:
    other = PseudonymKey(b"another-key-that-is-long-enough-for-hmac-9876")
    messages = [f"nhs:{n}" for n in ("9434765919", "4010232137")]
    assert not set(sql_hmac(KEY, messages)) & set(sql_hmac(other, messages))
    extract_a, extract_b = KEY.derive("police_extract"), KEY.derive("health_extract")
    assert extract_a.secret != extract_b.secret and extract_a.key_id != KEY.key_id
    assert not set(sql_hmac(extract_a, messages)) & set(sql_hmac(extract_b, messages))
    assert KEY.key_id.startswith("k-") and KEY.secret.hex() not in repr(KEY) and "a-test-key" not in repr(KEY)


def test_names_fold_case_spacing_punctuation_and_diacritics() -> None:
    con = duckdb.connect()
    names = ["O'Brien", "o brien", "OBRIEN", "Zoë", "ZOE", "Smith-Jones", "smith jones"]
    folded = [con.execute(f"SELECT {folded_name_sql('?')}", [n]).fetchall()[0][0] for n in names]
    assert folded == ["OBRIEN", "OBRIEN", "OBRIEN", "ZOE", "ZOE", "SMITHJONES", "SMITHJONES"]


def test_missing_or_short_key_is_refused_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(PseudonymKeyError, match=f"set {ENV}"):
        load_key(tmp_path)
    monkeypatch.setenv(ENV, "too-short")
    with pytest.raises(PseudonymKeyError, match="9 bytes; it needs at least 32"):
        load_key(tmp_path)


def test_demo_key_file_is_owner_only_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    path = create_key_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key(tmp_path).secret == path.read_text().strip().encode()


def test_refresh_without_a_key_stops_before_any_work(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV} | {"SIHUB_HOME": str(tmp_path)}
    sihub = str(Path(sys.executable).parent / "sihub")
    result = subprocess.run([sihub, "refresh"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1
    assert "no pseudonymisation key" in result.stderr and not (tmp_path / "warehouse").exists()


def test_both_stores_and_the_raw_archive_are_owner_only(first_run, home: Path) -> None:
    assert stat.S_IMODE((home / "warehouse" / "personal.duckdb").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "warehouse" / "shared.duckdb").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "raw").stat().st_mode) == 0o700


def test_free_text_scrubber_removes_identifiers() -> None:
    from sihub.privacy.scrub import scrub_sql

    con = duckdb.connect()
    con.execute("CREATE TABLE t (note VARCHAR, forename VARCHAR, surname VARCHAR)")
    con.execute(
        "INSERT INTO t VALUES ('Zoë O''Brien (NHS 943 476 5919, UPN P926200412006) lives at NR2 4AB; "
        "mum on 01603 222333 or +44 7700 900123, zoe.obrien@example.org. zoë said she was fine.', 'Zoë', 'O''Brien')"
    )
    out = con.execute(f"SELECT {scrub_sql('note', ['forename', 'surname'])} FROM t").fetchall()[0][0]
    assert out == (
        "[NAME] [NAME] (NHS [NHS NUMBER], UPN [UPN]) lives at [POSTCODE]; mum on [PHONE] or [PHONE], [EMAIL]. "
        "[NAME] said she was fine."
    )


def test_governed_split_scrubs_opted_in_free_text_and_honours_the_opt_out() -> None:
    from sihub.core.contracts import Contract
    from sihub.intake import archive
    from sihub.sharing.split import build_shared_table

    contract = Contract.model_validate({
        "partner": "health", "dataset": "notes", "title": "Notes", "source": {"format": "csv"},
        "event_date": "seen_on", "opt_out_column": "opted_out",
        "columns": {
            "forename": {"source": "F", "classification": "direct_identifier", "identifier": "forename"},
            "surname": {"source": "S", "classification": "direct_identifier", "identifier": "surname"},
            "seen_on": {"source": "D", "type": "date", "classification": "non_personal"},
            "note": {"source": "N", "classification": "direct_identifier", "identifier": "free_text",
                     "share_scrubbed": True},
            "private_note": {"source": "P", "classification": "direct_identifier", "identifier": "free_text"},
            "opted_out": {"source": "O", "type": "boolean", "classification": "non_personal"},
        },
    })  # fmt: skip
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS personal")
    con.execute("USE personal")
    archive.ensure_tables(con)  # the personal zone's delivery log, empty: every row stands
    con.execute("USE memory")
    con.execute(
        "CREATE TABLE personal.health__notes AS SELECT 'one-file' AS _source_sha256, 'notes.csv' AS _source_file, "
        "row_number() OVER () AS _row, * FROM (VALUES "
        "('Ann', 'Lee', DATE '2024-01-02', 'Ann Lee seen, call 01603 222333', 'secret', false), "
        "('Bob', 'Ray', DATE '2024-01-03', 'Bob fine', 'secret', true)) "
        "v(forename, surname, seen_on, note, private_note, opted_out)"
    )
    con.execute("CREATE TABLE ref_postcode_district (postcode_district VARCHAR, district_code VARCHAR)")
    con.execute("CREATE TABLE ref_district (district_code VARCHAR, locality_code VARCHAR)")
    assert build_shared_table(con, contract, "personal", KEY, honour_opt_out=True).rows == 1
    row = con.execute("SELECT * FROM health__notes").df()
    assert list(row["note"]) == ["[NAME] [NAME] seen, call [PHONE]"]
    assert "private_note" not in row and "forename" not in row
    assert build_shared_table(con, contract, "personal", KEY, honour_opt_out=False).rows == 2
