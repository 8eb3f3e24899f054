"""Typing and validating a delivery under its contract, in SQL inside DuckDB.

Every row is typed and checked against the contract's row rules in one pass. A row that
breaks an `error` rule goes to quarantine with every rule it broke (the first one named, with
the column and the reason) and the row as sent (personal zone only, for subject access); a
row that breaks only `warn` rules is loaded and its warnings recorded. Values of identifier
and sensitive columns are never copied into quarantine reasons or values.
rows_in = rows_loaded + rows_quarantined, always.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from sihub.core.contracts import Column, Contract
from sihub.core.db import literal, quote
from sihub.intake import archive
from sihub.privacy import erasure_register
from sihub.privacy.generalise import age_sql
from sihub.privacy.identifiers import VALIDITY_SQL
from sihub.privacy.keys import PseudonymKey
from sihub.privacy.pseudonymise import hmac_sql, nodes_sql
from sihub.validation.current import current_rows
from sihub.validation.rules import IDENTIFIER_RULES, Rule, row_rules, shareable

SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
TRUE_WORDS = ("1", "true", "yes", "y", "t")
FALSE_WORDS = ("0", "false", "no", "n", "f")

DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    partner VARCHAR, dataset VARCHAR, source_file VARCHAR, source_sha256 VARCHAR,
    source_row BIGINT, source_line BIGINT, rule_id VARCHAR, severity VARCHAR,
    column_name VARCHAR, reason VARCHAR, value VARCHAR, all_rules VARCHAR[], event_month DATE, run_id VARCHAR,
    record JSON, raw_line VARCHAR
);
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS raw_line VARCHAR;
CREATE TABLE IF NOT EXISTS validation_warnings (
    partner VARCHAR, dataset VARCHAR, source_file VARCHAR, source_sha256 VARCHAR,
    source_row BIGINT, source_line BIGINT, rule_id VARCHAR, column_name VARCHAR, run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS recodings (
    partner VARCHAR, dataset VARCHAR, source_sha256 VARCHAR, column_name VARCHAR, value_sent VARCHAR,
    value_loaded VARCHAR, rows BIGINT, run_id VARCHAR
);
"""


@dataclass(frozen=True)
class Conformed:
    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    rows_warned: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # rule id -> rows breaking it
    rows_erased: int = 0  # read but left out: an erased record or person (not in rows_in)


def _text(name: str) -> str:
    return quote(f"_t_{name}")


def text_expr(column: Column, name: str) -> str:
    """SQL for a cell's text as validation sees it: trimmed, blank as NULL, and recoded by
    the column's `recode` map (matched ignoring case) before any rule looks at it."""
    cell = f"trim({quote(name)})"
    recode = column.recodings()
    if recode:
        whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in recode.items())
        cell = f"CASE lower({cell}) {whens} ELSE {cell} END"
    return f"NULLIF({cell}, '')"


def _record_recodings(con: duckdb.DuckDBPyConnection, contract: Contract, staged: str, run_id: str) -> None:
    """Count, per delivery, each value the recode maps changed (personal zone: what was sent
    stays on record beside the archived file, which keeps every cell as sent)."""
    parts = []
    for name, column in contract.columns.items():
        if recode := column.recodings():
            keys = "[" + ", ".join(map(literal, recode)) + "]"
            parts.append(
                f"SELECT _source_sha256, {literal(name)} AS column_name, trim({quote(name)}) AS value_sent, "
                f"{text_expr(column, name)} AS value_loaded, count(*) AS rows FROM {quote(staged)} "
                f"WHERE list_contains({keys}, lower(trim({quote(name)}))) GROUP BY ALL"
            )
    if parts:
        con.execute(
            f"INSERT INTO recodings SELECT ?, ?, q.*, ? FROM ({' UNION ALL '.join(parts)}) q",
            [contract.partner, contract.dataset, run_id],
        )


def _list(values) -> str:
    return "[" + ", ".join(literal(str(v)) for v in values) + "]"


