"""The erasure register: what subject-access erasure removed, kept in the personal zone so
that it stays removed.

Archived deliveries are immutable (they are the evidence of what each partner sent), so an
erased record is still in its file. Every read of the archive (a refresh, `sihub revalidate`,
any rebuild) passes through `conform`, which leaves out:

- every erased record, by its delivery's SHA-256 and row (`erased_records`, with the source
  file, line and the audit entry that authorised the erasure);
- every record, in any delivery, old or still to come, that is an erased record sent again
  (its dataset and unique key) or, when a person was erased whole, that carries one of their
  identifiers (`erased_identities`: keyed hashes only, under a key derived from the
  pseudonymisation key for this purpose alone, so the register holds no identifier and
  cannot be joined to the shared store's pseudonyms).

Retention later deletes the archived files themselves.
"""

from __future__ import annotations

import duckdb

from sihub.core.contracts import Contract
from sihub.core.db import literal, matched_key_sql, quote
from sihub.privacy.keys import PseudonymKey
from sihub.privacy.pseudonymise import hmac_pads, hmac_sql
from sihub.privacy.text_guard import nhs_numbers_sql

DDL = """
CREATE TABLE IF NOT EXISTS erased_records (
    partner VARCHAR, dataset VARCHAR, sha256 VARCHAR, source_row BIGINT, source_line BIGINT, source_file VARCHAR,
    audit_entry BIGINT, erased_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS erased_identities (
    identity_hash VARCHAR PRIMARY KEY, audit_entry BIGINT, erased_at TIMESTAMP
);
"""
PURPOSE = "erasure-register"


def record_key_sql(contract: Contract, alias: str = "t") -> str:
    """SQL for a record's own identity as the register keeps it: `rec:partner/dataset:` and its
    unique key, matched as deliveries match keys (NULL without a unique key or with a part
    blank). A record erased on its own (the officer kept the person's other records) is kept
    out by this, wherever it is sent again."""
    if not contract.unique_key:
        return "NULL::VARCHAR"
    parts = " || '|' || ".join(matched_key_sql(f"{alias}.{quote(k)}") for k in contract.unique_key)
    return f"{literal(f'rec:{contract.key}:')} || {parts}"


def line_nodes_sql(line: str, partner: str) -> str:
    """SQL for the identifiers an unreadable line holds, as nodes: NHS numbers (`nhs:…`),
    UPNs (`upn:…`) and every word that may be the partner's own reference (`ref:partner:…`):
    the line has no cells, so the identifiers are looked for in its text."""
    nhs = f"list_transform({nhs_numbers_sql(line)}, lambda x: 'nhs:' || x)"
    upn = f"list_transform(regexp_extract_all(upper({line}), '\\b[A-Z][0-9]{{11}}[0-9A-Z]\\b'), lambda x: 'upn:' || x)"
    refs = (
        f"list_transform(regexp_extract_all(upper({line}), '[A-Z0-9]{{5,}}'), "
        f"lambda x: {literal(f'ref:{partner}:')} || x)"
    )
    return f"coalesce(list_concat({nhs}, {upn}, {refs}), [])"


def ensure_register(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def register_key(key: PseudonymKey) -> PseudonymKey:
    return key.derive(PURPOSE)


def register_pads(key: PseudonymKey) -> list[bytes]:
    """The parameters `hmac_sql` takes for the register's keyed hash, in order."""
    return list(reversed(hmac_pads(register_key(key))))


def has_identities(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM erased_identities").fetchone()[0])


def record_identities(con: duckdb.DuckDBPyConnection, nodes: list[str], key: PseudonymKey, audit_entry: int) -> int:
    """Add the keyed hashes of erased identities (a person's identifiers, a record's own key);
    returns how many were new."""
    before = con.execute("SELECT count(*) FROM erased_identities").fetchone()[0]
    con.execute(
        f"INSERT OR IGNORE INTO erased_identities SELECT DISTINCT {hmac_sql('n')}, ?, now() "
        "FROM unnest(?::VARCHAR[]) u(n) WHERE n IS NOT NULL",
        [*register_pads(key), audit_entry, nodes],
    )
    return con.execute("SELECT count(*) FROM erased_identities").fetchone()[0] - before
