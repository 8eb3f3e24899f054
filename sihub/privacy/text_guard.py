"""The text guard: identifiers embedded in shared text are found and replaced by a marker
before a row is written to the shared store.

The leak guard judges whole cells; a partner's free-typed column can hide an identifier inside
a sentence (`Called by mum re NHS 943-476-5919`, `lives at NR1 3QU`, `spoke to Jane Smith`).
Each distinct value of a shared text column is run through the rules in order, in SQL; a rule
that changes a value counts its rows as that rule's finding. Findings name table, column and
rule, never a value.

Rules: e-mail addresses; NHS numbers with any spacing or punctuation that pass Modulus 11;
UPNs; PNC references; full UK postcodes; phone numbers; forename and surname pairs known to the
personal zone (either order, any case or accents); and dates of birth next to a name or a
birth keyword.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from sihub.core.contracts import Contract, IdentifierKind
from sihub.core.db import quote, table_exists
from sihub.privacy.identifiers import nhs_number_sql

NAME_MARKER = "[NAME]"
DATE = r"(\d{1,2}[/.-]\d{1,2}[/.-](\d{4}|\d{2})|\d{4}-\d{2}-\d{2}|\d{1,2}(st|nd|rd|th)? [A-Za-z]{3,9},? \d{4})"
# (rule, regular expression, marker): applied in this order, each to the previous one's output
PATTERNS = (
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[EMAIL]"),
    ("upn", r"\b[A-Za-z][0-9]{11}[0-9A-Za-z]\b", "[UPN]"),
    ("pnc_id", r"\b([0-9]{2}|[0-9]{4})/[0-9]{1,7}[A-Za-z]\b", "[PNC]"),
    ("postcode", r"\b[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}\b", "[POSTCODE]"),
)
# ten digits with up to three separators between any two and no digit either side (letters may
# touch: `NHS9434765919`): `943 476 5919`, `943-476-5919`, `NHS:9434765919`; group 2 is the number
NHS_CANDIDATE = r"(^|[^0-9])([0-9]([ .:/-]{0,3}[0-9]){9})([^0-9]|$)"
PHONE = r"(\+44[ (]*0?\)? ?|\b0)[0-9]([ -]?[0-9]){8,9}\b"
BIRTH_WORDS = r"(\bd\.?o\.?b\b\.?|\bborn\b|\bdate of birth\b)"
RULES = ("email", "upn", "pnc_id", "postcode", "nhs_number", "phone", "forename and surname", "date of birth")
# a value needs one of these to hold any identifier the rules find (a single word holds none)
MAY_HOLD = r"[0-9@]|[^\s]\s+[^\s]"
# ... and a pseudonymous key (64 hex digits, no space) holds none: ruled out before any expression
NOT_A_KEY = "NOT (length(v) = 64 AND regexp_full_match(v, '[0-9a-f]{64}'))"


@dataclass(frozen=True)
class Finding:
    """An identifier where none may be: table, column, the rule or kind, and how many rows
    (0 for a column's name); never a value."""

    table: str
    column: str
    kind: str
    count: int

    def __str__(self) -> str:
        return f"{self.table}.{self.column}: {self.kind}" + (f" in {self.count} row(s)" if self.count else "")


def _nhs_sql(text: str) -> str:
    """SQL replacing each NHS-number-shaped run of digits that passes Modulus 11 by a marker."""

    def one_pass(t: str) -> str:
        valid = f"list_filter(regexp_extract_all({t}, '{NHS_CANDIDATE}', 2), lambda c: {nhs_number_sql(_digits('c'))})"
        return f"list_reduce(list_prepend({t}, {valid}), lambda acc, c: replace(acc, c, '[NHS NUMBER]'))"

    # a match takes the character after it, so two numbers one character apart need a second pass
    return one_pass(one_pass(text))


def _digits(text: str) -> str:
    return f"regexp_replace({text}, '[^0-9]', '', 'g')"


def _dates_sql(text: str) -> str:
    """SQL replacing a date that follows or precedes a name marker, or follows a birth keyword."""
    name = "\\[NAME\\]"
    expr = f"regexp_replace({text}, '({name}|{BIRTH_WORDS})([^0-9]{{0,30}}){DATE}', '\\1\\3[DOB]', 'gi')"
    return f"regexp_replace({expr}, '{DATE}([^0-9]{{0,30}}{name})', '[DOB]\\4', 'g')"


def known_names_table(
    con: duckdb.DuckDBPyConnection, personal: str, contracts: list[Contract], into: str = "_known_pairs"
) -> str | None:
    """Temp table `into` of every forename and surname pair the personal zone (attached as
    `personal`) holds, folded for matching (case, accents, spacing) and in both orders (`Jane
    Smith`, `Smith Jane`); None when no dataset has names."""
    selects = []
    for c in contracts:
        f, s = c.identifier_column(IdentifierKind.forename), c.identifier_column(IdentifierKind.surname)
        if f and s and table_exists(con, c.table, personal):
            selects.append(f"SELECT {quote(f)} AS f, {quote(s)} AS s FROM {personal}.{quote(c.table)}")
    if not selects:
        return None
    fold = "upper(strip_accents(trim({})))"
    pairs = f"SELECT DISTINCT {fold.format('f')} AS f, {fold.format('s')} AS s FROM ({' UNION ALL '.join(selects)})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {into} AS WITH p AS ({pairs}) "
        "SELECT DISTINCT pair FROM (SELECT f || ' ' || s AS pair FROM p UNION ALL SELECT s || ' ' || f FROM p) "
        "WHERE pair LIKE '_% _%'"
    )
    return into


