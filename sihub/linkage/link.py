"""Linking each child across agencies, inside the personal zone.

Every identifier a record carries is a node: NHS number, UPN, the partner's own person
reference, and the name key (surname + forename + date of birth). A record joins its nodes,
so records sharing any identifier join. Name keys also join when the names differ only in the
ways partners really record them (a nickname, one slip of the keyboard, day and month of birth
swapped) and the date of birth, sex and postcode district agree, unless the two groups carry
different NHS numbers or UPNs (then they are different children). Connected nodes are one
child. The child's key is a keyed HMAC of the most trusted identifier in the group, so it is
stable from run to run while that identifier is.

The link tables stay in the personal zone: `link_records` (each typed row -> its identity),
`link_profiles` (each distinct set of identifiers a dataset carries: linkage works on these, as
a pupil's fifteen termly attendance rows are one profile), `link_nodes`, and `link_inputs` (a
hash of what each dataset's rows were added from, so a dataset unchanged since is not re-read). The shared store
gets only `child_link`: person key -> child key, the rule that linked it and a confidence.

A night relinks only the children its delivery touches: the profiles it added or removed, the
children they were linked to, the profiles that carry any of their identifiers, and (until none
is left) any child a name-key near-match could join to them. Every other child's component,
rule and key stand as they were (they share no identifier with the changed profiles and no
near-match can reach them), so the result is what linking everyone again would give.
`link_basis` records what the kept links were made under (code, reference files, key); a
different basis, an erasure or a first run links everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sihub.core.change_tracking import BuiltFrom, dataset_inputs
from sihub.core.contracts import Contract, IdentifierKind
from sihub.core.db import literal, quote, scalar, table_exists
from sihub.core.reference import reference_file
from sihub.privacy.generalise import outward_code_sql
from sihub.privacy.keys import PseudonymKey
from sihub.privacy.pseudonymise import folded_name_sql, hmac_pads, hmac_sql, identity_sql, nodes_sql
from sihub.validation.current import current_rows

# Rules in order of trust, with the confidence published beside each link.
RULES = {
    "nhs_number": 0.999,
    "upn": 0.995,
    "person_ref": 0.99,
    "name_dob": 0.97,
    "nickname_or_typo": 0.9,
    "dob_day_month_swapped": 0.85,
    "unlinked": 1.0,  # nothing was linked, so nothing can be linked wrongly
}
NODE_RANK = {"nhs_number": 1, "upn": 2, "person_ref": 3, "name_dob": 4}

LINK_TABLES_DDL = """
CREATE OR REPLACE TABLE link_records (source_table VARCHAR, source_file VARCHAR, source_row BIGINT, identity VARCHAR);
CREATE OR REPLACE TABLE link_profiles (
    source_table VARCHAR, identity VARCHAR, nhs_number VARCHAR, upn VARCHAR, person_ref VARCHAR, name_dob VARCHAR,
    surname VARCHAR, forename VARCHAR, date_of_birth DATE, sex VARCHAR, postcode_district VARCHAR
);
DROP TABLE IF EXISTS link_inputs;
"""


@dataclass(frozen=True)
class LinkOutcome:
    records: int
    children: int
    rules: dict[str, int]
    tables_added: list[str]  # the datasets whose records were (re-)added this time
    relinked: int  # identifiers (nodes) linked afresh; the rest kept their links


def _record_sql(contract: Contract) -> tuple[str, str]:
    """The two statements that put one contract's rows into `link_records` and its distinct
    identifier sets, normalised for matching, into `link_profiles`."""
    nodes = nodes_sql(contract)
    col = {kind: f"t.{quote(c)}" for kind in IdentifierKind if (c := contract.identifier_column(kind))}
    postcode = col.get(IdentifierKind.postcode)
    sex = col.get(IdentifierKind.sex)
    values = {
        "source_table": literal(contract.table),
        "identity": identity_sql(contract),
        **{kind: nodes.get(kind) for kind in NODE_RANK},
        "surname": folded_name_sql(col[IdentifierKind.surname]) if IdentifierKind.surname in col else None,
        "forename": folded_name_sql(col[IdentifierKind.forename]) if IdentifierKind.forename in col else None,
        "date_of_birth": col.get(IdentifierKind.date_of_birth),
        "sex": f"NULLIF(upper(left(trim({sex}), 1)), '')" if sex else None,
        "postcode_district": (outward_code_sql(postcode) if postcode else None),
    }
    selects = ", ".join(f"{sql or 'NULL'} AS {name}" for name, sql in values.items())
    table = current_rows(contract)  # held deliveries and superseded records link nothing
    return (
        f"INSERT INTO link_records SELECT {values['source_table']}, t._source_file, t._row, {values['identity']} "
        f"FROM {table} t",
        f"INSERT INTO link_profiles BY NAME SELECT DISTINCT {selects} FROM {table} t "
        f"WHERE {values['identity']} IS NOT NULL",
    )


def _refresh_records(con: duckdb.DuckDBPyConnection, contracts: list[Contract], database: str) -> list[str]:
    """Bring `link_records` and `link_profiles` up to date with the typed tables, re-adding
    only the datasets whose rows (or delivery log, holds and purges: what decides the rows that
    stand) or statements changed since they were added (`BuiltFrom`, in `link_inputs`): a
    night with one new file re-reads that dataset, not all of them (18 s of 50 at county).
    Done per dataset, which also keeps each grouping small: all datasets' rows at once (140 M
    at national scale) exceeded the memory cap. Returns the tables re-added."""
    if not all(table_exists(con, t, database) for t in ("link_records", "link_profiles")):
        con.execute(LINK_TABLES_DDL)
    linked = {
        c.table: c for c in contracts if table_exists(con, c.table, database) and identity_sql(c) != "NULL::VARCHAR"
    }
    # the profiles of datasets re-added or no longer linked, as they were: what changed is told from them
    con.execute("CREATE OR REPLACE TEMP TABLE link_before AS FROM link_profiles WHERE false")
    con.execute("INSERT INTO link_before FROM link_profiles WHERE NOT list_contains(?, source_table)", [sorted(linked)])
    for link_table in ("link_records", "link_profiles"):  # datasets no longer linked
        con.execute(f"DELETE FROM {link_table} WHERE NOT list_contains(?, source_table)", [sorted(linked)])
    built = BuiltFrom(con, "link_inputs", linked)
    added = []
    for table, contract in linked.items():
        statements = _record_sql(contract)
        if built.same(table, [*statements, *dataset_inputs(con, database, contract.partner, contract.dataset)]):
            continue
        con.execute("INSERT INTO link_before FROM link_profiles WHERE source_table = ?", [table])
        for link_table in ("link_records", "link_profiles"):
            con.execute(f"DELETE FROM {link_table} WHERE source_table = ?", [table])
        for statement in statements:
            con.execute(statement)
        built.record(table)
        added.append(table)
    return added


def _nodes_and_edges(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Nodes (one per distinct identifier) of the profiles in `source` and the edges their
    records make between them, into temp `link_new_nodes` and `link_edges`."""
    kinds = list(NODE_RANK)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE link_record_nodes AS "
        + " UNION ".join(
            f"SELECT identity, {k} AS node, {literal(k)} AS kind FROM {source} "
            f"WHERE {k} IS NOT NULL"  # every profile has an identity
            for k in kinds
        )
    )
    # a name key carried with two NHS numbers or two UPNs names two children: it links nothing
    # (judged over every profile that carries it, in `source` or not)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE link_conflicts AS SELECT name_dob FROM link_profiles "
        "WHERE name_dob IN (SELECT node FROM link_record_nodes WHERE kind = 'name_dob') GROUP BY name_dob "
        "HAVING count(DISTINCT nhs_number) > 1 OR count(DISTINCT upn) > 1"
    )
    con.execute(
        "DELETE FROM link_record_nodes WHERE kind = 'name_dob' AND node <> identity "
        "AND node IN (SELECT name_dob FROM link_conflicts)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE link_edges AS "
        "SELECT identity AS a, node AS b, kind AS rule FROM link_record_nodes WHERE identity <> node "
        "UNION SELECT node, identity, kind FROM link_record_nodes WHERE identity <> node"
    )
    ranks = " ".join(f"WHEN {literal(k)} THEN {r}" for k, r in NODE_RANK.items())
    con.execute(
        "CREATE OR REPLACE TEMP TABLE link_new_nodes AS SELECT node, min(kind) AS kind, "
        f"min(CASE kind {ranks} END || node) AS label FROM link_record_nodes GROUP BY node"
    )


