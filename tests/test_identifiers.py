"""Check-digit algorithms against numbers verified by hand (working shown)."""

from governance.identifiers import is_valid_nhs_number, is_valid_upn


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