def guard_values(
    con: duckdb.DuckDBPyConnection, values_sql: str, names_table: str | None, into: str, skip: str = "false"
) -> dict[str, dict[str, int]]:
    """Temp table `into` (c, v, guarded): each distinct value `v` of each column `c` of
    `values_sql` (columns `c`, `v`: many columns in one query, as statements cost more than
    rows here) that holds an identifier, and the value with each one replaced by a marker.
    Returns, per column, the rows each rule changed (columns and rules with none left out).
    `skip`: SQL over `v` for values to leave alone (judged once per distinct value)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_values AS SELECT c, v, n FROM "
        f"(SELECT c, v, count(*) AS n FROM ({values_sql}) WHERE v IS NOT NULL GROUP BY c, v) "
        f"WHERE {NOT_A_KEY} AND regexp_matches(v, '{MAY_HOLD}') AND NOT coalesce({skip}, false)"
    )
    names = _name_matches(con, names_table)
    marks = "'\\1" + NAME_MARKER + "\\2'"
    steps: list[Callable[[str], str]] = [
        *(lambda t, p=p, m=m: f"regexp_replace({t}, '{p}', '{m}', 'g')" for _, p, m in PATTERNS),
        _nhs_sql,
        lambda t: f"regexp_replace({t}, '{PHONE}', '[PHONE]', 'g')",
        lambda t: (
            f"list_reduce(list_prepend({t}, coalesce(m.pairs, [])), lambda a, p: regexp_replace(a, p, {marks}, 'gi'))"
        ),
        _dates_sql,
    ]
    # each rule reads the previous one's output (DuckDB resolves aliases left to right)
    outputs = [f"_s{i}" for i in range(len(steps))]
    inputs = ["t.v", *outputs[:-1]]
    columns = ", ".join(f"{step(i)} AS {o}" for step, i, o in zip(steps, inputs, outputs, strict=True))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _tg_steps AS SELECT t.c, t.v, t.n, {columns} FROM _tg_values t "
        f"LEFT JOIN {names} m ON m.v = t.v"
    )
    changed = ", ".join(
        f"coalesce(sum(n) FILTER ({o} IS DISTINCT FROM {i.removeprefix('t.')}), 0)"
        for i, o in zip(inputs, outputs, strict=True)
    )
    counts = con.execute(f"SELECT c, {changed} FROM _tg_steps GROUP BY c").fetchall()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote(into)} AS SELECT c, v, {outputs[-1]} AS guarded FROM _tg_steps "
        f"WHERE {outputs[-1]} IS DISTINCT FROM v"
    )
    con.execute("DROP TABLE _tg_steps")
    con.execute("DROP TABLE _tg_values")
    found = {c: {rule: n for rule, n in zip(RULES, ns, strict=True) if n} for c, *ns in counts}
    return {c: rules for c, rules in found.items() if rules}


def _name_matches(con: duckdb.DuckDBPyConnection, names_table: str | None) -> str:
    """Temp table (v, pairs): for each candidate value, regular expressions of the known name
    pairs it holds as two neighbouring words (found by joining word pairs, not by searching
    every value for every name)."""
    if names_table is None:
        con.execute("CREATE OR REPLACE TEMP TABLE _tg_names AS SELECT NULL::VARCHAR AS v, []::VARCHAR[] AS pairs")
        return "_tg_names"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tg_names AS
        WITH words AS (
            SELECT v, regexp_extract_all(v, '[\\pL][\\pL''’-]*') AS w FROM (SELECT DISTINCT v FROM _tg_values)
        ),
        bigrams AS (
            SELECT v, w[i] AS a, w[i + 1] AS b FROM words, range(1, len(w)) r(i)
        )
        SELECT v, list(DISTINCT '(^|[^\\pL])' || regexp_escape(a) || '[^\\pL]{{1,3}}' || regexp_escape(b)
            || '($|[^\\pL])') AS pairs
        FROM bigrams WHERE upper(strip_accents(a)) || ' ' || upper(strip_accents(b)) IN (SELECT pair FROM {names_table})
        GROUP BY v
        """
    )
    return "_tg_names"
