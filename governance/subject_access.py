"""Subject access and erasure, through the hub's own linkage.

From any identifier the officer gives (NHS number, UPN, or name with date of birth) the search
resolves the child or children it belongs to: the identifiers given, every identifier a typed
record bearing them also carries, and every identifier linkage put in the same child
(`link_nodes`). It returns every record that carries one of those identifiers: each partner's
typed rows (superseded and held ones too: the hub holds them), the quarantine (the row as
sent) and unreadable lines (their raw text). Each record says how it was found: by the
identifier given, or linked through which identifiers. A record carrying a valid NHS number
or UPN that is not the child's belongs to someone else and is left out.

Erasure acts on the records found, or on those the officer kept after reviewing the
workbook: it deletes them from the personal zone, the link tables and the shared store, and
writes them and the person's identifiers (keyed hashes) into the erasure register, so no read
of the archive brings them back.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from openpyxl import Workbook, load_workbook

from sihub.core.contracts import Classification, Contract, IdentifierKind
from sihub.core.db import literal, quote, scalar, table_exists
from sihub.core.workbooks import put_table
from sihub.linkage.link import erase_links
from sihub.privacy import erasure_register
from sihub.privacy.identifiers import nhs_number_sql, upn_sql
from sihub.privacy.keys import PseudonymKey
from sihub.privacy.pseudonymise import hmac_pads, hmac_sql, nodes_sql
from sihub.privacy.text_guard import forget_known_names, normalised_sql
from sihub.validation.conform import typed_expr

QUARANTINE = " (quarantine)"
# the columns in front of every sheet of the export, and what `reviewed` reads back
LEAD = ["dataset", "found_by", "delivery_sha256", "row"]
KIND_NAMES = {
    "nhs_number": "NHS number",
    "upn": "UPN",
    "person_ref": "person reference",
    "name_dob": "name and date of birth",
}


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


@dataclass(frozen=True)
class Found:
    """Records found per `partner/dataset` (and `partner/dataset (quarantine)`), each frame
    led by `LEAD` and holding `_nodes` (the record's identifiers, normalised)."""

    records: dict[str, pd.DataFrame]

    @property
    def total(self) -> int:
        return sum(len(rows) for rows in self.records.values())

    @property
    def nodes(self) -> list[str]:
        """Every identifier the records found carry (normalised, personal zone only)."""
        return sorted({n for rows in self.records.values() for ns in rows["_nodes"] for n in ns if n})

    def by_how(self) -> dict[str, int]:
        how = pd.concat([rows["found_by"] for rows in self.records.values()]) if self.records else pd.Series()
        return {str(k): int(v) for k, v in how.value_counts().items()}


# the identifiers an officer may give, as a contract's columns: read by `nodes_sql` like any record's
GIVEN = Contract.model_validate({
    "partner": "officer", "dataset": "request", "title": "Subject access request", "source": {"format": "csv"},
    "columns": {
        kind: {"source": kind, "classification": "direct_identifier", "identifier": kind,
               **({"type": "date"} if kind == "date_of_birth" else {})}
        for kind in ("nhs_number", "upn", "forename", "surname", "date_of_birth")
    },
})  # fmt: skip


def _given_nodes(con: duckdb.DuckDBPyConnection, person: Person) -> list[str]:
    """The identifiers given, normalised as linkage normalises every record's (`nodes_sql`);
    a name counts only with its date of birth."""
    nodes = nodes_sql(GIVEN, "t")
    row = con.execute(
        f"SELECT [{', '.join(nodes.values())}] FROM (SELECT $nhs_number AS nhs_number, $upn AS upn, "
        "$forename AS forename, $surname AS surname, $dob::DATE AS date_of_birth) t",
        {"nhs_number": person.nhs_number, "upn": person.upn, "forename": person.forename,
         "surname": person.surname, "dob": person.dob},
    ).fetchone()[0]  # fmt: skip
    return [n for n in row if n]


def _cell(column: str) -> str:
    """SQL: a quarantined row's cell, as sent."""
    return f"json_extract_string(record, {literal('$.' + column)})"


def _sources(con: duckdb.DuckDBPyConnection, contract: Contract) -> dict[str, str]:
    """The places a dataset's records are held (name -> query with the contract's identifier
    columns typed, `_source_sha256`, `_row` and `_raw_line`)."""
    out = {}
    if table_exists(con, contract.table):
        out[contract.key] = f"(SELECT *, NULL::VARCHAR AS _raw_line FROM {quote(contract.table)})"
    if table_exists(con, "quarantine"):
        cells = ", ".join(
            f"{typed_expr(contract, c, _cell(n))} AS {quote(n)}"
            for n, c in contract.columns.items()
            if c.identifier or n in contract.unique_key
        )
        out[contract.key + QUARANTINE] = (
            "(SELECT source_sha256 AS _source_sha256, source_file AS _source_file, source_row AS _row, "
            f"source_line AS _line, rule_id, reason, record, raw_line AS _raw_line{', ' + cells if cells else ''} "
            f"FROM quarantine WHERE partner = {literal(contract.partner)} AND dataset = {literal(contract.dataset)})"
        )
    return out


def _row_nodes(contract: Contract) -> str:
    """SQL: the list of a record's identifiers (NULLs dropped), those in an unreadable line's text included."""
    nodes = ", ".join(nodes_sql(contract, "t").values()) or "NULL::VARCHAR"
    in_line = erasure_register.line_nodes_sql("t._raw_line", contract.partner)
    return f"list_filter(list_concat([{nodes}], {in_line}), lambda x: x IS NOT NULL)"


def _carried_with(con: duckdb.DuckDBPyConnection, contracts: list[Contract], nodes: list[str]) -> set[str]:
    """Every identifier carried by a record (typed or quarantined) that carries one of `nodes`."""
    found = set(nodes)
    for contract in contracts:
        for source in _sources(con, contract).values():
            rows = f"SELECT {_row_nodes(contract)} AS n FROM {source} t"
            query = f"SELECT DISTINCT unnest(n) FROM ({rows}) WHERE list_has_any(n, $nodes)"
            found |= {r[0] for r in con.execute(query, {"nodes": nodes}).fetchall() if r[0]}
    return found


def _linked(con: duckdb.DuckDBPyConnection, nodes: set[str]) -> set[str]:
    """Every identifier linkage put in the same child as one of `nodes`."""
    if not table_exists(con, "link_nodes"):
        return nodes
    rows = con.execute(
        "SELECT node FROM link_nodes WHERE label IN (SELECT label FROM link_nodes WHERE list_contains($n, node))",
        {"n": sorted(nodes)},
    ).fetchall()
    return nodes | {r[0] for r in rows}


def _similar_names(con: duckdb.DuckDBPyConnection, child: set[str]) -> set[str]:
    """Every identifier of a linked group whose name key differs from one of the child's by
    one slip in forename or surname, with the same date of birth, and that carries no NHS
    number or UPN other than the child's. Linkage leaves short names alone (`Lee` and `Leee`
    are not linked); subject access would rather show the officer one record to review than
    miss it."""
    if not table_exists(con, "link_nodes"):
        return set()
    mine = sorted(n.removeprefix("name:") for n in child if n.startswith("name:"))
    if not mine:
        return set()
    own = {k: sorted(n for n in child if n.startswith(f"{k}:")) for k in ("nhs", "upn")}
    rows = con.execute(
        """
        WITH mine AS (SELECT split_part(n, '|', 1) AS s, split_part(n, '|', 2) AS f, split_part(n, '|', 3) AS d
                      FROM unnest($mine) u(n)),
        candidates AS (
            SELECT node, label, split_part(substr(node, 6), '|', 1) AS s, split_part(substr(node, 6), '|', 2) AS f,
                   split_part(substr(node, 6), '|', 3) AS d
            FROM link_nodes WHERE kind = 'name_dob'
        ),
        alike AS (
            SELECT DISTINCT c.label FROM candidates c JOIN mine m ON c.d = m.d
            WHERE (c.s = m.s AND damerau_levenshtein(c.f, m.f) <= 1)
               OR (c.f = m.f AND damerau_levenshtein(c.s, m.s) <= 1)
        )
        SELECT node FROM link_nodes WHERE label IN (SELECT label FROM alike) AND label NOT IN (
            SELECT label FROM link_nodes WHERE label IN (SELECT label FROM alike) AND (
                (kind = 'nhs_number' AND len($nhs) > 0 AND NOT list_contains($nhs, node))
                OR (kind = 'upn' AND len($upn) > 0 AND NOT list_contains($upn, node))))
        """,
        {"mine": mine, **own},
    ).fetchall()
    return {r[0] for r in rows} - child


def _written_forms(child: set[str]) -> list[str]:
    """The child's NHS numbers, UPNs and partner references as text may hold them (letters and
    digits only, upper case); shorter ones would match too much by chance."""
    forms = {n.split(":")[-1].upper() for n in child if n.startswith(("nhs:", "upn:", "ref:"))}
    return sorted(f for f in forms if len(f) >= 8)


def _written_in(
    con: duckdb.DuckDBPyConnection, contract: Contract, place: str, source: str, written: list[str]
) -> tuple[str, list[str]]:
    """SQL true when the record's text (its shared string columns and free text; a
    quarantined row's cells as sent) holds one of the child's identifiers (`written`), in
    any spelling the text guard reads (`Called by mum re NHS 943-476-5919`), and the texts
    it looks for, bound as `$hits` (never written into the statement). The texts are found
    first, once each (a column of codes repeats a few values over every row)."""
    if place.endswith(QUARANTINE):
        text = "CAST(t.record AS VARCHAR)"
    else:
        columns = [
            f"t.{quote(n)}"
            for n, c in contract.columns.items()
            if c.type == "string"
            and (
                c.classification in (Classification.non_personal, Classification.sensitive)
                or c.identifier == IdentifierKind.free_text
            )
        ]
        if not columns:
            return "false", []
        text = f"concat_ws(' ', {', '.join(columns)})"
    if not written:
        return "false", []
    plain = f"upper(regexp_replace({normalised_sql('v')}, '[^0-9A-Za-z]', '', 'g'))"
    hits = con.execute(  # every form holds digits: text with none is passed over
        # materialised at each step: a filter would otherwise be pushed below the DISTINCT, onto
        # every row, and the plain text recomputed inside the lambda for every form
        f"WITH d AS MATERIALIZED (SELECT DISTINCT {text} AS v FROM {source} t), "
        f"p AS MATERIALIZED (SELECT v, {plain} AS plain FROM d WHERE regexp_matches(v, '\\p{{Nd}}')) "
        "SELECT list(v) FROM p WHERE len(list_filter($written, lambda x: contains(plain, x))) > 0",
        {"written": written},
    ).fetchone()[0]
    return (f"list_contains($hits, {text})", hits) if hits else ("false", [])


def _names_in(line: str) -> str:
    """SQL: true when an unreadable line's letters hold the surname and forename of one of the
    child's name keys (`$names`: `SURNAME|FORENAME|date`)."""
    letters = f"upper(regexp_replace(strip_accents({line}), '[^A-Za-z]', '', 'g'))"
    return (
        f"({line} IS NOT NULL AND len(list_filter($names, lambda p: contains({letters}, split_part(p, '|', 1)) "
        f"AND contains({letters}, split_part(p, '|', 2)))) > 0)"
    )


def _others(kinds: dict[str, str]) -> str:
    """SQL: true for a record carrying a valid NHS number or UPN that is not one of the
    child's (`$nhs`, `$upn`; an invalid one may be a slip of the keyboard, and stays)."""
    parts = []
    for kind, param, valid in (("nhs_number", "nhs", nhs_number_sql), ("upn", "upn", upn_sql)):
        if node := kinds.get(kind):
            parts.append(
                f"({node} IS NOT NULL AND len(${param}) > 0 AND NOT list_contains(${param}, {node}) "
                f"AND {valid(f'substr({node}, 5)')})"
            )
    return " OR ".join(parts) or "false"


def search(con: duckdb.DuckDBPyConnection, contracts: list[Contract], person: Person) -> Found:
    """Every record the personal zone holds about the child (or children) the identifiers
    given belong to, marked with how each was found."""
    given = _given_nodes(con, person)
    linked = _linked(con, _carried_with(con, contracts, given))
    similar = _similar_names(con, linked)
    child = linked | similar
    own = {
        "nhs": sorted(n for n in child if n.startswith("nhs:")),
        "upn": sorted(n for n in child if n.startswith("upn:")),
    }
    names = sorted(n.removeprefix("name:") for n in child if n.startswith("name:"))
    params = {
        "child": sorted(child),
        "given": given,
        "similar": sorted(similar),
        "nhs": own["nhs"],
        "upn": own["upn"],
        "names": names,
        "written": _written_forms(child),
    }
    found: dict[str, pd.DataFrame] = {}
    for contract in contracts:
        kinds = nodes_sql(contract, "t")
        how = ", ".join(
            f"CASE WHEN list_contains($child, {sql}) THEN {literal(KIND_NAMES[kind])} END"
            for kind, sql in kinds.items()
        )
        others = _others(kinds)
        for place, source in _sources(con, contract).items():
            written, params["hits"] = _written_in(con, contract, place, source, params["written"])
            query = f"""
                SELECT {literal(place)} AS dataset,
                    CASE WHEN t._raw_line IS NOT NULL THEN 'an unreadable line holding '
                              || CASE WHEN list_has_any(_nodes, $given) THEN 'the identifier given'
                                      ELSE 'the child''s identifiers' END || ': review'
                         WHEN list_has_any(_nodes, $given) THEN 'the identifier given'
                         WHEN list_has_any(_nodes, $similar) THEN 'a similar name with the same date of birth: review'
                         WHEN NOT list_has_any(_nodes, $child) THEN 'an identifier in its text: review'
                         ELSE 'linked through '
                              || array_to_string(list_filter([{how or "NULL"}], lambda x: x IS NOT NULL), ', ')
                    END AS found_by,
                    t._source_sha256 AS delivery_sha256, t._row AS row,
                    {erasure_register.record_key_sql(contract, "t")} AS _record_key, t.*
                FROM (SELECT {_row_nodes(contract)} AS _nodes, * FROM {source} t) t
                WHERE (list_has_any(_nodes, $child) AND NOT ({others})) OR {_names_in("t._raw_line")}
                   OR {written}
                ORDER BY t._source_sha256, t._row
                """
            rows = con.execute(query, {k: v for k, v in params.items() if f"${k}" in query}).df()
            if len(rows):
                found[place] = rows
    return Found(found)


def export(found: Found, folder: Path) -> Path:
    """One workbook, a sheet per dataset, readable by its owner only. Each row leads with
    the dataset, how it was found, its delivery and row: the officer deletes the rows that are
    not the person's, and `reviewed` reads back what is left."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"subject_access_{dt.datetime.now():%Y%m%dT%H%M%S}.xlsx"
    book = Workbook()
    book.remove(book.active)
    for i, (place, rows) in enumerate(sorted(found.records.items()), start=1):
        sheet = book.create_sheet(f"{i:02d} {place.replace('/', ' ')}"[:31])
        shown = rows.drop(columns=["_nodes", "_record_key", "_source_sha256", "_row"])
        values = shown.astype(object).where(shown.notna(), None).itertuples(index=False, name=None)
        put_table(sheet, [str(c) for c in shown.columns], values)  # text as text: no formula from data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner-only from the first byte
    with os.fdopen(fd, "wb") as f:
        book.save(f)
    return path


def reviewed(found: Found, workbook: Path) -> Found:
    """The records found that the officer kept in the reviewed export (by dataset, delivery
    and row; a row added to the workbook by hand matches nothing)."""
    kept: set[tuple[str, str, int]] = set()
    book = load_workbook(workbook, read_only=True)
    for sheet in book.worksheets:
        rows = sheet.iter_rows(values_only=True)
        header = list(next(rows, []))
        if header[: len(LEAD)] != LEAD:
            raise ValueError(f"{workbook.name}: sheet {sheet.title!r} is not a subject access export")
        kept |= {(str(r[0]), str(r[2]), int(r[3])) for r in rows if r and r[0] is not None}
    book.close()
    records = {}
    for place, rows in found.records.items():
        keep = [(place, sha, int(row)) in kept for sha, row in zip(rows["delivery_sha256"], rows["row"], strict=True)]
        if any(keep):
            records[place] = rows[keep]
    return Found(records)


def erase(
    personal: duckdb.DuckDBPyConnection,
    shared: duckdb.DuckDBPyConnection,
    contracts: list[Contract],
    found: Found,
    key: PseudonymKey,
    audit_entry: int,
    whole_person: bool = True,
) -> dict[str, int]:
    """Delete the records found from the personal zone (typed rows and quarantine), the link
    tables of the child, and the person's pseudonymous rows in the shared store tables of the
    datasets erased from (the next refresh rebuilds those from what is left); write the
    records into the erasure register under the audit entry that authorised it, with each
    record's own key and, for `whole_person` (everything found was erased, not a reviewed
    part), every identifier the records carry: keyed hashes, so nothing erased comes back.
    Returns rows deleted per place (counts only)."""
    erasure_register.ensure_register(personal)
    by_key = {c.key: c for c in contracts}
    counts: dict[str, int] = {}
    for place, rows in found.records.items():
        contract = by_key[place.removesuffix(QUARANTINE)]
        places = [f"{sha}:{row}" for sha, row in zip(rows["delivery_sha256"], rows["row"], strict=True)]
        if place.endswith(QUARANTINE):
            where = (
                f"partner = {literal(contract.partner)} AND dataset = {literal(contract.dataset)} "
                "AND list_contains($p, source_sha256 || ':' || source_row)"
            )
            counts[place] = scalar(personal, f"DELETE FROM quarantine WHERE {where}", {"p": places})
        else:
            where = "list_contains($p, _source_sha256 || ':' || _row)"
            counts[place] = scalar(personal, f"DELETE FROM {quote(contract.table)} WHERE {where}", {"p": places})
        personal.execute(
            "INSERT INTO erased_records SELECT ?, ?, sha, row, line, file, ?, now() FROM "
            "(SELECT unnest(?::VARCHAR[]) AS sha, unnest(?::BIGINT[]) AS row, unnest(?::BIGINT[]) AS line, "
            "unnest(?::VARCHAR[]) AS file)",
            [contract.partner, contract.dataset, audit_entry, list(rows["delivery_sha256"]), list(rows["row"]),
             list(rows["_line"]), list(rows["_source_file"])],
        )  # fmt: skip
    nodes = found.nodes
    record_keys = sorted({k for rows in found.records.values() for k in rows["_record_key"] if k})
    erasure_register.record_identities(personal, record_keys + (nodes if whole_person else []), key, audit_entry)
    counts["link tables"] = erase_links(personal, nodes)
    forget_known_names(personal)  # the next refresh saves them again, without the person
    inner, outer = hmac_pads(key)
    keys = personal.execute(f"SELECT {hmac_sql('i')} FROM unnest(?::VARCHAR[]) u(i)", [outer, inner, nodes])
    pseudonyms = [r[0] for r in keys.fetchall()]
    tables = {by_key[p.removesuffix(QUARANTINE)].table for p in found.records} | {"child_link"}
    for (table,) in shared.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'person_key' AND database_name = "
        "current_database() AND list_contains(?, table_name)",
        [sorted(tables)],
    ).fetchall():
        deleted = shared.execute(
            f"DELETE FROM {quote(table)} WHERE list_contains(?, person_key) RETURNING 1", [pseudonyms]
        ).fetchall()
        counts[f"shared store: {table}"] = len(deleted)
    return counts
