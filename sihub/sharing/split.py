"""The governed split: what of a typed dataset may enter the shared intelligence store.

Only columns the contract classifies `non_personal` or `sensitive` cross over, plus a
pseudonymous person key (keyed HMAC, with the key's identifier beside it) and attributes
generalised from identifiers: age in years and age band at the event (from date of birth),
sex as `Female` or `Male` (from the sex identifier, for breakdowns), district and locality
(from postcode) and the event month. No identifier column is ever selected.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from sihub.core.contracts import Classification, Contract, IdentifierKind
from sihub.core.db import literal, quote, scalar, table_exists
from sihub.privacy.generalise import age_band_sql, age_sql, outward_code_sql, sex_sql
from sihub.privacy.keys import PseudonymKey
from sihub.privacy.pseudonymise import hmac_pads, hmac_sql, identity_sql
from sihub.privacy.scrub import scrub_sql
from sihub.privacy.text_guard import Finding, guard_values
from sihub.validation.checks import CHECK_LOG_DDL
from sihub.validation.current import current_rows

SHARED_CLASSES = (Classification.non_personal, Classification.sensitive)
DELIVERY_LOG_DDL = """
CREATE TABLE IF NOT EXISTS delivery_log (
    run_id VARCHAR, partner VARCHAR, dataset VARCHAR, label VARCHAR, sha256 VARCHAR, seen_at TIMESTAMP,
    status VARCHAR, rows_in BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, error VARCHAR
);
ALTER TABLE delivery_log ADD COLUMN IF NOT EXISTS missing_columns VARCHAR[];
ALTER TABLE delivery_log ADD COLUMN IF NOT EXISTS unexpected_columns VARCHAR[];
"""


HELD_LOG_DDL = """
CREATE TABLE IF NOT EXISTS held_log (
    sha256 VARCHAR, partner VARCHAR, dataset VARCHAR, reason VARCHAR, held_at TIMESTAMP
)
"""


PURGE_LOG_DDL = "CREATE TABLE IF NOT EXISTS purge_log (run_id VARCHAR, partner VARCHAR, dataset VARCHAR, rows BIGINT)"


def share_run_logs(con: duckdb.DuckDBPyConnection, contract: Contract, personal: str) -> None:
    """Copy the dataset's delivery outcomes, holds, purges and check results (names, hashes,
    counts, reasons: no personal data) from the attached personal zone to the shared store, for
    publishing."""
    con.execute(DELIVERY_LOG_DDL)
    con.execute(CHECK_LOG_DDL)
    where = "WHERE partner = ? AND dataset = ?"
    params = [contract.partner, contract.dataset]
    con.execute(HELD_LOG_DDL)
    con.execute(f"DELETE FROM delivery_log {where}", params)
    con.execute(f"DELETE FROM held_log {where}", params)
    con.execute(
        f"INSERT INTO held_log SELECT sha256, partner, dataset, reason, held_at FROM {personal}.held_deliveries "
        f"{where} AND released_at IS NULL",
        params,
    )
    # a held delivery's rows are in the personal zone but stand nowhere: reported as held
    con.execute(
        "INSERT INTO delivery_log SELECT d.run_id, d.partner, d.dataset, d.label, d.sha256, d.seen_at, "
        "CASE WHEN h.sha256 IS NULL THEN d.status ELSE 'held' END, d.rows_in, d.rows_loaded, d.rows_quarantined, "
        f"coalesce(h.reason, d.error), d.missing_columns, d.unexpected_columns FROM {personal}.deliveries d "
        "LEFT JOIN held_log h ON h.sha256 = d.sha256 AND h.partner = d.partner AND h.dataset = d.dataset "
        "WHERE d.partner = ? AND d.dataset = ?",
        params,
    )
    con.execute(PURGE_LOG_DDL)
    con.execute(f"DELETE FROM purge_log {where}", params)
    con.execute(
        "INSERT INTO purge_log SELECT run_id, partner, dataset, sum(rows_purged + quarantine_rows_purged) "
        f"FROM {personal}.purge_log {where} GROUP BY ALL",
        params,
    )
    con.execute(f"DELETE FROM check_log {where}", params)
    if table_exists(con, "check_log", personal):
        con.execute(f"INSERT INTO check_log SELECT * FROM {personal}.check_log {where}", params)


def shared_columns(contract: Contract) -> list[str]:
    return [n for n, c in contract.columns.items() if c.classification in SHARED_CLASSES]


class IdentifiersInText(Exception):
    """Identifiers inside a shared text column of a dataset whose contract blocks rather than
    scrubs: the dataset's shared table is left as it was. Names table, column and rule only."""

    def __init__(self, findings: list[Finding]):
        super().__init__("identifiers within shared text (dataset blocked): " + "; ".join(map(str, findings)))
        self.findings = findings


@dataclass(frozen=True)
class Shared:
    rows: int
    findings: list[Finding]  # identifiers replaced by a marker before writing


