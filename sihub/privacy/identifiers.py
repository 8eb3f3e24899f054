"""Check-digit rules of the identifiers partners send: NHS number (Modulus 11), UPN (DfE
check letter) and PNC ID (Modulus 23), and the form of a UK postcode.

The one home of these algorithms: the generator uses the array forms to mint valid (and
deliberately invalid) synthetic identifiers, the pipeline uses the scalar forms to validate
what partners send.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

NHS_WEIGHTS = np.arange(10, 1, -1)  # weights 10..2 for the first nine digits
# DfE UPN guide: remainder mod 23 -> check letter; I, O and S are never used.
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
UPN_WEIGHTS = np.arange(2, 14)  # weights 2..13 for characters 2..13

_NHS_RE = re.compile(r"^\d{10}$")
_UPN_RE = re.compile(r"^[A-Z]\d{11}[0-9A-Z]$")


def nhs_check_digits(bodies: np.ndarray) -> np.ndarray:
    """Modulus 11 check digit for each row of nine digits; 10 means 'no valid number'."""
    remainder = (bodies * NHS_WEIGHTS).sum(axis=1) % 11
    check = 11 - remainder
    return np.where(check == 11, 0, check)


def is_valid_nhs_number(value: str) -> bool:
    """True for ten digits (spaces allowed, as NHS systems print them) with a right check digit."""
    digits = value.replace(" ", "")
    if not _NHS_RE.match(digits):
        return False
    body = np.array([[int(c) for c in digits[:9]]])
    check = int(nhs_check_digits(body)[0])
    return check != 10 and check == int(digits[9])


def upn_check_letters(chars: np.ndarray) -> np.ndarray:
    """DfE check letter for each row of the twelve character values of UPN positions 2..13.

    Digits count as their value; a temporary UPN's final letter counts as its index in
    `UPN_LETTERS`, as the DfE guide sets out.
    """
    remainder = (chars * UPN_WEIGHTS).sum(axis=1) % 23
    return np.array(list(UPN_LETTERS))[remainder]


def is_valid_upn(value: str) -> bool:
    """True for a permanent or temporary UPN whose check letter matches."""
    if not _UPN_RE.match(value) or (value[12].isalpha() and value[12] not in UPN_LETTERS):
        return False
    last = value[12]
    values = [int(c) for c in value[1:12]]
    values.append(UPN_LETTERS.index(last) if last.isalpha() else int(last))
    return str(upn_check_letters(np.array([values]))[0]) == value[0]


def nhs_number_sql(text: str) -> str:
    """SQL that is true when the text expression is a valid NHS number (spaces allowed)."""
    digits = f"regexp_replace({text}, '\\s', '', 'g')"
    terms = " + ".join(f"TRY_CAST(substr({digits}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(NHS_WEIGHTS))
    check = f"(11 - ({terms}) % 11)"
    return (
        f"coalesce(regexp_full_match({digits}, '[0-9]{{10}}') AND "
        f"(CASE WHEN {check} = 11 THEN 0 ELSE {check} END) = TRY_CAST(substr({digits}, 10, 1) AS INTEGER), false)"
    )


def upn_sql(text: str) -> str:
    """SQL that is true when the text expression is a valid permanent or temporary UPN."""
    upn = f"upper({text})"
    digit_terms = [f"TRY_CAST(substr({upn}, {pos}, 1) AS INTEGER) * {pos}" for pos in range(2, 13)]
    last = f"substr({upn}, 13, 1)"
    last_value = (
        f"(CASE WHEN regexp_full_match({last}, '[0-9]') THEN TRY_CAST({last} AS INTEGER) "
        f"ELSE strpos('{UPN_LETTERS}', {last}) - 1 END) * 13"
    )
    total = " + ".join([*digit_terms, last_value])
    return (
        f"coalesce(regexp_full_match({upn}, '[A-Z][0-9]{{11}}[0-9{UPN_LETTERS}]') AND "
        f"substr('{UPN_LETTERS}', ({total}) % 23 + 1, 1) = substr({upn}, 1, 1), false)"
    )


UK_POSTCODE = "[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}"


def postcode_sql(text: str) -> str:
    """SQL that is true when the text expression is a well-formed UK postcode (any spacing, any case)."""
    return f"coalesce(regexp_full_match(upper(replace({text}, ' ', '')), '{UK_POSTCODE}'), false)"


PNC_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"  # remainder 0 -> Z, 1 -> A, ... (no I, O, S)
_PNC_RE = re.compile(r"^(\d{2}|\d{4})/(\d{1,7})([A-Z])$")


def pnc_check_letter(year: str, serial: str) -> str:
    """Modulus 23 check character of a PNC ID: the two-digit year followed by the serial
    zero-padded to seven digits, read as one number."""
    return PNC_LETTERS[int(year[-2:] + serial.zfill(7)) % 23]


def is_valid_pnc(value: str) -> bool:
    """True for a police national computer ID `YYYY/NNNNNNNC` (or `YY/...`) with a right check letter."""
    match = _PNC_RE.match(value.strip().upper())
    return bool(match) and pnc_check_letter(match.group(1), match.group(2)) == match.group(3)


def pnc_sql(text: str) -> str:
    """SQL that is true when the text expression is a valid PNC ID."""
    t = f"upper(trim({text}))"
    year = f"regexp_extract({t}, '^([0-9]{{2}}|[0-9]{{4}})/', 1)"
    serial = f"regexp_extract({t}, '/([0-9]{{1,7}})[A-Z]$', 1)"
    number = f"TRY_CAST(right({year}, 2) || lpad({serial}, 7, '0') AS BIGINT)"
    return (
        f"coalesce(regexp_full_match({t}, '([0-9]{{2}}|[0-9]{{4}})/[0-9]{{1,7}}[A-Z]') AND "
        f"substr('{PNC_LETTERS}', CAST({number} % 23 AS INTEGER) + 1, 1) = right({t}, 1), false)"
    )


# SQL validity checks by identifier kind (the contracts' `identifier:` values): the one map
# that validation and the leak guard both read
VALIDITY_SQL: dict[str, Callable[[str], str]] = {
    "nhs_number": nhs_number_sql,
    "upn": upn_sql,
    "postcode": postcode_sql,
    "pnc_id": pnc_sql,
}
