"""Check-digit algorithms against numbers verified by hand (working shown)."""

from sihub.privacy.identifiers import is_valid_nhs_number, is_valid_upn


def test_nhs_number_modulus_11_by_hand() -> None:
    # 9 4 3 4 7 6 5 9 1 x 10..2 = 90+36+24+28+42+30+20+27+2 = 299; 299 mod 11 = 2; 11-2 = 9
    assert is_valid_nhs_number("9434765919")
    assert is_valid_nhs_number("943 476 5919")  # spaced as NHS systems print it
    assert not is_valid_nhs_number("9434765918")
    # 4 0 1 0 2 3 2 1 3 x 10..2 = 40+0+8+0+12+15+8+3+6 = 92; 92 mod 11 = 4; 11-4 = 7
    assert is_valid_nhs_number("4010232137")
    # a body whose check would be 10 has no valid number: 0000000060 -> 6x2=12, 12 mod 11 = 1 -> 10
    assert not any(is_valid_nhs_number(f"000000006{d}") for d in range(10))
    assert not is_valid_nhs_number("94347659")
    assert not is_valid_nhs_number("94347659AB")


def test_upn_check_letter_by_hand() -> None:
    # 9 2 6 2 0 0 4 1 2 0 0 6 x 2..13 = 18+6+24+10+0+0+32+9+20+0+0+78 = 197; 197 mod 23 = 13 -> P
    assert is_valid_upn("P926200412006")
    assert not is_valid_upn("Q926200412006")
    # temporary UPN ending in a letter: A counts 0, so the sum is 18+6+24+10+32+9+20 = 119;
    # 119 mod 23 = 4 -> E
    assert is_valid_upn("E92620041200A")
    assert not is_valid_upn("E92620041200I")  # I is never used
    assert not is_valid_upn("P92620041200")


def test_pnc_id_modulus_23_by_hand() -> None:
    from sihub.privacy.identifiers import is_valid_pnc, pnc_sql

    # 2000/1234567: year 00 + serial 1234567 -> 001234567 = 1,234,567; 23 x 53,676 = 1,234,548;
    # remainder 19 -> Z A B C D E F G H J K L M N P Q R T U V -> V
    assert is_valid_pnc("2000/1234567V")
    assert not is_valid_pnc("2000/1234567W")
    # 1999/12: 99 + 0000012 -> 990,000,012; 23 x 43,043,478 = 989,999,994 -> remainder 18 -> U
    assert is_valid_pnc("1999/12U") and is_valid_pnc("99/12U")
    assert not is_valid_pnc("1999/12M") and not is_valid_pnc("1999/12") and not is_valid_pnc("PNC 1999/12U")
    import duckdb

    values = ["2000/1234567V", "2000/1234567W", "1999/12U", "99/12U", "1999/12", None]
    con = duckdb.connect()
    con.execute("CREATE TABLE v AS SELECT unnest(?) AS x", [values])
    got = [r[0] for r in con.execute(f"SELECT {pnc_sql('x')} FROM v ORDER BY rowid").fetchall()]
    assert got == [True, False, True, True, False, False]
