"""Cross-agency linkage: the rules on hand-made records, then precision and recall against the
generator's truth, and the multi-agency view recomputed from the shared tables."""

import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from sihub.core.contracts import Contract, IdentifierKind, load_contracts
from sihub.core.db import quote
from sihub.intake import archive
from sihub.linkage.link import link
from sihub.privacy.keys import PseudonymKey, load_key
from sihub.synthetic.linkage_truth import score
from sihub.validation.holds import hold

KEY = PseudonymKey(b"a-test-key-that-is-long-enough-for-hmac-0123")
PERSON = {
    "forename": {"source": "F", "classification": "direct_identifier", "identifier": "forename"},
    "surname": {"source": "S", "classification": "direct_identifier", "identifier": "surname"},
    "dob": {"source": "D", "type": "date", "classification": "direct_identifier", "identifier": "date_of_birth"},
    "sex": {"source": "X", "classification": "quasi_identifier", "identifier": "sex"},
    "postcode": {"source": "P", "classification": "direct_identifier", "identifier": "postcode"},
}


def contract(partner: str, extra: dict) -> Contract:
    return Contract.model_validate(
        {"partner": partner, "dataset": "records", "title": "T", "source": {"format": "csv"},
         "columns": {**PERSON, **extra}}
    )  # fmt: skip


HEALTH = contract("health", {"nhs": {"source": "N", "classification": "direct_identifier", "identifier": "nhs_number"}})
POLICE = contract("police", {"ref": {"source": "R", "classification": "direct_identifier", "identifier": "person_ref"}})
# (table, row, forename, surname, dob, sex, postcode, nhs number or police reference, the true child)
RECORDS = [
    ("health", 1, "Thomas", "Smith", "2015-03-04", "M", "NR1 1AA", "9000000001", "tom"),
    ("health", 2, "Thomas", "Smith", "2015-03-04", "Male", "NR1 1AA", "9000000001", "tom"),
    ("police", 1, "Tom", "Smith", "2015-03-04", "Male", "nr12bb", "P1", "tom"),  # nickname
    ("police", 2, "Thomsa", "Smith", "2015-03-04", "Male", "NR1 2BB", "P2", "tom"),  # typo
    ("police", 3, "Thomas", "Smith", "2015-04-03", "Male", "NR1 3CC", "P3", "tom"),  # day and month swapped
    ("police", 4, "THOMAS", "Smith", "2015-04-03", "Male", "NR1 3CC", "P3", "tom"),  # same reference
    ("health", 3, "Thomasina", "Smith", "2015-03-04", "F", "NR1 1AA", "9000000002", "twin"),  # other sex
    ("health", 4, "Tomas", "Smith", "2015-03-04", "M", "PE30 1AA", "9000000003", "far"),  # other district
    ("police", 5, "Tim", "Smith", "2015-03-04", "Male", "NR1 1AA", "P5", "tim"),  # not a known short form
    ("health", 5, "Amy", "Jones", "2012-01-01", "F", "NR2 1AA", "9000000004", "amy"),
    ("health", 6, "Amy", "Jones", "2012-01-01", "F", "NR2 1AA", "9000000005", "amy2"),  # same name, other number
    ("police", 6, "Amy", "Jones", "2012-01-01", "Female", "NR2 1AA", "P6", "amy?"),  # cannot say which Amy
    ("health", 7, "Amelia", "Jones", "2012-01-01", "F", "NR2 1AA", "9000000004", "amy"),  # her number, her full name
]


def _zone(folder: Path) -> duckdb.DuckDBPyConnection:
    """A personal zone with the shared store attached, in `folder`."""
    folder.mkdir(exist_ok=True)
    con = duckdb.connect(str(folder / "personal.duckdb"))
    con.execute(f"ATTACH '{folder / 'shared.duckdb'}' AS shared")
    archive.ensure_tables(con)  # the personal zone's delivery log, empty: every row stands
    return con


def _deliver(con: duckdb.DuckDBPyConnection, records: list[tuple]) -> None:
    """The typed tables hold exactly these of `RECORDS`."""
    for c, ref in ((HEALTH, "nhs"), (POLICE, "ref")):
        rows = [r for r in records if r[0] == c.partner]
        frame = pd.DataFrame(
            [
                (f"{c.partner}-sha", f"{c.partner}.csv", r[1], r[2], r[3], pd.Timestamp(r[4]).date(), r[5], r[6], r[7])
                for r in rows
            ],
            columns=["_source_sha256", "_source_file", "_row", "forename", "surname", "dob", "sex", "postcode", ref],
        )
        con.register("frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {c.table} AS SELECT * FROM frame")
        con.unregister("frame")