def _guarded_texts(
    con: duckdb.DuckDBPyConnection, contract: Contract, texts: dict[str, str], source: str, names: str | None
) -> tuple[dict[str, str], list[str], list[Finding]]:
    """Run the text guard over each shared text column (name -> SQL over `t`): the guarded
    SQL of each, the joins it needs and what was found."""
    if not texts:
        return {}, [], []
    values = " UNION ALL ".join(
        f"SELECT {literal(name)} AS c, {sql} AS v FROM {source} t" for name, sql in texts.items()
    )
    found = guard_values(con, values, names, "_guarded")
    findings = [Finding(contract.table, c, rule, n) for c, rules in found.items() for rule, n in rules.items()]
    guarded, joins = {}, []
    for i, (name, sql) in enumerate(texts.items()):
        joins.append(f"LEFT JOIN _guarded g{i} ON g{i}.c = {literal(name)} AND g{i}.v = {sql}")
        guarded[name] = f"coalesce(g{i}.guarded, {sql})"
    if findings and contract.checks.embedded_identifiers == "block":
        raise IdentifiersInText(findings)
    return guarded, joins, findings


def build_shared_table(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    personal_alias: str,
    key: PseudonymKey,
    names: str | None = None,
    honour_opt_out: bool = False,
) -> Shared:
    """Replace the dataset's table in the shared store (the connection's main database) from
    the rows that stand in the attached personal zone (`current_rows`: no held delivery, no
    record superseded by a later delivery). With `honour_opt_out` (the agreement says the
    national data opt-out applies), records flagged as opted out stay in the personal zone.

    Every shared text column passes the text guard first (`names`: the temp table of known
    name pairs, from `known_names_table`): an identifier inside the text is replaced by a
    marker, or, where the contract says `embedded_identifiers: block`, the table is not
    written at all (`IdentifiersInText`). Nothing unguarded is ever written to the store."""
    source = current_rows(contract, personal_alias)
    names_of = [
        f"t.{quote(c)}"
        for k in (IdentifierKind.forename, IdentifierKind.surname)
        if (c := contract.identifier_column(k))
    ]
    texts = {n: f"t.{quote(n)}" for n in shared_columns(contract) if contract.columns[n].type == "string"}
    texts |= {n: scrub_sql(f"t.{quote(n)}", names_of) for n, c in contract.columns.items() if c.share_scrubbed}
    guarded, joins, findings = _guarded_texts(con, contract, texts, source, names)
    selects = [f"{identity_sql(contract)} AS _identity", f"{literal(key.key_id)} AS key_id"]
    for name in shared_columns(contract):
        column = contract.columns[name]
        value = guarded.get(name, f"t.{quote(name)}")
        if column.generalise == "month":
            value = f"CAST(date_trunc('month', {value}) AS DATE)"
        selects.append(f"{value} AS {quote(name)}")
    if month := contract.event_month_sql("t."):
        selects.append(f"{month} AS event_month")
    event = f"t.{quote(contract.event_date)}" if contract.event_date else None
    dob = contract.identifier_column(IdentifierKind.date_of_birth)
    if dob and event:
        d, e = f"t.{quote(dob)}", f"CAST({event} AS DATE)"
        selects.append(f"{age_sql(d, e)} AS age_years")
    for name, column in contract.columns.items():
        if column.share_scrubbed:
            selects.append(f"{guarded[name]} AS {quote(name)}")
    sex = contract.identifier_column(IdentifierKind.sex)
    if sex and "sex" not in shared_columns(contract):
        selects.append(f"{sex_sql(f't.{quote(sex)}')} AS sex")
    postcode = contract.identifier_column(IdentifierKind.postcode)
    if postcode:
        outward = outward_code_sql(f"t.{quote(postcode)}")
        joins.append(f"LEFT JOIN ref_postcode_district pd ON pd.postcode_district = {outward}")
        joins.append("LEFT JOIN ref_district rd ON rd.district_code = pd.district_code")
        selects += ["pd.district_code AS district_code", "rd.locality_code AS locality_code"]
    band = f", {age_band_sql('age_years')} AS age_band" if dob and event else ""
    opted_out = contract.opt_out_column if honour_opt_out else None
    where = f"WHERE NOT coalesce(t.{quote(opted_out)}, false)" if opted_out else ""
    # the keyed hash once per person, not once per row: a pupil has a row for every term
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {quote(contract.table)} AS
        WITH shared_rows AS MATERIALIZED (
            SELECT t._rowid AS _r, {", ".join(selects)} FROM {source} t {" ".join(joins)} {where}
        ),
        person_keys AS (
            SELECT _identity, {hmac_sql("_identity")} AS person_key
            FROM (SELECT DISTINCT _identity FROM shared_rows WHERE _identity IS NOT NULL)
        )
        SELECT * EXCLUDE (_r){band} FROM (
            SELECT k.person_key, r.* EXCLUDE (_identity) FROM shared_rows r LEFT JOIN person_keys k USING (_identity)
        ) ORDER BY _r
        """,
        list(reversed(hmac_pads(key))),
    )
    if texts:
        con.execute("DROP TABLE _guarded")
    return Shared(scalar(con, f"SELECT count(*) FROM {quote(contract.table)}"), findings)