def typed_expr(contract: Contract, column: Column, text: str) -> str:
    """SQL turning the trimmed text of a cell into the column's type (NULL when it cannot)."""
    if column.type == "string":
        return text
    if column.type == "integer":
        whole = f"TRY_CAST(TRY_CAST({text} AS DECIMAL(38, 6)) AS BIGINT)"
        return f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+(\\.0+)?') THEN {whole} END"
    if column.type == "decimal":
        return f"TRY_CAST({text} AS DOUBLE)"
    if column.type == "boolean":
        return (
            f"CASE WHEN lower({text}) IN ({', '.join(map(literal, TRUE_WORDS))}) THEN true "
            f"WHEN lower({text}) IN ({', '.join(map(literal, FALSE_WORDS))}) THEN false END"
        )
    stamp = f"try_strptime({text}, {_list(contract.formats_for(column))})"
    return f"CAST({stamp} AS DATE)" if column.type == "date" else stamp


def broken(rule: Rule) -> str:
    """SQL that is true when a row breaks the rule (over the `_t_` texts and typed columns)."""
    col = rule.column
    t, v = (_text(col), quote(col)) if col else (None, None)
    p = rule.params
    match rule.kind:
        case "duplicate_row":
            return "_dup_rank > 1"
        case "unique":
            return "_key_rank > 1"
        case "overlap":
            return "_held_key"
        case "future_event":
            return f"CAST({v} AS DATE) > current_date"
        case "excel_error":
            return f"starts_with({t}, '#') AND {t} IN ({', '.join(map(literal, p['values']))})"
        case "type":
            return f"{t} IS NOT NULL AND {v} IS NULL"
        case "required":
            return f"{t} IS NULL"
        case "allowed":
            return f"{v} IS NOT NULL AND CAST({v} AS VARCHAR) NOT IN ({', '.join(map(literal, p['values']))})"
        case "range":
            lo = f"{v} < {p['min']}" if p["min"] is not None else "false"
            hi = f"{v} > {p['max']}" if p["max"] is not None else "false"
            return f"{v} IS NOT NULL AND ({lo} OR {hi})"
        case "pattern":
            return f"{t} IS NOT NULL AND NOT regexp_full_match({t}, {literal(p['pattern'])})"
        case kind if kind in IDENTIFIER_RULES.values():  # looked up by `_identifier_lookups`
            return f"{t} IS NOT NULL AND NOT {_valid(col)}"
        case "not_before":
            other = quote(p["other"])
            return f"CAST({v} AS TIMESTAMP) < CAST({other} AS TIMESTAMP)"
        case "dob_not_after_event":
            return f"{v} > CAST({quote(p['event'])} AS DATE)"
        case "age_range":
            return f"{age_sql(v, quote(p['event']))} NOT BETWEEN {int(p['min'])} AND {int(p['max'])}"
    raise ValueError(f"no SQL for rule kind {rule.kind!r}")


def _valid(column: str) -> str:
    """The column that says whether a cell's text is a valid identifier of its kind."""
    return quote(f"_valid_{column}")


def _identifier_lookups(contract: Contract, rules: list[Rule]) -> tuple[str, str]:
    """SQL columns and joins giving `_valid(column)` for each identifier rule: each distinct
    text is checked once and looked up. The check-digit arithmetic is the costliest part of
    validation, and a child's identifier repeats on every row sent about them (a pupil's UPN
    on fifteen termly attendance rows)."""
    columns, joins = [], []
    for i, rule in enumerate(r for r in rules if r.kind in IDENTIFIER_RULES.values()):
        t, alias = _text(rule.column), f"_ids{i}"
        valid = VALIDITY_SQL[contract.columns[rule.column].identifier]("_v")
        columns.append(f"{alias}._ok AS {_valid(rule.column)}")
        joins.append(
            f"LEFT JOIN (SELECT _v, {valid} AS _ok FROM (SELECT DISTINCT {t} AS _v FROM t)) {alias} ON {alias}._v = {t}"
        )
    return "".join(f", {c}" for c in columns), " ".join(joins)


def _held_keys(contract: Contract, rules: list[Rule], staged: str) -> tuple[str, str]:
    """SQL column and join giving `_held_key` (the row's key stands already, from another
    delivery) for an append-only dataset's overlap rule."""
    if not any(r.kind == "overlap" for r in rules):
        return "", ""
    key = ", ".join(quote(k) for k in contract.unique_key)
    others = f"SELECT DISTINCT {key}, true AS _held_key FROM {current_rows(contract)} c " + (
        f"WHERE c._source_sha256 NOT IN (SELECT _source_sha256 FROM {quote(staged)})"
    )
    return ", coalesce(hk._held_key, false) AS _held_key", f"LEFT JOIN ({others}) hk USING ({key})"


