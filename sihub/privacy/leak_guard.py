"""The leak guard: before anything is published, scan the shared store and the outputs for
identifiers, by column name and by value. A finding names the table, column and kind of
identifier and how many values, never a value.

Value checks: valid NHS numbers (Modulus 11, any spacing), valid UPNs, full UK postcodes, and
"forename surname" pairs known in the personal zone.
"""

from __future__ import annotations

import duckdb

from sihub.core.change_tracking import content
from sihub.core.contracts import Classification, Contract
from sihub.core.db import literal, quote, scalar
from sihub.privacy.identifiers import VALIDITY_SQL, postcode_sql
from sihub.privacy.text_guard import Finding, guard_values

IDENTIFIER_NAMES = {
    "nhs_number", "nhs_no", "nhs", "upn", "forename", "surname", "first_name", "last_name", "given_name",
    "family_name", "full_name", "dob", "date_of_birth", "birth_date", "postcode", "post_code", "address",
    "person_ref", "pnc_id", "child_ref",
}  # fmt: skip
# a postcode in a shared column is a whole value of postcode length, not a pattern within text
VALUE_CHECKS = VALIDITY_SQL | {"postcode": lambda t: f"(length({t}) BETWEEN 5 AND 8 AND {postcode_sql(t)})"}


class LeakFound(Exception):
    """Identifiers where none may be; the message names tables and columns, never values."""

    def __init__(self, findings: list[Finding]):
        super().__init__("identifiers found: " + "; ".join(map(str, findings)))
        self.findings = findings


def identifier_names(contracts: list[Contract]) -> set[str]:
    """Column names that mean an identifier: the usual ones and every contract's identifier columns."""
    named = {
        n for c in contracts for n, col in c.columns.items() if col.classification == Classification.direct_identifier
    }
    return IDENTIFIER_NAMES | named


