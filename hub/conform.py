"""Typing a delivery under its contract, in SQL: each row either becomes a typed row or goes
to quarantine with every rule it broke (rule id, column, reason; never the offending value
of an identifier). rows_in = rows_loaded + rows_quarantined, always.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from hub.contracts import Column, Contract
from hub.db import literal, quote

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

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    partner VARCHAR, dataset VARCHAR, source_file VARCHAR, source_sha256 VARCHAR,
    source_row BIGINT, source_line BIGINT, rule_id VARCHAR, severity VARCHAR,
    column_name VARCHAR, reason VARCHAR, all_rules VARCHAR[], raw_record JSON, run_id VARCHAR
)
"""


@dataclass(frozen=True)
class Conformed:
    rows_in: int
    rows_loaded: int
    rows_quarantined: int


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


def _reason(contract: Contract, column: Column) -> str:
    if column.type in ("date", "timestamp"):
        return f"not a {column.type} in the format(s) {', '.join(contract.formats_for(column))}"
    return {
        "integer": "not a whole number",
        "decimal": "not a number",
        "boolean": "not yes/no (true/false, 1/0)",
    }[column.type]


def _failures(contract: Contract, name: str, column: Column) -> list[str]:
    """SQL expressions, each a rule failure struct or NULL."""
    text, typed = quote(f"_t_{name}"), quote(name)

    def failure(rule: str, reason: str) -> str:
        return (
            f"{{'rule_id': {literal(rule + ':' + name)}, 'column_name': {literal(name)}, 'reason': {literal(reason)}}}"
        )

    out = []
    if column.type != "string":
        out.append(
            f"CASE WHEN {text} IS NOT NULL AND {typed} IS NULL THEN {failure('type', _reason(contract, column))} END"
        )
    if column.required:
        out.append(f"CASE WHEN {text} IS NULL THEN {failure('required', 'required value is blank')} END")
    if column.allowed is not None:
        allowed = ", ".join(literal(str(v)) for v in column.allowed)
        shown = "; ".join(str(v) for v in column.allowed)
        out.append(
            f"CASE WHEN {typed} IS NOT NULL AND CAST({typed} AS VARCHAR) NOT IN ({allowed}) "
            f"THEN {failure('allowed', 'not one of the allowed values: ' + shown)} END"
        )
    return out


def ensure_typed_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    columns = ", ".join(f"{quote(n)} {SQL_TYPES[c.type]}" for n, c in contract.columns.items())
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {quote(contract.table)} (_source_sha256 VARCHAR, _source_file VARCHAR, "
        f"_row BIGINT, _line BIGINT, {columns})"
    )
    con.execute(QUARANTINE_DDL)


def conform(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    raw_table: str,
    sha256: str,
    file_name: str,
    run_id: str,
) -> Conformed:
    """Move the rows of `raw_table` into the dataset's typed table or the quarantine.

    Idempotent per file: rows already stored for this file hash are replaced.
    """
    ensure_typed_table(con, contract)
    names = list(contract.columns)
    texts = ", ".join(f"NULLIF(trim({quote(n)}), '') AS {quote('_t_' + n)}" for n in names)
    typed = ", ".join(f"{typed_expr(contract, c, quote('_t_' + n))} AS {quote(n)}" for n, c in contract.columns.items())
    failures = [f for n, c in contract.columns.items() for f in _failures(contract, n, c)]
    errors = f"list_filter([{', '.join(failures)}], lambda x: x IS NOT NULL)" if failures else "[]"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _checked AS SELECT *, {errors} AS _errors FROM ("
        f"SELECT *, {typed} FROM (SELECT _row, _line, {texts} FROM {quote(raw_table)}))"
    )
    con.execute(f"DELETE FROM {quote(contract.table)} WHERE _source_sha256 = ?", [sha256])
    con.execute("DELETE FROM quarantine WHERE source_sha256 = ?", [sha256])
    con.execute(
        f"INSERT INTO {quote(contract.table)} SELECT ?, ?, _row, _line, {', '.join(map(quote, names))} "
        "FROM _checked WHERE len(_errors) = 0 ORDER BY _row",
        [sha256, file_name],
    )
    raw_json = "to_json({" + ", ".join(f"{literal(n)}: {quote('_t_' + n)}" for n in names) + "})"
    con.execute(
        "INSERT INTO quarantine SELECT ?, ?, ?, ?, _row, _line, _errors[1].rule_id, 'error', _errors[1].column_name, "
        f"_errors[1].reason, list_transform(_errors, lambda e: e.rule_id), {raw_json}, ? "
        "FROM _checked WHERE len(_errors) > 0 ORDER BY _row",
        [contract.partner, contract.dataset, file_name, sha256, run_id],
    )
    rows_in, loaded, quarantined = con.execute(
        "SELECT count(*), count(*) FILTER (len(_errors) = 0), count(*) FILTER (len(_errors) > 0) FROM _checked"
    ).fetchall()[0]
    con.execute("DROP TABLE _checked")
    if rows_in != loaded + quarantined:  # a bug, never bad input
        raise AssertionError(f"row accounting broken for {file_name}: {rows_in} != {loaded} + {quarantined}")
    return Conformed(rows_in, loaded, quarantined)
