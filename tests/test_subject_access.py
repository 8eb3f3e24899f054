"""Subject access, erasure and retention on the refreshed `small` partnership."""

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pandas as pd

from governance.agreements import load_register
from governance.retention import purge
from governance.subject_access import Person, erase, export, search
from sihub.core.contracts import load_contracts
from sihub.privacy.keys import load_key
from sihub.synthetic.catalogue import CATALOGUE
from tests.extracts import parse, read_rows

STATUTORY = {"childrens_services", "police", "health", "education"}


def _child(small) -> tuple[int, Person, pd.DataFrame]:
    truth = pd.read_parquet(small.truth / "records.parquet")
    partners = truth.groupby("child_id")["partner"].agg(set)
    child_id = next(c for c, p in partners.items() if p >= STATUTORY)
    c = pd.read_parquet(small.truth / "children.parquet").set_index("child_id").loc[child_id]
    person = Person(c["nhs_number"], c["upn"], c["forename"], c["surname"], pd.Timestamp(c["dob"]).date())
    return child_id, person, truth[truth["child_id"] == child_id]


def _places(found: dict[str, pd.DataFrame]) -> set[tuple[str, int]]:
    places = set()
    for key, rows in found.items():
        base = key.removesuffix(" (quarantine)")
        files, numbers = (
            (rows["source_file"], rows["source_row"]) if key.endswith(")") else (rows["_source_file"], rows["_row"])
        )
        places |= {(f"{base}/{f}", int(r)) for f, r in zip(files, numbers, strict=True)}
    return places


def test_subject_access_finds_the_child_in_every_partners_data(first_run, home: Path, small, tmp_path) -> None:
    _, person, records = _child(small)
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        found = search(con, load_contracts(), person)
    places = _places(found)
    theirs = set(zip(records["file"], records["row"], strict=True))
    assert places and places <= theirs  # nobody else's records
    assert {p.split("/")[0] for p, _ in places} >= STATUTORY & set(records["partner"])
    # every record carrying the NHS number unchanged is found
    with_nhs = {s.dataset for s in CATALOGUE if "nhs_number" in dict(s.columns)}
    must = {
        (f, r)
        for f, r, d, v in records[["file", "row", "dataset", "variation"]].itertuples(index=False)
        if d in with_nhs and "nhs_missing" not in v
    }
    assert must - places <= _defective_nhs(small, must)
    path = export(found, tmp_path)
    assert path.stat().st_mode & 0o077 == 0 and path.suffix == ".xlsx"


def _defective_nhs(small, places) -> set:
    m = pd.read_csv(small.truth / "defects.csv", dtype=str, keep_default_na=False)
    bad = set(zip(m["file"], m["row"].astype(int), strict=True))
    return {p for p in places if p in bad}


def test_erasure_removes_the_person_everywhere(first_run, home: Path, small, tmp_path: Path) -> None:
    shutil.copytree(home / "warehouse", tmp_path / "warehouse")
    _, person, records = _child(small)
    contracts = load_contracts()
    with (
        duckdb.connect(str(tmp_path / "warehouse" / "personal.duckdb")) as personal,
        duckdb.connect(str(tmp_path / "warehouse" / "shared.duckdb")) as shared,
    ):
        shared_before = shared.execute('SELECT count(*) FROM "health__ed_attendances"').fetchall()[0][0]
        links_before = _link_rows(personal)
        counts = erase(personal, shared, contracts, person, load_key(home))
        assert search(personal, contracts, person) == {}
        assert sum(v for k, v in counts.items() if k.startswith("shared store")) > 0, counts
        assert shared.execute('SELECT count(*) FROM "health__ed_attendances"').fetchall()[0][0] < shared_before
        # the link tables keep none of the person's identifiers ...
        mine = ["nhs:" + "".join(ch for ch in person.nhs_number if ch.isdigit()), "upn:" + person.upn.strip().upper()]
        for table, column in (
            ("link_nodes", "node"),
            ("link_nodes", "substr(label, 2)"),
            ("link_profiles", "identity"),
            ("link_profiles", "nhs_number"),
            ("link_profiles", "upn"),
        ):
            held = personal.execute(f"SELECT count(*) FROM {table} WHERE {column} IN ?", [mine]).fetchall()[0][0]
            assert held == 0, (table, column)
        # ... and lose only rows of the children the person's own records were linked to
        links_after = _link_rows(personal)
        theirs = {f"{f}:{r}" for f, r in zip(records["file"], records["row"], strict=True)}
        their_labels = {label for t, f, r, label in links_before if f"{t.replace('__', '/')}/{f}:{r}" in theirs}
        gone = links_before - links_after
        assert links_after <= links_before and gone
        assert {label for *_, label in gone} <= their_labels


def _link_rows(con: duckdb.DuckDBPyConnection) -> set[tuple]:
    rows = "SELECT r.source_table, r.source_file, r.source_row, n.label FROM link_records r JOIN link_nodes n"
    return set(con.execute(f"{rows} ON n.node = r.identity").fetchall())


def test_purge_removes_exactly_what_is_past_retention(first_run, home: Path, manifest, tmp_path: Path) -> None:
    shutil.copytree(home / "warehouse", tmp_path / "warehouse")
    contract = next(c for c in load_contracts() if c.dataset == "contacts")
    as_of = dt.date(2030, 1, 1)  # children's services keep 7 years: everything before 2023-01-01 goes
    cutoff = dt.date(2023, 1, 1)
    spec = next(s for s in CATALOGUE if s.dataset == "contacts")
    bad = set(zip(manifest["file"], manifest["row"], strict=True))
    expected = 0  # loaded rows (no defect, or a duplicate's original) dated before the cutoff
    for path in sorted((home / "landing" / "childrens_services" / "contacts").glob("contacts_20*.csv")):
        header, rows = read_rows(spec, path)
        name = f"childrens_services/contacts/{path.name}"
        for i, row in enumerate(rows, start=1):
            when = parse(spec, "Contact Date", row[header.index("Contact Date")])
            if (name, i) not in bad and when and when.date() < cutoff:
                expected += 1
    with duckdb.connect(str(tmp_path / "warehouse" / "personal.duckdb")) as con:
        done = purge(con, contract, load_register(), as_of)
        left = con.execute('SELECT min(contact_date) FROM "childrens_services__contacts"').fetchall()[0][0]
        gone = con.execute(
            "SELECT archived_path FROM archive_manifest WHERE dataset = 'contacts' AND archived_path IS NULL"
        ).fetchall()
    assert done.cutoff == cutoff and done.rows == expected and left >= cutoff
    assert done.files == len(gone)
