"""Subject access and erasure: find every record the personal zone holds about a person,
across all partners and the quarantine, write them to a file for the IG officer, and on
request erase them (with the link tables' rows of the child and the person's pseudonymous rows
in the shared store).

A record matches on any identifier given: NHS number (any spacing), UPN, or forename +
surname + date of birth (names folded for case, spacing, punctuation and diacritics).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from openpyxl import Workbook

from sihub.core.contracts import Contract, IdentifierKind
from sihub.core.db import literal, quote, table_exists
from sihub.core.workbooks import put_table
from sihub.linkage.link import erase_links
from sihub.privacy.keys import PseudonymKey
from sihub.privacy.pseudonymise import folded_name_sql, hmac_pads, hmac_sql, identity_sql
from sihub.validation.conform import typed_expr


@dataclass(frozen=True)
class Person:
    nhs_number: str | None = None
    upn: str | None = None
    forename: str | None = None
    surname: str | None = None
    dob: dt.date | None = None

    def __post_init__(self) -> None:
        if not (self.nhs_number or self.upn or (self.forename and self.surname and self.dob)):
            raise ValueError("give an NHS number, a UPN, or a name with a date of birth")


def _criteria(contract: Contract, person: Person, value) -> tuple[str, list]:
    """SQL matching a record (cells given by `value(column)`) and its parameters."""
    col = {k: contract.identifier_column(k) for k in IdentifierKind}
    parts, params = [], []
    if person.nhs_number and col[IdentifierKind.nhs_number]:
        parts.append(f"regexp_replace({value(col[IdentifierKind.nhs_number])}, '[^0-9]', '', 'g') = ?")
        params.append("".join(ch for ch in person.nhs_number if ch.isdigit()))
    if person.upn and col[IdentifierKind.upn]:
        parts.append(f"upper(trim({value(col[IdentifierKind.upn])})) = upper(?)")
        params.append(person.upn.strip())
    names = (col[IdentifierKind.forename], col[IdentifierKind.surname], col[IdentifierKind.date_of_birth])
    if person.forename and person.surname and person.dob and all(names):
        f, s, d = names
        parts.append(
            f"({folded_name_sql(value(f))} = {folded_name_sql('?')} AND {folded_name_sql(value(s))} = "
            f"{folded_name_sql('?')} AND CAST({value(d, typed=True)} AS DATE) = ?)"
        )
        params += [person.forename, person.surname, person.dob]
    return (" OR ".join(parts) or "false"), params


def search(con: duckdb.DuckDBPyConnection, contracts: list[Contract], person: Person) -> dict[str, pd.DataFrame]:
    """Matching records per `partner/dataset` (typed rows) and `partner/dataset (quarantine)`."""
    found: dict[str, pd.DataFrame] = {}
    for contract in contracts:
        if table_exists(con, contract.table):
            where, params = _criteria(contract, person, lambda c, typed=False: quote(c))
            rows = con.execute(f"SELECT * FROM {quote(contract.table)} WHERE {where}", params).df()
            if len(rows):
                found[contract.key] = rows
        if table_exists(con, "quarantine"):

            def cell(c: str, typed: bool = False, contract: Contract = contract) -> str:
                text = f"json_extract_string(record, {literal('$.' + c)})"
                return typed_expr(contract, contract.columns[c], text) if typed else text

            where, params = _criteria(contract, person, cell)
            rows = con.execute(
                "SELECT source_file, source_row, source_line, rule_id, reason, record FROM quarantine "
                f"WHERE partner = ? AND dataset = ? AND ({where})",
                [contract.partner, contract.dataset, *params],
            ).df()
            if len(rows):
                found[f"{contract.key} (quarantine)"] = rows
    return found


def export(found: dict[str, pd.DataFrame], folder: Path) -> Path:
    """One workbook, a sheet per dataset, readable by its owner only."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"subject_access_{dt.datetime.now():%Y%m%dT%H%M%S}.xlsx"
    book = Workbook()
    book.remove(book.active)
    for i, (key, rows) in enumerate(sorted(found.items()), start=1):
        sheet = book.create_sheet(f"{i:02d} {key.replace('/', ' ')}"[:31])
        values = rows.astype(object).where(rows.notna(), None).itertuples(index=False, name=None)
        put_table(sheet, [str(c) for c in rows.columns], values)  # text as text: no formula from data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner-only from the first byte
    with os.fdopen(fd, "wb") as f:
        book.save(f)
    return path


def erase(
    personal: duckdb.DuckDBPyConnection,
    shared: duckdb.DuckDBPyConnection,
    contracts: list[Contract],
    person: Person,
    key: PseudonymKey,
) -> dict[str, int]:
    """Delete the person's records from the personal zone (typed rows, quarantine and the
    link tables) and their pseudonymous rows from the shared store. Returns rows deleted per
    place (counts only)."""
    identities: set[str] = set()
    counts: dict[str, int] = {}
    for contract in contracts:
        if not table_exists(personal, contract.table):
            continue
        where, params = _criteria(contract, person, lambda c, typed=False: quote(c))
        identities |= {
            r[0]
            for r in personal.execute(
                f"SELECT DISTINCT {identity_sql(contract)} FROM {quote(contract.table)} t WHERE {where}", params
            ).fetchall()
            if r[0]
        }
        deleted = personal.execute(f"DELETE FROM {quote(contract.table)} WHERE {where} RETURNING 1", params).fetchall()
        counts[contract.key] = len(deleted)
    for key_name, rows in search(personal, contracts, person).items():
        if key_name.endswith("(quarantine)"):
            personal.execute(
                "DELETE FROM quarantine WHERE list_contains(?, source_file || ':' || source_row)",
                [[f"{f}:{r}" for f, r in zip(rows["source_file"], rows["source_row"], strict=True)]],
            )
            counts[key_name] = len(rows)
    erased = sorted(identities)
    counts["link tables"] = erase_links(personal, erased)
    inner, outer = hmac_pads(key)
    keys = personal.execute(f"SELECT {hmac_sql('i')} FROM unnest(?::VARCHAR[]) u(i)", [outer, inner, erased])
    pseudonyms = [r[0] for r in keys.fetchall()]
    for (table,) in shared.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'person_key' AND database_name = "
        "current_database()"
    ).fetchall():
        deleted = shared.execute(
            f"DELETE FROM {quote(table)} WHERE list_contains(?, person_key) RETURNING 1", [pseudonyms]
        ).fetchall()
        counts[f"shared store: {table}"] = len(deleted)
    return counts
