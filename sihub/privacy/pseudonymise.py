"""Pseudonymous person keys: keyed HMAC-SHA256 over a normalised identifier, computed inside
DuckDB so identifiers never leave the database as Python values.

The identifier used is the most trusted one a record carries: NHS number, else UPN, else
surname + forename + date of birth (names folded: case, spaces, hyphens, apostrophes and
diacritics). The same person gives the same key in every partner's data and every run; a
different key gives unlinkable pseudonyms.
"""

from __future__ import annotations

import hashlib

from sihub.core.contracts import Contract, IdentifierKind
from sihub.core.db import literal, quote
from sihub.privacy.keys import PseudonymKey

BLOCK = 64  # SHA-256 block size, for HMAC's inner and outer pads


def hmac_pads(key: PseudonymKey) -> tuple[bytes, bytes]:
    """HMAC's (inner, outer) padded keys, passed to SQL as parameters."""
    secret = key.secret if len(key.secret) <= BLOCK else hashlib.sha256(key.secret).digest()
    padded = secret.ljust(BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def hmac_sql(message_sql: str, inner: str = "?", outer: str = "?") -> str:
    """SQL for hex HMAC-SHA256 of a VARCHAR message, the pads bound as BLOB parameters
    (outer first, then inner, in parameter order)."""
    return f"sha256(CAST({outer} AS BLOB) || unhex(sha256(CAST({inner} AS BLOB) || encode({message_sql}))))"


def folded_name_sql(text: str) -> str:
    """A name for matching only: diacritics folded, letters only, upper case."""
    return f"NULLIF(upper(regexp_replace(strip_accents({text}), '[^A-Za-z]', '', 'g')), '')"


def identifier_sql(contract: Contract, alias: str = "t") -> dict[IdentifierKind, str]:
    """SQL for each normalised identifier a record may carry, most trusted first (NHS number,
    UPN, then surname + forename + date of birth as one name key). Each is NULL when absent."""
    col = {kind: contract.identifier_column(kind) for kind in IdentifierKind}
    parts = {}
    if col[IdentifierKind.nhs_number]:
        digits = f"regexp_replace({alias}.{quote(col[IdentifierKind.nhs_number])}, '[^0-9]', '', 'g')"
        parts[IdentifierKind.nhs_number] = f"'nhs:' || NULLIF({digits}, '')"
    if col[IdentifierKind.upn]:
        parts[IdentifierKind.upn] = f"'upn:' || NULLIF(upper(trim({alias}.{quote(col[IdentifierKind.upn])})), '')"
    names = (col[IdentifierKind.surname], col[IdentifierKind.forename], col[IdentifierKind.date_of_birth])
    if all(names):
        surname, forename, dob = (f"{alias}.{quote(c)}" for c in names)
        parts[IdentifierKind.date_of_birth] = (
            f"'name:' || {folded_name_sql(surname)} || '|' || {folded_name_sql(forename)} || '|' || "
            f"strftime({dob}, '%Y-%m-%d')"
        )
    return parts


def nodes_sql(contract: Contract, alias: str = "t") -> dict[str, str]:
    """SQL for every identifier a record carries, as linkage's nodes: `nhs_number`,
    `upn`, `name_dob` (`identifier_sql`'s) and `person_ref` (the partner's own reference,
    prefixed by the partner: two partners' references are different numbering)."""
    ids = identifier_sql(contract, alias)
    kinds = {
        IdentifierKind.nhs_number: "nhs_number",
        IdentifierKind.upn: "upn",
        IdentifierKind.date_of_birth: "name_dob",
    }
    nodes = {kinds[k]: sql for k, sql in ids.items()}
    if ref := contract.identifier_column(IdentifierKind.person_ref):
        nodes["person_ref"] = f"{literal(f'ref:{contract.partner}:')} || NULLIF(upper(trim({alias}.{quote(ref)})), '')"
    return nodes


def identity_sql(contract: Contract, alias: str = "t") -> str:
    """SQL for the normalised identifier a record is keyed on: its most trusted (NHS number,
    UPN, name key), else the partner's own reference for the person (a statutory return holds
    only that for a child with no UPN: without it the record would link to no one); NULL
    when it has none."""
    parts = list(identifier_sql(contract, alias).values())
    if ref := nodes_sql(contract, alias).get("person_ref"):
        parts.append(ref)
    return f"coalesce({', '.join(parts)})" if parts else "NULL::VARCHAR"
