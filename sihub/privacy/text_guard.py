"""The text guard: identifiers embedded in shared text are found and replaced by a marker
before a row is written to the shared store.

The leak guard judges whole cells; a partner's free-typed column can hide an identifier inside
a sentence (`Called by mum re NHS 943-476-5919`, `lives at NR1 3QU`, `spoke to Jane Smith`).
Each distinct value of a shared text column is first normalised (zero-width characters
dropped, odd spaces made spaces, full-width digits and Cyrillic look-alike letters made plain)
and then run through the rules in order, in SQL; a rule that changes a value counts its rows as
that rule's finding. Findings name table, column and rule, never a value.

Rules: e-mail addresses (`x @ example.com` too); the partner references the personal zone
holds; UPNs and NHS numbers with any separators between the characters that pass their check
(DfE check letter, Modulus 11); PNC references; full UK postcodes; UK phone numbers; any
forename and surname pair the personal zone holds (either order, a middle name between, any
case, accents or punctuation: `Harrison, Kelly`, `Kelly Ann Harrison's`, `O’Brien`); and dates
(numeric, ISO, written out) next to a name or a birth word.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from sihub.core.contracts import Contract, IdentifierKind
from sihub.core.db import quote, scalar, table_exists
from sihub.privacy.identifiers import nhs_number_sql, pnc_sql, upn_sql

NAME_MARKER = "[NAME]"
# what may stand between an identifier's characters: `917–962–2410`, `E926 2002 1300 4`; not `#`,
# which numbers things (the hub's own delivery labels: `… 2026-11-28 #12`)
SEP = "[^0-9A-Za-z#]{0,4}"
MONTH = "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\\.?"
DATE = (
    r"(\d{4}[/.-]\d{1,2}[/.-]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{8}|"
    rf"\d{{1,2}}(st|nd|rd|th)?( of)? {MONTH},? \d{{4}}|{MONTH} \d{{1,2}}(st|nd|rd|th)?,? \d{{4}})"
)
BIRTH_WORDS = r"(\bd\.? ?o\.? ?b\b\.?|\bborn\b|\bdate of birth\b|\bbirth ?date\b)"
# (rule, regular expression, marker) of the plain rules, each applied to the previous one's output
EMAIL = r"[A-Za-z0-9._%+-]+ *(@|\(at\)|\[at\]) *[A-Za-z0-9-]+( *(\.|\(dot\)|\[dot\]) *[A-Za-z0-9-]+)+"
PNC_CANDIDATE = r"(^|[^0-9])(([0-9]{2}|[0-9]{4})/[0-9]{1,7}[^0-9A-Za-z]{0,2}[A-Za-z])([^0-9A-Za-z]|$)"
POSTCODE = rf"\b[A-Za-z]{{1,2}}[0-9][A-Za-z0-9]?{SEP}[0-9][A-Za-z]{{2}}\b"
# candidates, checked before they are replaced; group 2 is the identifier (the groups around
# keep a digit or letter from touching it, so `9434765919` inside a longer number is not one)
UPN_CANDIDATE = rf"(^|[^0-9])([A-Za-z]({SEP}[0-9]){{11}}{SEP}[0-9A-Za-z])([^0-9A-Za-z]|$)"
GAP = (
    "[ ().-]{0,3}"  # between a phone number's digits: spaces, brackets, dots and dashes, not `/` or `:` (dates, times)
)
PHONE_CANDIDATE = (
    rf"(^|[^0-9])((\+|00){GAP}44{GAP}(\(0\))?{GAP}[0-9]({GAP}[0-9]){{8,9}}|\(?0[0-9]({GAP}[0-9]){{8,9}})([^0-9]|$)"
)
RULES = (
    "email", "person reference", "upn", "nhs_number", "pnc_id", "postcode", "phone", "forename and surname",
    "date of birth",
)  # fmt: skip
# a value needs one of these to hold any identifier the rules find (a single word holds none)
MAY_HOLD = r"[0-9@]|\pL[^\pL]+\pL"
# ... and a pseudonymous key (64 hex digits, no space) holds none: ruled out before any expression
# (and a run's id, a UUID)
NOT_A_KEY = (
    "NOT ((length(v) = 64 AND regexp_full_match(v, '[0-9a-f]{64}')) "
    "OR (length(v) = 36 AND regexp_full_match(v, '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}')))"
)
# letters of other scripts that pass for Latin ones (NFKC leaves them alone)
CONFUSABLES = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "һ": "h", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x",
}  # fmt: skip


def _look_alikes() -> tuple[str, str]:
    """`translate` strings making plain every character that stands for a Latin letter or a
    digit: any script's decimal digits (Arabic-Indic, full-width, mathematical), letters NFKC
    folds to one Latin letter (full-width, mathematical), and the confusables above."""
    source, target = [], []
    points = (*range(0x80, 0x10000), *range(0x1D400, 0x1D800), *range(0x1FBF0, 0x1FBFA))  # mathematical, segmented
    for point in points:
        char = chr(point)
        if (digit := unicodedata.digit(char, None)) is not None and unicodedata.category(char) == "Nd":
            plain = str(digit)
        else:
            plain = CONFUSABLES.get(char) or unicodedata.normalize("NFKC", char)
        if len(plain) == 1 and plain.isascii() and plain.isalnum():
            source.append(char)
            target.append(plain)
    return "".join(source), "".join(target)


LOOK_ALIKES = _look_alikes()
# words that make a name into a place's or service's (`James Paget University Hospital` aside,
# which is a known name followed by one): never taken for a middle name
PLACE_WORDS = (
    "['hospital', 'university', 'school', 'academy', 'college', 'centre', 'center', 'road', 'street', 'lane', "
    "'court', 'house', 'primary', 'infant', 'junior', 'high', 'church', 'park', 'trust', 'unit', 'ward', "
    "'clinic', 'surgery', 'practice', 'station', 'hall', 'close', 'avenue', 'way', 'drive', 'place', 'green']"
)
ODD_SPACES = "[\\x{00A0}\\x{2000}-\\x{200A}\\x{202F}\\x{205F}\\x{3000}\\t]"
ZERO_WIDTH = "[\\x{200B}-\\x{200D}\\x{2060}\\x{FEFF}\\x{00AD}]"


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


def normalised_sql(text: str) -> str:
    """SQL for the text as the rules read it: zero-width characters dropped, odd spaces made
    spaces, full-width digits and Cyrillic look-alike letters made plain."""
    spaced = f"regexp_replace(regexp_replace({text}, '{ZERO_WIDTH}', '', 'g'), '{ODD_SPACES}', ' ', 'g')"
    return f"translate({spaced}, '{LOOK_ALIKES[0]}', '{LOOK_ALIKES[1]}')"


def _checked_sql(candidate: str, valid: Callable[[str], str], marker: str, keep: str = "") -> Callable[[str], str]:
    """A rule replacing each `candidate` match (group 2) that `valid` accepts (SQL over the
    match's letters, digits and `keep` characters, upper case) by `marker`."""

    def one_pass(t: str) -> str:
        plain = f"upper(regexp_replace(c, '[^0-9A-Za-z{keep}]', '', 'g'))"
        found = f"list_filter(regexp_extract_all({t}, '{candidate}', 2), lambda c: {valid(plain)})"
        return f"list_reduce(list_prepend({t}, {found}), lambda acc, c: replace(acc, c, '{marker}'))"

    # a match takes the character after it, so two identifiers one character apart need a second pass
    return lambda t: one_pass(one_pass(t))


def _nhs_runs_sql(text: str) -> str:
    """SQL for the NHS numbers in a (plain) text, each as its list of digit groups: any run of
    neighbouring digit groups that makes ten digits and passes Modulus 11, whatever stands
    before it (`seen 03/04/2025 924 368 2865`: the date's groups are tried with the number's
    and alone, never instead of it)."""
    groups = f"regexp_extract_all({text}, '[0-9]+')"
    runs = (
        f"flatten(list_transform(range(1, len({groups}) + 1), "
        f"lambda i: list_transform(range(0, 10), lambda k: {groups}[i:i + k])))"
    )
    digits = "array_to_string(w, '')"
    return f"list_filter({runs}, lambda w: length({digits}) = 10 AND {nhs_number_sql(digits)})"


def nhs_numbers_sql(text: str) -> str:
    """SQL for the NHS numbers a text holds, as ten digits each, read as the guard reads them
    (any script's digits, any separators)."""
    return f"list_transform({_nhs_runs_sql(normalised_sql(text))}, lambda w: array_to_string(w, ''))"


def _nhs_sql(text: str) -> str:
    """SQL replacing every NHS number in the text (`_nhs_runs_sql`) by a marker."""
    patterns = (
        f"list_transform({_nhs_runs_sql(text)}, lambda w: '(^|[^0-9])' || array_to_string(w, '{SEP}') || '([^0-9]|$)')"
    )
    each = "lambda a, p: regexp_replace(a, p, '\\1[NHS NUMBER]\\2', 'g')"
    return f"list_reduce(list_prepend({text}, {patterns}), {each})"


def _with_digits(least: int, rule: Callable[[str], str]) -> Callable[[str], str]:
    """`rule`, run only on text with at least `least` digits (an NHS number has ten): most
    candidate values have a few or none, and the numeric rules are the costly ones."""
    return lambda t: f"CASE WHEN length(regexp_replace({t}, '[^0-9]', '', 'g')) >= {least} THEN {rule(t)} ELSE {t} END"


def _regex_sql(pattern: str, marker: str, flags: str = "g") -> Callable[[str], str]:
    return lambda t: f"regexp_replace({t}, '{pattern}', '{marker}', '{flags}')"


def _each_sql(column: str, marker: str) -> Callable[[str], str]:
    """A rule replacing, case-insensitively, each regular expression in the list `column`
    (the known names or references the value holds) by `marker`, keeping group 1 and 2."""
    each = f"lambda a, p: regexp_replace(a, p, '\\1{marker}\\2', 'gi')"
    return lambda t: f"list_reduce(list_prepend({t}, coalesce({column}, [])), {each})"


def _dates_sql(text: str) -> str:
    """SQL replacing a date that follows or precedes a name marker, or follows a birth word."""
    name = "\\[NAME\\]"
    expr = f"regexp_replace({text}, '({name}|{BIRTH_WORDS})([^0-9]{{0,30}}){DATE}', '\\1\\3[DOB]', 'gi')"
    after = DATE.count("(") + 1  # the group after the date's own (RE2 rewrites \\1 to \\9 only)
    return f"regexp_replace({expr}, '{DATE}([^0-9]{{0,30}}{name})', '[DOB]\\{after}', 'gi')"


def known_names_table(
    con: duckdb.DuckDBPyConnection, personal: str, contracts: list[Contract], into: str = "_known_ids"
) -> str | None:
    """Temp table `into` (kind, value) of what the personal zone (attached as `personal`) holds
    that text may name a person by: every forename and surname pair (`name`: letters only,
    upper case, accents folded, in both orders) and every partner reference (`ref`: letters
    and digits, upper case). None when no dataset holds either."""
    names, refs = [], []
    for c in contracts:
        if not table_exists(con, c.table, personal):
            continue
        f, s = c.identifier_column(IdentifierKind.forename), c.identifier_column(IdentifierKind.surname)
        if f and s:
            names.append(f"SELECT {quote(f)} AS f, {quote(s)} AS s FROM {personal}.{quote(c.table)}")
        if r := c.identifier_column(IdentifierKind.person_ref):
            refs.append(f"SELECT {quote(r)} AS r FROM {personal}.{quote(c.table)}")
    if not names and not refs:
        return None
    fold = "upper(regexp_replace(strip_accents({}), '[^A-Za-z]', '', 'g'))"
    pairs = f"SELECT DISTINCT {fold.format('f')} AS f, {fold.format('s')} AS s FROM ({' UNION ALL '.join(names)})"
    selects = []
    if names:
        selects.append(
            f"SELECT 'name' AS kind, pair AS value FROM (WITH p AS ({pairs}) SELECT f || ' ' || s AS pair FROM p "
            "WHERE f <> '' AND s <> '' UNION SELECT s || ' ' || f FROM p WHERE f <> '' AND s <> '')"
        )
        selects.append(f"SELECT DISTINCT 'forename', f FROM ({pairs}) WHERE f <> ''")
    if refs:
        ref = "upper(regexp_replace(r, '[^0-9A-Za-z]', '', 'g'))"
        selects.append(f"SELECT DISTINCT 'ref', {ref} FROM ({' UNION ALL '.join(refs)}) WHERE length({ref}) >= 5")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS {' UNION ALL '.join(selects)}")
    return into


SAVED_NAMES, SAVED_BY = "known_names", "known_names_run"


def save_known_names(con: duckdb.DuckDBPyConnection, contracts: list[Contract], run_id: str) -> dict[str, int]:
    """`known_names_table` saved in the connection's own database (the personal zone) once per
    refresh, stamped with the run, for that run's governed steps and leak guard to read:
    building it reads every dataset's names (half a second at county), which each of fifteen
    steps did again, and steps in separate processes could each see a different moment.
    Returns how many of each kind (counts only)."""
    forget_known_names(con)
    built = known_names_table(con, scalar(con, "SELECT current_database()"), contracts)
    if built is None:
        return {}
    con.execute(f"CREATE TABLE {SAVED_NAMES} AS SELECT * FROM {built}")
    con.execute(f"CREATE TABLE {SAVED_BY} AS SELECT ?::VARCHAR AS run_id", [run_id])
    return dict(con.execute(f"SELECT kind, count(*) FROM {SAVED_NAMES} GROUP BY ALL ORDER BY 1").fetchall())


def known_names(
    con: duckdb.DuckDBPyConnection, personal: str, contracts: list[Contract], run_id: str | None
) -> str | None:
    """The table of known names to guard with: the one this run saved in the attached personal
    zone `personal`, or, where this run saved none (a step materialised on its own), one built
    afresh: names saved by another run may miss a child delivered since."""
    saved = table_exists(con, SAVED_BY, personal) and run_id is not None
    if saved and scalar(con, f"SELECT count(*) FROM {personal}.{SAVED_BY} WHERE run_id = ?", [run_id]):
        return f"{personal}.{SAVED_NAMES}"
    return known_names_table(con, personal, contracts)


def forget_known_names(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the saved names (personal-zone connection): after an erasure or a purge they may
    name a person the zone no longer holds."""
    con.execute(f"DROP TABLE IF EXISTS {SAVED_BY}")
    con.execute(f"DROP TABLE IF EXISTS {SAVED_NAMES}")


def guard_values(
    con: duckdb.DuckDBPyConnection, values_sql: str, known: str | None, into: str, skip: str = "false"
) -> dict[str, dict[str, int]]:
    """Temp table `into` (c, v, guarded): each distinct value `v` of each column `c` of
    `values_sql` (columns `c`, `v`: many columns in one query, as statements cost more than
    rows here) that holds an identifier, and the value with each one replaced by a marker.
    Returns, per column, the rows each rule changed (columns and rules with none left out).
    `known`: the table of `known_names_table`; `skip`: SQL over `v` for values to leave alone
    (judged once per distinct value)."""
    con.execute(
        # materialised at each step: a filter on a value would otherwise be pushed below the
        # grouping and judged on every row instead of every distinct value
        "CREATE OR REPLACE TEMP TABLE _tg_values AS WITH d AS MATERIALIZED ("
        f"SELECT c, v, count(*) AS n FROM ({values_sql}) WHERE v IS NOT NULL GROUP BY c, v), "
        f"k AS MATERIALIZED (SELECT * FROM d WHERE {NOT_A_KEY}), "
        f"x AS MATERIALIZED (SELECT c, v, {normalised_sql('v')} AS u, n FROM k), "
        f"y AS MATERIALIZED (SELECT * FROM x WHERE regexp_matches(u, '{MAY_HOLD}')) "
        f"SELECT * FROM y WHERE NOT coalesce({skip}, false)"
    )
    matches = _known_matches(con, known)
    steps: list[Callable[[str], str]] = [
        _regex_sql(EMAIL, "[EMAIL]", "gi"),
        _each_sql("m.refs", "[REFERENCE]"),
        _with_digits(11, _checked_sql(UPN_CANDIDATE, upn_sql, "[UPN]")),
        _with_digits(10, _nhs_sql),
        _checked_sql(PNC_CANDIDATE, pnc_sql, "[PNC]", keep="/"),  # the check letter: `24/7 A&E` is none
        _regex_sql(POSTCODE, "[POSTCODE]"),
        _with_digits(10, _checked_sql(PHONE_CANDIDATE, lambda _: "true", "[PHONE]")),
        _each_sql("m.names", NAME_MARKER),
        _dates_sql,
    ]
    # each rule reads the previous one's output, one query level each: a column alias read in
    # the same SELECT is resolved by copying its expression, so nine rules that read their input
    # several times made a statement that took seconds to plan for three values
    outputs = [f"_s{i}" for i in range(len(steps))]
    inputs = ["u", *outputs[:-1]]
    query = f"SELECT t.c, t.v, t.u, t.n, m.names, m.refs FROM _tg_values t LEFT JOIN {matches} m ON m.u = t.u"
    for step, i, o in zip(steps, inputs, outputs, strict=True):
        query = f"SELECT *, {step(i)} AS {o} FROM ({query}) m"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _tg_steps AS {query}")
    changed = ", ".join(
        f"coalesce(sum(n) FILTER ({o} IS DISTINCT FROM {i}), 0)" for i, o in zip(inputs, outputs, strict=True)
    )
    counts = con.execute(f"SELECT c, {changed} FROM _tg_steps GROUP BY c").fetchall()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote(into)} AS SELECT c, v, {outputs[-1]} AS guarded FROM _tg_steps "
        f"WHERE {outputs[-1]} IS DISTINCT FROM u"
    )
    for table in ("_tg_steps", "_tg_values", matches):
        con.execute(f"DROP TABLE {table}")
    found = {c: {rule: n for rule, n in zip(RULES, ns, strict=True) if n} for c, *ns in counts}
    return {c: rules for c, rules in found.items() if rules}


def _known_matches(con: duckdb.DuckDBPyConnection, known: str | None) -> str:
    """Temp table (u, names, refs): for each candidate value, regular expressions of the known
    names and references it holds, found by joining its words (not by searching every value
    for every name). A name is a forename word or two, then (past at most one middle name) a
    surname word or two: letter runs, so `O’Brien` is `O` + `Brien` and `Harrison's` holds
    `Harrison`."""
    if known is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _tg_known AS SELECT NULL::VARCHAR AS u, []::VARCHAR[] AS names, "
            "[]::VARCHAR[] AS refs"
        )
        return "_tg_known"
    gap = "[^\\pL]{1,3}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tg_known AS
        WITH _tg_forenames AS (SELECT coalesce(list(value), []) AS forenames FROM {known} WHERE kind = 'forename'),
        _tg_words AS (SELECT u, regexp_extract_all(u, '\\pL+') AS w FROM (SELECT DISTINCT u FROM _tg_values)),
        _tg_spans AS (  -- forename words [i, i + a], surname words [j, j + b]
            SELECT u, w, i, j, b, upper(strip_accents(array_to_string(w[i:i + a], ''))) || ' '
                   || upper(strip_accents(array_to_string(w[j:j + b], ''))) AS pair
            FROM _tg_words, _tg_forenames, range(1, len(w) + 1) r(i), range(0, 2) fa(a), range(1, 4) skip(k),
                 range(0, 2) fb(b), LATERAL (SELECT i + a + k AS j)
            WHERE j + b <= len(w)
              -- a word between forename and surname is a middle name if it is someone's forename, or a
              -- capitalised word that names no place (`Kelly Ann Harrison`; `Elizabeth Hospital King`
              -- names no one)
              AND (k = 1 OR list_bool_and(list_transform(w[i + a + 1:j - 1], lambda x:
                  list_contains(forenames, upper(strip_accents(x)))
                  OR (regexp_full_match(x, '\\p{{Lu}}\\p{{Ll}}+') AND NOT list_contains({PLACE_WORDS}, lower(x))))))
        ),
        _tg_name_hits AS (
            SELECT u, list(DISTINCT '(^|[^\\pL])' || array_to_string(list_transform(w[i:j + b],
                   lambda x: regexp_escape(x)), '{gap}') || '($|[^\\pL])') AS names
            FROM _tg_spans WHERE pair IN (SELECT value FROM {known} WHERE kind = 'name') GROUP BY u
        ),
        _tg_tokens AS (  -- up to three neighbouring runs of letters and digits: `LCS-1003083`, `NP 7384 0199`
            SELECT u, w[i:i + k] AS run FROM (SELECT u, regexp_extract_all(u, '[0-9A-Za-z]+') AS w FROM
                (SELECT DISTINCT u FROM _tg_values)), range(1, len(w) + 1) r(i), range(0, 3) n(k)
            WHERE i + k <= len(w)
        ),
        _tg_ref_hits AS (
            SELECT u, list(DISTINCT '(^|[^0-9A-Za-z])'
                   || array_to_string(list_transform(run, lambda x: regexp_escape(x)), '[^0-9A-Za-z]{{0,3}}')
                   || '($|[^0-9A-Za-z])') AS refs
            FROM _tg_tokens WHERE upper(array_to_string(run, '')) IN (SELECT value FROM {known} WHERE kind = 'ref')
            GROUP BY u
        )
        SELECT u, n.names, r.refs FROM _tg_name_hits n FULL JOIN _tg_ref_hits r USING (u)
        """
    )
    return "_tg_known"