def scan(
    con: duckdb.DuckDBPyConnection,
    database: str,
    contracts: list[Contract],
    names_table: str | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Every identifier in the tables of `database` (an attached or the main database), but
    those in `skip`."""
    bad_names = identifier_names(contracts)
    columns = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
        "AND NOT internal ORDER BY table_name, column_index",
        [database],
    ).fetchall()
    findings, cells, texts = [], [], []
    for table, column, data_type in columns:
        if table in skip:
            continue
        if column.lower() in bad_names:
            findings.append(Finding(table, column, "identifier column name", 0))
        if data_type != "VARCHAR":
            continue
        ref, place = f"{database}.{quote(table)}", literal(f"{table}.{column}")
        cells.append(f"SELECT {place} AS c, {quote(column)} AS v FROM {ref}")
        texts.append(f"SELECT {place} AS c, {without_label_date(quote(column))} AS v FROM {ref}")
    if cells:  # whole cells, all columns in one statement: planning the checks costs more than most columns
        kinds = [*VALUE_CHECKS, "forename and surname"]
        rows = con.execute(_value_counts(" UNION ALL ".join(cells), names_table)).fetchall()
        counts = {place: ns for place, *ns in rows}
        for table, column, _ in columns:
            ns = counts.get(f"{table}.{column}", ())
            findings += [Finding(table, column, kind, n) for kind, n in zip(kinds, ns, strict=False) if n]
    if texts:  # inside text, all columns at once: the values no whole-cell check flags (counted once)
        whole = " OR ".join(_whole_cell_checks(names_table))
        embedded = guard_values(con, " UNION ALL ".join(texts), names_table, "_leak_guarded", skip=whole)
        con.execute("DROP TABLE _leak_guarded")
        for place, rules in sorted(embedded.items()):
            table, column = place.split(".", 1)
            findings += [Finding(table, column, f"{rule} within text", n) for rule, n in rules.items()]
    return findings


# A delivery's label as `sihub.intake.archive.label` writes it: `partner/dataset 2026-12-05 #3`
LABEL = r"[a-z][a-z0-9_]*/[a-z][a-z0-9_]* (19|20)[0-9]{2}-[0-9]{2}-[0-9]{2} #[0-9]+"


def without_label_date(v: str) -> str:
    """SQL: the value, but a delivery label's date taken out. The date is the hub's own and,
    read with the digits a dataset's name ends in (`cin_section_47 2026-12-05`), can make ten
    digits that pass Modulus 11 on some days: a false finding that would block publication.
    Only a real calendar date goes; the label's other parts are still scanned, and digits
    where a date stands that are no date (`_94 3476-59-19`) are read as any text is."""
    date = f"split_part({v}, ' ', 2)"
    is_label = (
        f"contains({v}, ' #') AND regexp_full_match({v}, '{LABEL}') AND try_strptime({date}, '%Y-%m-%d') IS NOT NULL"
    )
    return f"CASE WHEN {is_label} THEN replace({v}, ' ' || {date} || ' ', ' ') ELSE {v} END"


# Every value check needs a value of at most 13 characters (a UPN; the rest are shorter) or one
# with white space in it (a spaced NHS number, a padded PNC ID, "forename surname"). So a
# 64-character pseudonymous key is ruled out by its length alone, before any regular expression.
# White space is what `\\s` matches in the checks' expressions (RE2): space, tab, LF, FF and CR;
# five plain searches cost a third of one regular expression.
WHITE_SPACE = (32, 9, 10, 12, 13)


def may_be_identifier(v: str) -> str:
    """SQL: true for a value some value check could flag."""
    return f"(length({v}) <= 13 OR {' OR '.join(f'contains({v}, chr({c}))' for c in WHITE_SPACE)})"


def _whole_cell_checks(names_table: str | None) -> list[str]:
    """SQL conditions on a value `v`, one per whole-cell check, in `VALUE_CHECKS` order then names."""
    checks = [check("v") for check in VALUE_CHECKS.values()]
    if names_table:  # the whole value a known forename and surname (`known_names_table`)
        fold = "upper(trim(regexp_replace(strip_accents(v), '[^A-Za-z]+', ' ', 'g')))"
        checks.append(f"{fold} IN (SELECT value FROM {names_table} WHERE kind = 'name')")
    return checks


def _value_counts(cells_sql: str, names_table: str | None) -> str:
    """SQL counting, per column `c` of `cells_sql` (columns `c`, `v`), the rows whose value `v`
    passes each value check. The checks run once per distinct candidate value, weighted by its
    rows: a column of a few codes over millions of rows costs a group-by, not millions of
    regular expressions."""
    checks = [f"coalesce(sum(n) FILTER ({check}), 0)" for check in _whole_cell_checks(names_table)]
    candidates = f"SELECT c, v, count(*) AS n FROM ({cells_sql}) WHERE {may_be_identifier('v')} GROUP BY c, v"
    return f"SELECT c, {', '.join(checks)} FROM ({candidates}) GROUP BY c"


SCANNED_DDL = "CREATE TABLE IF NOT EXISTS {db}.leak_scanned (table_name VARCHAR PRIMARY KEY, fingerprint VARCHAR)"


def _fingerprints(con: duckdb.DuckDBPyConnection, database: str, names_table: str | None) -> dict[str, str]:
    """Per table: its columns, an order-free hash of its rows and of the known names."""
    names = (
        scalar(con, f"SELECT count(*) || ':' || sum(hash(kind, value)::HUGEINT) FROM {names_table}")
        if names_table
        else ""
    )
    out = {}
    for table, columns in con.execute(
        "SELECT table_name, string_agg(column_name || ' ' || data_type, ',' ORDER BY column_index) "
        "FROM duckdb_columns() WHERE database_name = ? AND NOT internal GROUP BY ALL",
        [database],
    ).fetchall():
        out[table] = f"{columns}|{content(con, f'{database}.{table}')}|{names}"
    return out


def scan_changed(
    con: duckdb.DuckDBPyConnection, database: str, contracts: list[Contract], names_table: str | None
) -> tuple[list[Finding], int]:
    """`scan`, skipping each table whose columns, rows and the known names are exactly as at
    its last clean scan (hashing is some 80 times cheaper than scanning). A clean result is
    recorded in `leak_scanned`; a finding records nothing, so it is found again next time.
    Returns the findings and the number of tables scanned."""
    con.execute(SCANNED_DDL.format(db=database))
    now = _fingerprints(con, database, names_table)
    now.pop("leak_scanned")  # its own record is scanned every time (a few hashes), never recorded
    before = dict(con.execute(f"SELECT table_name, fingerprint FROM {database}.leak_scanned").fetchall())
    unchanged = frozenset(t for t, f in now.items() if before.get(t) == f)
    findings = scan(con, database, contracts, names_table, skip=unchanged)
    if not findings:
        con.execute(f"DELETE FROM {database}.leak_scanned")
        con.executemany(f"INSERT INTO {database}.leak_scanned VALUES (?, ?)", list(now.items()))
    return findings, len(now) + 1 - len(unchanged)