def _flags(rules: list[Rule]) -> list[str]:
    """One boolean SQL column per rule: does the row break it? (An unreadable line breaks
    only `unreadable_row`: it has no cells to judge.)"""
    flags = ["_unreadable IS NOT NULL"]
    flags += [f"_unreadable IS NULL AND coalesce({broken(rule)}, false)" for rule in rules[1:]]
    return [f"{flag} AS _f{i}" for i, flag in enumerate(flags)]


def _failure_list(contract: Contract, rules: list[Rule], severity: str) -> str:
    """SQL for the list of failure structs of the given severity of a row, built only for the
    rows that need it (the flags say which)."""
    items = []
    for i, rule in enumerate(rules):
        if rule.severity != severity:
            continue
        value = _text(rule.column) if shareable(contract, rule.column) else "NULL::VARCHAR"
        reason = "'the line could not be read: ' || _unreadable" if i == 0 else literal(rule.description)
        struct = (
            f"{{'rule_id': {literal(rule.id)}, 'column_name': {literal(rule.column or '')}, "
            f"'reason': {reason}, 'value': {value}}}"
        )
        items.append(f"CASE WHEN _f{i} THEN {struct} END")
    return f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)" if items else "[]"


def ensure_tables(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    archive.ensure_tables(con)  # the delivery log, holds and purge register this stage reads
    erasure_register.ensure_register(con)
    columns = ", ".join(f"{quote(n)} {SQL_TYPES[c.type]}" for n, c in contract.columns.items())
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {quote(contract.table)} (_source_sha256 VARCHAR, _source_file VARCHAR, "
        f"_row BIGINT, _line BIGINT, {columns})"
    )
    con.execute(DDL)


def stage(con: duckdb.DuckDBPyConnection, staged: str, raw_table: str, seq: int, sha256: str, file_name: str) -> None:
    """Add a file read by `load_raw` into `raw_table` to the files staged in `staged` for
    `conform_files`, as its `seq`-th (the first replaces what was staged)."""
    into = f"INSERT INTO {quote(staged)}" if seq else f"CREATE OR REPLACE TEMP TABLE {quote(staged)} AS"
    con.execute(
        f"{into} SELECT ?::INTEGER AS _file_seq, ?::VARCHAR AS _source_sha256, ?::VARCHAR AS _source_file, * "
        f"FROM {quote(raw_table)}",
        [seq, sha256, file_name],
    )


def conform(
    con: duckdb.DuckDBPyConnection, contract: Contract, raw_table: str, sha256: str, file_name: str, run_id: str
) -> Conformed:
    """`conform_files` for one file, read by `load_raw` into `raw_table`."""
    stage(con, "_one_file", raw_table, 0, sha256, file_name)
    try:
        return conform_files(con, contract, "_one_file", run_id).get(sha256, Conformed(0, 0, 0))
    finally:
        con.execute("DROP TABLE _one_file")


def _leave_out_erased(con: duckdb.DuckDBPyConnection, contract: Contract, key: PseudonymKey | None) -> dict[str, int]:
    """Take out of `_checked` every row that is an erased record sent again or carries an
    identifier of a person erased whole (the register's keyed hashes, each distinct value
    hashed once). Returns rows taken out per delivery hash."""
    if not erasure_register.has_identities(con):
        return {}
    if key is None:  # a bug in the caller, never bad input: erased people must not come back
        raise ValueError("the erasure register holds identities: conforming needs the pseudonymisation key")
    nodes = [*nodes_sql(contract, "c").values(), erasure_register.record_key_sql(contract, "c")]
    in_line = erasure_register.line_nodes_sql("c._raw_line", contract.partner)  # an unreadable line's
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _erased_here AS
        WITH n AS (
            SELECT _file_seq, _row, _source_sha256,
                unnest(list_concat([{", ".join(nodes)}], {in_line})) AS node
            FROM _checked c
        ),
        hit AS (
            SELECT node FROM (SELECT DISTINCT node FROM n WHERE node IS NOT NULL)
            WHERE {hmac_sql("node")} IN (SELECT identity_hash FROM erased_identities)
        )
        SELECT DISTINCT _file_seq, _row, _source_sha256 FROM n WHERE node IN (SELECT node FROM hit)
        """,
        erasure_register.register_pads(key),
    )
    con.execute("DELETE FROM _checked WHERE (_file_seq, _row) IN (SELECT (_file_seq, _row) FROM _erased_here)")
    counts = dict(con.execute("SELECT _source_sha256, count(*) FROM _erased_here GROUP BY ALL").fetchall())
    con.execute("DROP TABLE _erased_here")
    return counts


def conform_files(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staged: str,
    run_id: str,
    pseudonym_key: PseudonymKey | None = None,
) -> dict[str, Conformed]:
    """Move the rows of the files staged in `staged` (a `load_raw` table per file, with
    `_file_seq`, `_source_sha256` and `_source_file` in front) into the dataset's typed table
    or the quarantine. Returns each file's counts by its hash (a file with no rows has none).

    Files are checked together but judged apart (duplicates and unique keys are within a
    file): one statement for many small files spares the per-statement cost, some 50 ms for
    a contract's rules, that sixty monthly workbooks would each pay.
    Repeated rows and keys are first found by hash (a cheap grouping), then ranked exactly by
    their values among those candidates alone: ranking every row sorted all the texts of all
    the rows, a third of the statement's time.
    Idempotent per file: rows already stored for a staged file's hash are replaced.
    Rows the erasure register names, or that carry an erased person's identifier (`pseudonym_key`
    hashes them), are left out and counted as erased.
    """
    ensure_tables(con, contract)
    rules = row_rules(contract)
    names = list(contract.columns)
    texts = ", ".join(f"{text_expr(c, n)} AS {_text(n)}" for n, c in contract.columns.items())
    typed = ", ".join(f"{typed_expr(contract, c, _text(n))} AS {quote(n)}" for n, c in contract.columns.items())
    all_texts = ", ".join(_text(n) for n in names)
    key = ", ".join(quote(n) for n in contract.unique_key) or "NULL"
    key_present = " AND ".join(f"{quote(n)} IS NOT NULL" for n in contract.unique_key) or "false"
    event = contract.event_month_sql() or "NULL::DATE"
    flags = _flags(rules)
    valid_columns, valid_joins = _identifier_lookups(contract, rules)
    held_column, held_join = _held_keys(contract, rules, staged)
    errors = " OR ".join(f"_f{i}" for i, r in enumerate(rules) if r.severity == "error") or "false"
    warns = " OR ".join(f"_f{i}" for i, r in enumerate(rules) if r.severity == "warn") or "false"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _checked AS
        WITH t AS (
            SELECT _file_seq, _source_sha256, _source_file, _row, _line, _unreadable, _raw_line, {texts}
            FROM {quote(staged)} s
            -- a row purged for retention or erased stays so, however often its file is read again
            WHERE NOT EXISTS (SELECT 1 FROM purged_rows p WHERE p.sha256 = s._source_sha256 AND p.source_row = s._row)
              AND NOT EXISTS (SELECT 1 FROM erased_records e WHERE e.sha256 = s._source_sha256
                              AND e.source_row = s._row)
        ),
        typed AS (SELECT *, {typed} FROM t),
        hashed AS (
            SELECT *, CASE WHEN _unreadable IS NULL THEN hash(_source_sha256, {all_texts}) END AS _row_hash,
                CASE WHEN {key_present} THEN hash(_source_sha256, {key}) END AS _key_hash
            FROM typed
        ),
        repeated_rows AS (
            SELECT _file_seq, _row,
                row_number() OVER (PARTITION BY _source_sha256, {all_texts} ORDER BY _row) AS _dup_rank
            FROM hashed WHERE _row_hash IN (SELECT _row_hash FROM hashed GROUP BY _row_hash HAVING count(*) > 1)
        ),
        repeated_keys AS (
            SELECT _file_seq, _row, row_number() OVER (PARTITION BY _source_sha256, {key} ORDER BY _row) AS _key_rank
            FROM hashed WHERE _key_hash IN (SELECT _key_hash FROM hashed GROUP BY _key_hash HAVING count(*) > 1)
        ),
        keyed AS (
            SELECT h.* EXCLUDE (_row_hash, _key_hash), coalesce(r._dup_rank, 1) AS _dup_rank,
                coalesce(k._key_rank, 1) AS _key_rank{valid_columns}{held_column}
            FROM hashed h
            LEFT JOIN repeated_rows r USING (_file_seq, _row) LEFT JOIN repeated_keys k USING (_file_seq, _row)
            {valid_joins} {held_join}
        ),
        flagged AS (SELECT *, {", ".join(flags)}, {event} AS _event_month FROM keyed)
        SELECT *, {errors} AS _error, NOT ({errors}) AND ({warns}) AS _warn FROM flagged
        """
    )
    erased = _leave_out_erased(con, contract, pseudonym_key)
    files = f"(SELECT DISTINCT _source_sha256 FROM {quote(staged)})"  # a file wholly erased included
    con.execute(f"DELETE FROM {quote(contract.table)} WHERE _source_sha256 IN {files}")
    con.execute(f"DELETE FROM quarantine WHERE source_sha256 IN {files}")
    con.execute(f"DELETE FROM validation_warnings WHERE source_sha256 IN {files}")
    con.execute(f"DELETE FROM recodings WHERE source_sha256 IN {files}")
    _record_recodings(con, contract, staged, run_id)
    con.execute(
        f"INSERT INTO {quote(contract.table)} SELECT _source_sha256, _source_file, _row, _line, "
        f"{', '.join(map(quote, names))} FROM _checked WHERE NOT _error ORDER BY _file_seq, _row"
    )
    # the row as sent, kept in the personal zone only: for subject access, erasure and re-checks
    record = "to_json({" + ", ".join(f"{literal(n)}: {_text(n)}" for n in names) + "})"
    all_ids = "[" + ", ".join(f"CASE WHEN _f{i} THEN {literal(r.id)} END" for i, r in enumerate(rules)) + "]"
    con.execute(
        "INSERT INTO quarantine SELECT ?, ?, _source_file, _source_sha256, _row, _line, e[1].rule_id, 'error', "
        "NULLIF(e[1].column_name, ''), e[1].reason, e[1].value, list_filter("
        f"{all_ids}, lambda x: x IS NOT NULL), _event_month, ?, {record}, _raw_line "
        f"FROM (SELECT *, {_failure_list(contract, rules, 'error')} AS e FROM _checked WHERE _error) "
        "ORDER BY _file_seq, _row",
        [contract.partner, contract.dataset, run_id],
    )
    con.execute(
        "INSERT INTO validation_warnings SELECT ?, ?, _source_file, _source_sha256, _row, _line, w.rule_id, "
        "NULLIF(w.column_name, ''), ? FROM (SELECT _file_seq, _source_file, _source_sha256, _row, _line, "
        f"unnest({_failure_list(contract, rules, 'warn')}) AS w FROM _checked WHERE _warn) ORDER BY _file_seq, _row",
        [contract.partner, contract.dataset, run_id],
    )
    per_file = con.execute(
        "SELECT _source_sha256, any_value(_source_file), count(*), count(*) FILTER (NOT _error), "
        "count(*) FILTER (_error), count(*) FILTER (_warn), "
        + ", ".join(f"count(*) FILTER (_f{i})" for i in range(len(rules)))
        + " FROM _checked GROUP BY _source_sha256"
    ).fetchall()
    con.execute("DROP TABLE _checked")
    out = {}
    for sha, file_name, rows_in, loaded, quarantined, warned, *broken_counts in per_file:
        if rows_in != loaded + quarantined:  # a bug, never bad input
            raise AssertionError(f"row accounting broken for {file_name}: {rows_in} != {loaded} + {quarantined}")
        failures = {rule.id: n for rule, n in zip(rules, broken_counts, strict=True) if n}
        out[sha] = Conformed(rows_in, loaded, quarantined, warned, failures, erased.get(sha, 0))
    for sha, n in erased.items():  # every row of the file erased: nothing read
        out.setdefault(sha, Conformed(0, 0, 0, rows_erased=n))
    return out