def _components(con: duckdb.DuckDBPyConnection) -> None:
    """Label every node with the smallest label in its connected component.

    Set-based label propagation in SQL takes one pass over all edges per step of the longest
    chain (ten at county, some 19 s); a graph library finds the components in one linear pass
    over the edges as integer pairs (two int32 arrays: a million edges, 8 MB, at county), and the labels
    are then set in SQL."""
    con.execute("CREATE OR REPLACE TEMP TABLE link_ids AS SELECT node, rowid::INTEGER AS id FROM link_new_nodes")
    nodes = scalar(con, "SELECT coalesce(max(id) + 1, 0) FROM link_ids")
    pairs = con.execute(
        "SELECT x.id AS a, y.id AS b FROM link_edges e JOIN link_ids x ON x.node = e.a JOIN link_ids y ON y.node = e.b"
    ).fetchnumpy()
    graph = coo_matrix((np.ones(len(pairs["a"]), dtype=np.int8), (pairs["a"], pairs["b"])), shape=(nodes, nodes))
    _, component = connected_components(graph, directed=False)
    con.register("link_component_ids", pa.table({"id": np.arange(nodes, dtype=np.int32), "component": component}))
    # rebuilt, not updated (an UPDATE of every row costs ten times more); joined by row id and
    # component number, integers, not by the identifier strings
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE link_new_nodes AS
        WITH n AS (SELECT l.*, k.component FROM link_new_nodes l JOIN link_component_ids k ON k.id = l.rowid),
        m AS (SELECT component, min(label) AS label FROM n GROUP BY component)
        SELECT n.* EXCLUDE (component) REPLACE (m.label AS label) FROM n JOIN m USING (component)
        """
    )
    con.unregister("link_component_ids")


def _fuzzy_edges(con: duckdb.DuckDBPyConnection, nicknames: Path) -> None:
    """Edges between the name keys of `link_new_nodes` that differ only as recording does,
    among groups that do not carry conflicting NHS numbers or UPNs; their names stay in temp
    `link_names`. A name key's sex and districts are those of every profile carrying it,
    whether or not that profile is being linked now (a name key two children share links
    neither of them, yet their records still say it names a boy and a girl)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE link_nicknames AS SELECT {folded_name_sql('name')} AS a, "
        f"{folded_name_sql('nickname')} AS b "
        f"FROM read_csv({literal(str(nicknames))}, header = true, all_varchar = true)"
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE link_names AS
        WITH groups AS (
            SELECT n.label, min(r.nhs_number) AS nhs, max(r.nhs_number) AS nhs_hi, min(r.upn) AS upn,
                   max(r.upn) AS upn_hi
            FROM link_profiles r JOIN link_new_nodes n ON n.node = r.identity GROUP BY n.label
        )
        SELECT r.name_dob AS node, any_value(r.surname) AS surname, any_value(r.forename) AS forename,
               any_value(r.date_of_birth) AS dob, min(r.sex) AS sex, max(r.sex) AS sex_hi,
               list(DISTINCT r.postcode_district) FILTER (WHERE r.postcode_district IS NOT NULL) AS districts,
               any_value(g.nhs) AS nhs, any_value(g.nhs_hi) AS nhs_hi, any_value(g.upn) AS upn,
               any_value(g.upn_hi) AS upn_hi, any_value(n.label) AS label
        FROM link_profiles r JOIN link_new_nodes n ON n.node = r.name_dob JOIN groups g ON g.label = n.label
        WHERE r.name_dob IS NOT NULL GROUP BY r.name_dob
        """
    )
    compatible = """
        a.label <> b.label AND a.node < b.node
        AND a.sex IS NOT DISTINCT FROM a.sex_hi AND b.sex IS NOT DISTINCT FROM b.sex_hi AND a.sex = b.sex
        AND list_has_any(a.districts, b.districts)
        AND (a.nhs IS NULL OR b.nhs IS NULL OR (a.nhs = b.nhs AND a.nhs_hi = b.nhs_hi))
        AND (a.upn IS NULL OR b.upn IS NULL OR (a.upn = b.upn AND a.upn_hi = b.upn_hi))
    """
    similar_forename = """
        (a.forename = b.forename OR (length(a.forename) >= 4 AND length(b.forename) >= 4
         AND damerau_levenshtein(a.forename, b.forename) <= 1)
         OR EXISTS (SELECT 1 FROM link_nicknames k WHERE (k.a = a.forename AND k.b = b.forename)
                    OR (k.a = b.forename AND k.b = a.forename)))
    """
    con.execute(
        f"""
        INSERT INTO link_edges
        WITH fuzzy AS (
            SELECT a.node AS a, b.node AS b, 'nickname_or_typo' AS rule
            FROM link_names a JOIN link_names b ON a.dob = b.dob AND a.surname = b.surname
            WHERE {compatible} AND {similar_forename}
            UNION
            SELECT a.node, b.node, 'nickname_or_typo'
            FROM link_names a JOIN link_names b ON a.dob = b.dob AND a.forename = b.forename
            WHERE {compatible} AND length(a.surname) >= 4 AND length(b.surname) >= 4
              AND damerau_levenshtein(a.surname, b.surname) = 1
            UNION
            SELECT a.node, b.node, 'dob_day_month_swapped'
            FROM link_names a JOIN link_names b ON a.surname = b.surname AND a.forename = b.forename
            WHERE {compatible} AND day(a.dob) <= 12 AND day(a.dob) <> month(a.dob)
              AND b.dob = make_date(year(a.dob), day(a.dob), month(a.dob))
        )
        SELECT a, b, rule FROM fuzzy UNION ALL SELECT b, a, rule FROM fuzzy
        """
    )


def _rules(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Each node's link rule: for a group joined to its child by a near-match, that match;
    otherwise the child's most trusted identifier (a record carrying it links the others);
    `name_dob` for a name key alone that several datasets share; else `unlinked`."""
    rank = " ".join(f"WHEN {literal(k)} THEN {i}" for i, k in enumerate(RULES))
    pick = " ".join(f"WHEN {i} THEN {literal(k)}" for i, k in enumerate(RULES))
    anchor = " ".join(f"WHEN '{r}' THEN {literal(k)}" for k, r in NODE_RANK.items())
    confidence = " ".join(f"WHEN {literal(k)} THEN {v}" for k, v in RULES.items())
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE link_rule AS
        WITH near AS (
            SELECT n.first_label, min(CASE e.rule {rank} END) AS r
            FROM link_edges e JOIN link_new_nodes n ON n.node = e.a
            WHERE e.rule IN ('nickname_or_typo', 'dob_day_month_swapped') GROUP BY ALL
        ), sizes AS (
            SELECT first_label, count(*) AS nodes FROM link_new_nodes GROUP BY ALL
        ), spread AS (
            SELECT identity AS node, count(DISTINCT source_table) AS tables FROM {source} GROUP BY ALL
        )
        SELECT n.node, CASE
            WHEN n.label <> n.first_label THEN CASE near.r {pick} END
            WHEN s.nodes > 1 OR n.kind IN ('nhs_number', 'upn') THEN CASE left(n.label, 1) {anchor} END
            WHEN coalesce(sp.tables, 0) > 1 THEN 'name_dob'
            ELSE 'unlinked' END AS rule
        FROM link_new_nodes n JOIN sizes s USING (first_label) LEFT JOIN near USING (first_label)
        LEFT JOIN spread sp USING (node)
        """
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE link_new_nodes AS SELECT n.*, r.rule, CASE r.rule {confidence} END AS "
        "confidence FROM link_new_nodes n LEFT JOIN link_rule r USING (node) ORDER BY n.node"
    )


def erase_links(con: duckdb.DuckDBPyConnection, identities: list[str]) -> int:
    """Erasure: delete every link-table row of the children these identities were linked to.

    The link tables keep normalised identifiers between refreshes (for linkage quality and
    audit); without this an erased person would stay in them until the next refresh rebuilt
    them. A child's nodes go together, because their labels are themselves identifiers.
    Returns the number of rows deleted from the three tables."""
    if not identities or not table_exists(con, "link_nodes"):
        return 0
    con.execute(
        "CREATE OR REPLACE TEMP TABLE link_forgotten AS SELECT node FROM link_nodes "
        "WHERE label IN (SELECT label FROM link_nodes WHERE list_contains(?, node))",
        [identities],
    )
    deleted = sum(
        scalar(con, f"DELETE FROM {table} WHERE {column} IN (SELECT node FROM link_forgotten)")
        for table, column in (("link_records", "identity"), ("link_profiles", "identity"), ("link_nodes", "node"))
    )
    con.execute("DROP TABLE link_forgotten")
    # the child's rows of datasets the erasure did not touch went too: the next linkage re-adds
    # all, and links everyone afresh
    for record in ("link_inputs", "link_basis"):
        if table_exists(con, record):
            con.execute(f"DELETE FROM {record}")
    return deleted


# the profiles a night added or removed (`link_before` is kept by `_refresh_records`)
CHANGED_SQL = """
CREATE OR REPLACE TEMP TABLE link_changed AS
(FROM link_before EXCEPT FROM link_profiles WHERE list_contains($added, source_table))
UNION ALL
(FROM link_profiles WHERE list_contains($added, source_table) EXCEPT FROM link_before)
"""
# what they touch: every identifier they carry, and the children those are linked to
TOUCHED_SQL = """
CREATE OR REPLACE TEMP TABLE link_seeds AS
SELECT DISTINCT node FROM (SELECT unnest([identity, nhs_number, upn, person_ref, name_dob]) AS node FROM link_changed)
WHERE node IS NOT NULL;
-- the children linked to a seed, and those carrying a seed name key (which links nothing when
-- it names two children, so they need not be linked to it; the change may make it link them)
CREATE OR REPLACE TEMP TABLE link_region_labels AS
SELECT DISTINCT label FROM link_nodes WHERE node IN (
    SELECT node FROM link_seeds
    UNION ALL SELECT identity FROM link_profiles WHERE name_dob IN (SELECT node FROM link_seeds)
);
"""
# the profiles of those children, and the new ones
REGION_SQL = """
CREATE OR REPLACE TEMP TABLE link_region AS
FROM link_profiles
WHERE identity IN (SELECT node FROM link_nodes WHERE label IN (SELECT label FROM link_region_labels))
   OR identity IN (SELECT identity FROM link_changed)