def test_rules_link_nicknames_typos_and_swapped_dates_but_not_different_children(tmp_path: Path) -> None:
    con = _zone(tmp_path)
    _deliver(con, RECORDS)
    outcome = link(con, [HEALTH, POLICE], KEY, "shared", tmp_path)
    clusters = con.execute(
        "SELECT r.source_table, r.source_row, n.label FROM link_records r JOIN link_nodes n ON n.node = r.identity"
    ).fetchall()
    label = {(t.split("__")[0], row): lab for t, row, lab in clusters}
    groups: dict[str, set[str]] = {}
    for table, row, *_, child in RECORDS:
        groups.setdefault(child, set()).add(label[(table, row)])
    assert all(len(labels) == 1 for labels in groups.values()), groups
    assert len({next(iter(labels)) for labels in groups.values()}) == len(groups)
    assert outcome.children == len(groups)
    shared = con.execute("SELECT link_rule, count(*) FROM shared.child_link GROUP BY ALL").fetchall()
    assert {"nickname_or_typo", "dob_day_month_swapped", "nhs_number", "person_ref"} <= {r for r, _ in shared}
    columns = {r[0] for r in con.execute("DESCRIBE shared.child_link").fetchall()}
    assert columns == {"person_key", "child_key", "link_rule", "link_confidence"}


def _links(con: duckdb.DuckDBPyConnection) -> dict[str, Counter]:
    """Every link of the zone: each node's label, rule and confidence, and the shared child links."""
    return {
        "nodes": Counter(
            con.execute("SELECT node, kind, label, first_label, rule, confidence FROM link_nodes").fetchall()
        ),
        "child_link": Counter(con.execute("SELECT * FROM shared.child_link").fetchall()),
    }


def _differing(a: dict[str, Counter], b: dict[str, Counter]) -> dict[str, tuple[int, int]]:
    """Per table, the rows only in `a` and only in `b`, counted (a failure names no identifier)."""
    return {t: (sum((a[t] - b[t]).values()), sum((b[t] - a[t]).values())) for t in a}


# Nights of deliveries, as the rows each dataset then holds (`RECORDS` by partner and row)
NIGHTS = {
    "first": {("health", 1), ("health", 3), ("health", 4), ("health", 5), ("police", 5), ("police", 6)},
    "a nickname of a child linked before": {("police", 1)},
    "a second child with the same name key": {("health", 6)},
    "that child withdrawn": {("health", -6)},
    "that child delivered again": {("health", 6)},
    "the first one's NHS number under another name": {("health", 7)},
    "a typo, swapped dates, a reference repeated": {("police", 2), ("police", 3), ("police", 4), ("health", 2)},
    "the NHS records withdrawn": {("health", -1), ("health", -2)},
}


# Two children share a name key (so it links no one) and differ in sex; the police know a third
# record by it alone, and a near-match of it. A night then brings someone else under the
# police reference of the name-key record: relinking that child must judge the name key over
# every record carrying it, as linking everyone does (found by review)
SHARED_KEY = [
    ("health", 1, "Tom", "Smith", "2015-03-04", "M", "NR1 1AA", "9000000001", "a"),
    ("health", 2, "Tom", "Smith", "2015-03-04", "F", "NR1 1AA", "9000000002", "b"),
    ("police", 1, "Tom", "Smith", "2015-03-04", "M", "NR1 1AA", "R1", "?"),
    ("police", 2, "Thomas", "Smith", "2015-03-04", "M", "NR1 1AA", "R4", "?"),
    ("police", 3, "Zed", "Other", "2001-01-01", "M", "NR9 9ZZ", "R1", "zed"),
]
SHARED_KEY_NIGHTS = {
    "first": {("health", 1), ("health", 2), ("police", 1), ("police", 2)},
    "someone else under a police reference already known": {("police", 3)},
}


@pytest.mark.parametrize(
    ("records", "nights"), [(RECORDS, NIGHTS), (SHARED_KEY, SHARED_KEY_NIGHTS)], ids=["records", "shared name key"]
)
def test_a_night_relinks_only_the_children_it_touches_and_ends_as_linking_everyone(
    tmp_path: Path, records: list[tuple], nights: dict[str, set[tuple[str, int]]]
) -> None:
    """Each night relinks the children its added or removed records touch, directly, through
    a name key they share (which may start or stop linking) or through a near-match, and keeps
    the rest; the links then are exactly those of linking everyone from scratch."""
    night, scratch = _zone(tmp_path / "nightly"), _zone(tmp_path / "scratch")
    held: set[tuple[str, int]] = set()
    for step, (name, change) in enumerate(nights.items()):
        held = (held | {(t, r) for t, r in change if r > 0}) - {(t, -r) for t, r in change if r < 0}
        delivered = [r for r in records if (r[0], r[1]) in held]
        _deliver(night, delivered)
        _deliver(scratch, delivered)
        nightly = link(night, [HEALTH, POLICE], KEY, "shared", tmp_path, basis="b")
        full = link(scratch, [HEALTH, POLICE], KEY, "shared", tmp_path)
        links = _links(night)
        assert _differing(links, _links(scratch)) == {"nodes": (0, 0), "child_link": (0, 0)}, name
        assert (nightly.records, nightly.children, nightly.rules) == (full.records, full.children, full.rules), name
        nodes = links["nodes"].total()
        if step == 0:  # no links kept yet: everyone is linked
            assert nightly.relinked == nodes, name
        else:
            assert 0 < nightly.relinked < nodes, name


@pytest.fixture(scope="module")
def personal(first_run, home: Path):
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        yield con


