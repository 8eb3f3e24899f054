"""Subject access, erasure and retention on the refreshed `small` partnership."""

import datetime as dt
import shutil
import unicodedata
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd

from governance.agreements import load_register
from governance.retention import purge
from governance.subject_access import Found, Person, erase, export, search
from sihub.core.contracts import load_contracts
from sihub.core.db import table_exists
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


def _places(found: Found) -> set[tuple[str, int]]:
    """Each record found as the truth names it: `partner/dataset/file` and row."""
    places = set()
    for place, rows in found.records.items():
        base = place.removesuffix(" (quarantine)")
        places |= {(f"{base}/{f}", int(r)) for f, r in zip(rows["_source_file"], rows["row"], strict=True)}
    return places


def _truth_places(records: pd.DataFrame) -> set[tuple[str, int]]:
    return set(zip(records["file"], records["row"].astype(int), strict=True))


def test_subject_access_from_an_nhs_number_finds_the_childs_records_through_linkage(first_run, home, small) -> None:
    """Measured on a sample of children against the generator's truth: of each child's
    records, the share found from the NHS number alone; and no record of another child."""
    truth = pd.read_parquet(small.truth / "records.parquet")
    children = pd.read_parquet(small.truth / "children.parquet").set_index("child_id")
    partners = truth.groupby("child_id")["partner"].nunique()
    # children whose NHS number the partnership holds: some record of theirs carries it as sent
    with_nhs = {s.dataset for s in CATALOGUE if "nhs_number" in dict(s.columns)}
    carried = truth[truth["dataset"].isin(with_nhs) & ~truth["variation"].fillna("").str.contains("nhs_missing")]
    spread = [c for c in partners[partners >= 2].index if c in set(carried["child_id"])]
    sample = spread[:: max(1, len(spread) // 40)][:40]
    contracts = load_contracts()
    wanted = found_right = found_wrong = 0
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        for child_id in sample:
            theirs = _truth_places(truth[truth["child_id"] == child_id])
            got = _places(search(con, contracts, Person(nhs_number=children.loc[child_id, "nhs_number"])))
            wanted += len(theirs)
            found_right += len(got & theirs)
            found_wrong += len(got - theirs)
    recall = found_right / wanted
    print(f"subject access over {len(sample)} children: {found_right}/{wanted} records ({recall:.1%}), "
          f"{found_wrong} of other children")  # fmt: skip
    assert recall >= 0.95 and found_wrong == 0


def test_each_record_says_how_it_was_found(first_run, home: Path, small, tmp_path) -> None:
    _, person, records = _child(small)
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        found = search(con, load_contracts(), Person(nhs_number=person.nhs_number))
    how = found.by_how()
    assert how.get("the identifier given", 0) > 0
    assert any(h.startswith("linked through") for h in how), how  # education and police carry no NHS number
    assert {p.split("/")[0] for p, _ in _places(found)} >= STATUTORY & set(records["partner"])
    path = export(found, tmp_path)
    assert path.stat().st_mode & 0o077 == 0 and path.suffix == ".xlsx"


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
        counts = erase(personal, shared, contracts, search(personal, contracts, person), load_key(home), 1)
        assert search(personal, contracts, person).records == {}
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
        # ... nor do the names the text guard looks for (saved by the refresh in the personal zone)
        pair = f"{_folded(person.forename)} {_folded(person.surname)}"
        assert (
            not table_exists(personal, "known_names")
            or not personal.execute("SELECT count(*) FROM known_names WHERE value = ?", [pair]).fetchall()[0][0]
        )
        # ... and lose only rows of the children the person's own records were linked to
        links_after = _link_rows(personal)
        theirs = {f"{f}:{r}" for f, r in zip(records["file"], records["row"], strict=True)}
        their_labels = {label for t, f, r, label in links_before if f"{t.replace('__', '/')}/{f}:{r}" in theirs}
        gone = links_before - links_after
        assert links_after <= links_before and gone
        assert {label for *_, label in gone} <= their_labels


def _folded(name: str) -> str:
    """A name as the text guard compares names: accents dropped, letters only, upper case."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if ch.isalpha()).upper()


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
        done = purge(con, contract, load_register(), as_of, tmp_path)
        left = con.execute('SELECT min(contact_date) FROM "childrens_services__contacts"').fetchall()[0][0]
        gone = con.execute(
            "SELECT archived_path FROM archive_manifest WHERE dataset = 'contacts' AND archived_path IS NULL"
        ).fetchall()
    assert done.cutoff == cutoff and done.rows == expected and left >= cutoff
    assert done.files == len(gone)


def test_erasure_lasts_through_revalidation_a_refresh_and_a_resent_file(first_run, home, small, tmp_path) -> None:
    """Erase a child, and of a second child only the records of one dataset kept in the
    reviewed workbook; re-read every archived file (`sihub revalidate` of each dataset), have a
    partner send one of the first child's files again under another name, and one of its rows
    again as a line that cannot be read; refresh. The first child's records come back into no
    store; of the second, exactly the records the officer kept stand, in the shared store too."""
    import hmac

    from governance import audit
    from governance.subject_access import reviewed
    from pipelines.refresh import run_refresh
    from sihub.intake import archive

    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    child_id, person, records = _child(small)
    other_id, other = _other_child(small, child_id)
    contracts = load_contracts()
    key = load_key(copy)
    entry = audit.record(copy, "erasure", "test", "one child", 1)
    with (
        duckdb.connect(str(copy / "warehouse" / "personal.duckdb")) as personal,
        duckdb.connect(str(copy / "warehouse" / "shared.duckdb")) as shared,
    ):
        erase(personal, shared, contracts, search(personal, contracts, person), key, entry.seq)
        found = search(personal, contracts, other)
        assert len(found.records) >= 2
        book = openpyxl.load_workbook(export(found, tmp_path / "sar"))
        for sheet in book.worksheets[1:]:  # the officer keeps only the first dataset's records for erasure
            book.remove(sheet)
        book.save(tmp_path / "reviewed.xlsx")
        part = reviewed(found, tmp_path / "reviewed.xlsx")
        found_places = _places(found)
        erased_place = next(iter(part.records))
        kept_before = _shared_rows(shared, key, other, exclude=erased_place)
        erase(personal, shared, contracts, part, key, entry.seq + 1, whole_person=False)
        for contract in contracts:
            archive.reopen(personal, contract)
    # the partner sends one of the child's files again, renamed and exported on another system,
    resent = sorted(f for f in records["file"] if f.endswith(".csv"))[0]
    source = copy / "landing" / resent
    again = source.with_name("resent_" + source.name)
    again.write_bytes(source.read_bytes().replace(b"\r\n", b"\n"))
    assert again.read_bytes() != source.read_bytes()
    # ... and a police row of the child (no NHS number or UPN in it), with a field too many
    police = records[records["file"].str.startswith("police/") & records["file"].str.endswith(".csv")].iloc[0]
    lines = (copy / "landing" / police["file"]).read_bytes().splitlines()
    broken = (copy / "landing" / police["file"]).with_name("broken.csv")
    broken.write_bytes(lines[0] + b"\n" + lines[int(police["row"])] + b",extra\n")
    outcome = run_refresh(copy)
    assert outcome.success, outcome.reason
    places = _truth_places(records)
    places |= {(f.replace(source.name, again.name), r) for f, r in places if f == resent}
    nhs, upn = "nhs:" + person.nhs_number.replace(" ", ""), "upn:" + person.upn.strip().upper()
    pseudonyms = [hmac.new(key.secret, n.encode(), "sha256").hexdigest() for n in (nhs, upn)]
    with duckdb.connect(str(copy / "warehouse" / "personal.duckdb"), read_only=True) as con:
        assert search(con, contracts, person).records == {}
        for contract in (c for c in contracts if table_exists(con, c.table)):
            kept = con.execute(
                f"SELECT _source_file, _row FROM {contract.table} UNION ALL SELECT source_file, source_row "
                "FROM quarantine WHERE partner = ? AND dataset = ?",
                [contract.partner, contract.dataset],
            ).fetchall()
            assert not {(f"{contract.key}/{f}", r) for f, r in kept} & places, contract.key
        assert con.execute("SELECT count(*) FROM link_nodes WHERE node IN (?, ?)", [nhs, upn]).fetchone()[0] == 0
        assert con.execute("SELECT count(DISTINCT audit_entry) FROM erased_records").fetchone()[0] == 2
        # the second child: the records erased are gone, every record kept stands
        left = _places(search(con, contracts, other))
        truth = pd.read_parquet(small.truth / "records.parquet")
        theirs = _truth_places(truth[truth["child_id"] == other_id])
        erased_places = _places(part)
        assert left == found_places - erased_places and left <= theirs
        # no line of the first child stands in the quarantine as sent
        ref = con.execute("SELECT count(*) FROM quarantine WHERE source_file = 'broken.csv'").fetchone()[0]
        assert ref == 0
    with duckdb.connect(str(copy / "warehouse" / "shared.duckdb"), read_only=True) as con:
        for (table,) in con.execute(
            "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'person_key'"
        ).fetchall():
            held = con.execute(f'SELECT count(*) FROM "{table}" WHERE person_key IN ?', [pseudonyms]).fetchone()[0]
            assert held == 0, table
        assert _shared_rows(con, key, other, exclude=erased_place) == kept_before


def _other_child(small, not_this: int) -> tuple[int, Person]:
    """A second child with records at two partners or more, found by NHS number."""
    truth = pd.read_parquet(small.truth / "records.parquet")
    partners = truth.groupby("child_id")["partner"].nunique()
    children = pd.read_parquet(small.truth / "children.parquet").set_index("child_id")
    child_id = next(c for c in partners[partners >= 2].index if c != not_this and c > not_this + 100)
    return child_id, Person(children.loc[child_id, "nhs_number"])


def _shared_rows(con: duckdb.DuckDBPyConnection, key, person: Person, exclude: str) -> dict[str, int]:
    """The person's rows per shared table (by the pseudonym of their NHS number), but for the dataset erased from."""
    import hmac

    pseudonym = hmac.new(key.secret, ("nhs:" + person.nhs_number.replace(" ", "")).encode(), "sha256").hexdigest()
    skip = exclude.removesuffix(" (quarantine)").replace("/", "__")
    out = {}
    for (table,) in con.execute("SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'person_key' "
                                "AND table_name NOT IN ('child_link', ?)", [skip]).fetchall():  # fmt: skip
        out[table] = con.execute(f'SELECT count(*) FROM "{table}" WHERE person_key = ?', [pseudonym]).fetchone()[0]
    return out