"""
# children outside the region whose name keys a near-match could join to one inside it: they
# share two of surname, forename and date of birth (every near-match rule keeps two)
REACH_SQL = """
SELECT DISTINCT n.label FROM (
    SELECT p.name_dob FROM link_names r JOIN link_profiles p ON p.date_of_birth = r.dob AND p.surname = r.surname
    UNION ALL
    SELECT p.name_dob FROM link_names r JOIN link_profiles p ON p.date_of_birth = r.dob AND p.forename = r.forename
    UNION ALL
    SELECT p.name_dob FROM link_names r JOIN link_profiles p ON p.surname = r.surname AND p.forename = r.forename
) m JOIN link_nodes n ON n.node = m.name_dob
WHERE n.label NOT IN (SELECT label FROM link_region_labels)
"""


def _relink(con: duckdb.DuckDBPyConnection, source: str, nicknames: Path) -> None:
    """Link the profiles of `source` into temp `link_new_nodes` (node, kind, label, first
    label, rule, confidence)."""
    _nodes_and_edges(con, source)
    _components(con)
    con.execute("CREATE OR REPLACE TEMP TABLE link_new_nodes AS SELECT *, label AS first_label FROM link_new_nodes")
    _fuzzy_edges(con, nicknames)
    _components(con)
    _rules(con, source)


def _relink_touched(con: duckdb.DuckDBPyConnection, added: list[str], nicknames: Path) -> bool:
    """Relink only the children the profiles added or removed touch (`TOUCHED_SQL`), widened
    until no near-match reaches a child outside, into temp `link_new_nodes`; temp
    `link_replaced` holds the nodes whose links they replace. False when no profile changed."""
    con.execute(CHANGED_SQL, {"added": added})
    if not scalar(con, "SELECT count(*) FROM link_changed"):
        return False
    con.execute(TOUCHED_SQL)
    while True:
        con.execute(REGION_SQL)
        _relink(con, "link_region", nicknames)
        reached = con.execute(REACH_SQL).fetchall()
        if not reached:
            break
        con.executemany("INSERT INTO link_region_labels VALUES (?)", reached)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE link_replaced AS SELECT node FROM link_nodes "
        "WHERE label IN (SELECT label FROM link_region_labels) UNION SELECT node FROM link_new_nodes"
    )
    return True


def link(
    con: duckdb.DuckDBPyConnection,
    contracts: list[Contract],
    key: PseudonymKey,
    shared: str,
    home: Path,
    basis: str | None = None,
) -> LinkOutcome:
    """Link every child across the typed tables of the personal zone (the connection's main
    database) and write `child_link` into the attached shared store `shared`. With `basis` (a
    digest of the code, reference files and key the links are made under), links kept from
    the last linkage under the same basis are updated where the night changed them."""
    database = scalar(con, "SELECT current_database()")
    made_under = BuiltFrom(con, "link_basis", ["links"])
    kept = (
        basis is not None
        and made_under.same("links", [basis])
        and table_exists(con, "link_nodes")
        and table_exists(con, "child_link", shared)
    )
    made_under.forget("links")  # until this linkage completes: a crash leaves everyone to be linked again
    added = _refresh_records(con, contracts, database)
    nicknames = reference_file("nicknames.csv", home)
    person_key, child_key = hmac_sql("node"), hmac_sql("'child:' || substr(label, 2)")
    pads = list(reversed(hmac_pads(key)))
    rows = (
        f"SELECT {person_key} AS person_key, {child_key} AS child_key, rule AS link_rule, confidence AS link_confidence"
    )
    relinked = 0
    if kept and _relink_touched(con, added, nicknames):
        con.execute("DELETE FROM link_nodes WHERE node IN (SELECT node FROM link_replaced)")
        con.execute("INSERT INTO link_nodes BY NAME FROM link_new_nodes")
        con.execute(
            f"DELETE FROM {shared}.child_link WHERE person_key IN (SELECT {person_key} FROM link_replaced)", pads
        )
        con.execute(
            f"INSERT INTO {shared}.child_link {rows} FROM link_new_nodes "
            "WHERE node IN (SELECT identity FROM link_region)",
            pads * 2,
        )
        relinked = scalar(con, "SELECT count(*) FROM link_new_nodes")
    elif not kept:
        _relink(con, "link_profiles", nicknames)
        con.execute("CREATE OR REPLACE TABLE link_nodes AS FROM link_new_nodes ORDER BY node")
        con.execute(
            f"CREATE OR REPLACE TABLE {shared}.child_link AS {rows} FROM link_nodes "
            "WHERE node IN (SELECT identity FROM link_profiles) ORDER BY person_key",
            pads * 2,
        )
        relinked = scalar(con, "SELECT count(*) FROM link_nodes")
    made_under.record("links")
    rules = dict(con.execute(f"SELECT link_rule, count(*) FROM {shared}.child_link GROUP BY ALL ORDER BY 1").fetchall())
    return LinkOutcome(
        records=scalar(con, "SELECT count(*) FROM link_records WHERE identity IS NOT NULL"),
        children=scalar(con, "SELECT count(DISTINCT label) FROM link_nodes"),
        rules=rules,
        tables_added=added,
        relinked=relinked,
    )