def test_linkage_precision_and_recall_against_the_truth(personal, small) -> None:
    links = personal.execute(
        "SELECT r.source_table, r.source_file, r.source_row, n.label AS cluster "
        "FROM link_records r LEFT JOIN link_nodes n ON n.node = r.identity"
    ).df()
    loaded = sum(
        personal.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in links["source_table"].unique()
    )
    assert len(links) == loaded
    quality = score(links, small.truth)
    assert quality.precision >= 0.99 and quality.recall >= 0.95, quality
    assert quality.cross_precision >= 0.99 and quality.cross_recall >= 0.95, quality
    # the hard part: police records carry no NHS number or UPN
    police = score(links[links["source_table"].str.startswith("police__")], small.truth)
    assert police.precision >= 0.99 and police.recall >= 0.95, police


def test_every_shared_person_key_has_one_child_key(first_run, home: Path) -> None:
    with duckdb.connect(str(home / "warehouse" / "shared.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_columns() WHERE column_name = 'person_key' AND table_name <> 'child_link'"
        ).fetchall()]  # fmt: skip
        keys = con.execute(
            " UNION ".join(f'SELECT person_key FROM "{t}" WHERE person_key IS NOT NULL' for t in tables)
        ).df()
        link_table = con.execute("SELECT * FROM child_link").df()
    assert link_table["person_key"].is_unique
    assert set(keys["person_key"]) <= set(link_table["person_key"])
    assert link_table["child_key"].str.fullmatch(r"[0-9a-f]{64}").all()


def _linked(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Each link table's rows as a count and an order-free sum of row hashes (a failure then
    prints no identifier)."""
    tables = {
        "records": "link_records",
        "profiles": "link_profiles",
        "nodes": "link_nodes",
        "child_link": "shared.child_link",
    }
    sql = "SELECT count(*), sum(hash(t)::HUGEINT) FROM {} t"
    return {name: con.execute(sql.format(t)).fetchone() for name, t in tables.items()}


def test_a_night_relinks_only_the_datasets_it_changed_and_links_as_a_full_rebuild_would(
    first_run, home: Path, tmp_path: Path
) -> None:
    """A delivery changes one dataset's rows (police references re-keyed, some rows gone) and
    holds another's delivery (its rows stand no more, its typed table unchanged): linkage
    re-reads those two datasets only, and the links match linking everything from scratch."""
    shutil.copytree(home / "warehouse", tmp_path / "warehouse")
    contracts = load_contracts()
    police = next(c for c in contracts if c.key == "police/missing_episodes")
    contacts = next(c for c in contracts if c.key == "childrens_services/contacts")
    ref = quote(police.identifier_column(IdentifierKind.person_ref))
    with duckdb.connect(str(tmp_path / "warehouse" / "personal.duckdb")) as con:
        con.execute(f"ATTACH '{tmp_path / 'warehouse' / 'shared.duckdb'}' AS shared")
        link(con, contracts, load_key(home), "shared", home, basis="b")  # the links a night starts from
        con.execute(f"UPDATE {police.table} SET {ref} = 'PN' || _row WHERE _row % 5 = 0")
        con.execute(f"DELETE FROM {police.table} WHERE _row % 7 = 0")
        sha = con.execute(f"SELECT min(_source_sha256) FROM {contacts.table}").fetchone()[0]
        hold(con, contacts, {sha: "a test hold"}, "test")
        night = link(con, contracts, load_key(home), "shared", home, basis="b")
        assert sorted(night.tables_added) == sorted([police.table, contacts.table])
        assert 0 < night.relinked < con.execute("SELECT count(*) FROM link_nodes").fetchone()[0] / 2
        incremental = _linked(con)
        con.execute("DROP TABLE link_inputs")  # nothing recorded: every dataset is read again
        full = link(con, contracts, load_key(home), "shared", home)
        assert len(full.tables_added) > 2
        assert _linked(con) == incremental
        assert (full.records, full.children, full.rules) == (night.records, night.children, night.rules)


def test_a_night_rebuilds_only_the_views_whose_tables_changed_and_they_match_a_full_build(
    first_run, home: Path, tmp_path: Path
) -> None:
    from sihub.core.change_tracking import content
    from sihub.linkage.views import build_views, load_views

    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "shared.duckdb")
    views = load_views()
    readers = {v.name for v in views if "education/attendance" in v.sources}
    with duckdb.connect(str(tmp_path / "shared.duckdb")) as con:
        build_views(con, views)
        con.execute("DELETE FROM education__attendance WHERE hash(rowid) % 3 = 0")
        night = build_views(con, views)
        again = {name for name, rows in night.items() if "unchanged" not in str(rows)}
        assert readers and again == readers, night
        kept = {v.name: content(con, v.name) for v in views}
        con.execute("DROP TABLE view_inputs")
        assert not any("unchanged" in str(rows) for rows in build_views(con, views).values())
        assert {v.name: content(con, v.name) for v in views} == kept
        # a view whose file is taken away goes, table and all: nothing outlives its definition
        gone, *rest = views
        build_views(con, rest)
        left = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert gone.name not in left and {v.name for v in rest} <= left
