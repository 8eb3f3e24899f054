"""Dataset-level rules as Dagster asset checks, run for real in-process: a broken delivery is
held while the rest publishes, and a leak blocks publication with the check named."""

import csv
import json
import shutil
from pathlib import Path

import duckdb

from governance.agreements import in_use, load_register
from pipelines.definitions import build_definitions
from pipelines.refresh import run_refresh
from sihub.core.contracts import load_contracts
from sihub.core.paths import PROJECT_ENV, project_dir

REPO = Path(__file__).parents[1]


def write_csv(path: Path, contract_key: str, rows: list[dict[str, str]]) -> None:
    contract = next(c for c in load_contracts() if c.key == contract_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=contract.source.encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow([c.source for c in contract.columns.values()])
        for row in rows:
            writer.writerow([row.get(c.source, "") for c in contract.columns.values()])


def contact(i: int, date: str) -> dict[str, str]:
    return {
        "Contact ID": f"CT{i:08d}",
        "Contact Date": date,
        "Threshold Tier": "2",
        "Postcode": "NR2 4AB",
        "DOB": "01/02/2015",
        "Gender": "F",
    }


def flag(i: int) -> dict[str, str]:
    return {
        "flag_ref": f"EX{i:08d}",
        "flag_raised_date": "2024-05-01",
        "flag_type": "CCE",
        "flag_status": "Active",
        "date_of_birth": "2009-03-01",
        "home_postcode": "NR30 1AA",
    }


def test_every_dataset_rule_is_an_asset_check_and_only_the_leak_guard_blocks(tmp_path: Path) -> None:
    """A delivery failing a dataset check is held (tests/test_deliveries.py), so no dataset
    check needs to stop the run; the leak guard still blocks publication."""
    defs = build_definitions(tmp_path)
    graph = defs.resolve_asset_graph()
    checks = {k for k in graph.asset_check_keys if k.asset_key.path[:1] == ["validated"]}
    contracts, _ = in_use(load_contracts(), load_register())
    assert {k.name for k in checks} >= {
        "quarantine_share",
        "deliveries_held",
        "files_readable",
        "columns_as_contracted",
        "row_count_change",
        "freshness",
    }
    assert len({k.asset_key for k in checks}) == len(contracts)
    specs = [s for a in defs.assets for s in getattr(a, "check_specs", [])]
    assert not any(s.blocking for s in specs if s.asset_key.path[0] == "validated")
    (guard,) = [s for s in specs if s.name == "leak_guard"] or [
        s for c in defs.asset_checks for s in c.check_specs if s.name == "leak_guard"
    ]
    assert guard.blocking


def test_a_delivery_failing_a_check_is_held_and_the_rest_publishes(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    bad = [contact(i, "31/02/2024" if i % 2 else "03/02/2024") for i in range(30)]  # half impossible dates
    write_csv(landing / "childrens_services" / "contacts" / "contacts_2024.csv", "childrens_services/contacts", bad)
    flags = landing / "police" / "exploitation_flags" / "flags_2024.csv"
    write_csv(flags, "police/exploitation_flags", [flag(i) for i in range(10)])
    lines = flags.read_text().splitlines()  # the partner adds a column and drops an optional one
    flags.write_text("\n".join(f"{line.replace(',Active', '')},x" for line in lines).replace(",flag_status,x", ",Team"))

    outcome = run_refresh(tmp_path)

    assert outcome.success, outcome.reason
    summary = json.loads((tmp_path / "operations" / "run_summary.json").read_text())
    (flags_file,) = next(d for d in summary["datasets"] if d["dataset"] == "exploitation_flags")["files"]
    assert (flags_file["missing_columns"], flags_file["unexpected_columns"]) == (["flag_status"], ["Team"])
    contacts = next(d for d in summary["datasets"] if d["dataset"] == "contacts")
    assert [f["status"] for f in contacts["files"]] == ["held"]
    assert "15 of 30 rows quarantined (50%, more than 10%)" in contacts["held"][0]["reason"]
    (alert_file,) = (tmp_path / "operations" / "alerts").glob("*.json")
    alert = json.loads(alert_file.read_text())
    assert (alert["kind"], alert["partner"], alert["run_id"]) == ("delivery_held", "childrens_services", outcome.run_id)
    assert alert["failed"].startswith("validated/childrens_services/contacts delivery ")
    assert "type:contact_date 15" in alert["reason"] and alert["logs"] and alert["delivered"] == []
    with duckdb.connect(str(tmp_path / "warehouse" / "shared.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM police__exploitation_flags").fetchall() == [(10,)]  # went on
        # the held delivery went no further, its 15 good rows included
        assert con.execute("SELECT count(*) FROM childrens_services__contacts").fetchall() == [(0,)]
    with duckdb.connect(str(tmp_path / "warehouse" / "personal.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM quarantine WHERE rule_id = 'type:contact_date'").fetchall() == [(15,)]


def test_leak_guard_finds_identifiers_by_name_and_value_never_showing_them() -> None:
    from sihub.privacy.leak_guard import LeakFound, scan

    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS personal")
    con.execute("CREATE TABLE personal.people AS SELECT 'Zoë' AS forename, 'Taylor' AS surname")
    con.execute(
        "CREATE TABLE notes AS SELECT * FROM (VALUES ('seen 943 476 5919', 'x'), ('9434765919', 'NR2 4AB'), "
        "('P926200412006', 'zoë taylor'), ('contacts_per_10k', 'E07000145')) v(a, b)"
    )
    con.execute("CREATE TABLE dims AS SELECT 'Norwich' AS geography_name, '2024-01' AS period_id, 'x' AS surname")
    con.execute(
        "CREATE TEMP TABLE _known_names AS SELECT 'name' AS kind, upper(strip_accents(forename || ' ' || surname)) "
        "AS value FROM personal.people"
    )
    findings = scan(con, "memory", [], "_known_names")
    got = {(f.table, f.column, f.kind, f.count) for f in findings}
    assert got == {
        ("notes", "a", "nhs_number", 1),  # a whole-cell valid NHS number ...
        ("notes", "a", "nhs_number within text", 1),  # ... and one inside text, each counted once
        ("notes", "a", "upn", 1),
        ("notes", "b", "postcode", 1),
        ("notes", "b", "forename and surname", 1),
        ("dims", "surname", "identifier column name", 0),
    }
    message = str(LeakFound(findings))
    assert "9434765919" not in message and "Taylor" not in message and "notes.a: nhs_number" in message


def test_leak_guard_counts_every_row_the_python_rules_flag_long_or_spaced_values_included() -> None:
    """The guard skips values that are long and have no white space; spaced and padded
    identifiers are long too, and must still be found, once per row."""
    import re

    from sihub.privacy.identifiers import UK_POSTCODE, is_valid_nhs_number, is_valid_pnc, is_valid_upn, pnc_check_letter
    from sihub.privacy.leak_guard import scan

    pnc = f"2019/0012345{pnc_check_letter('2019', '0012345')}"
    values = [
        "9434765919", "943 476 5919", "9 4 3 4 7 6 5 9 1 9", "9434765918", "P926200412006", "p926200412006",
        pnc, f"   {pnc.lower()}      ", "NR2 4AB", "nr24ab", "NR2  4AB  ", "a" * 64, "9434765919" + "0" * 54, "x",
    ]  # fmt: skip
    rows = [v for i, v in enumerate(values) for _ in range(i % 3 + 1)]  # repeats: counts are rows, not values
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in rows])

    def postcode(v: str) -> bool:
        return 5 <= len(v) <= 8 and re.fullmatch(UK_POSTCODE, v.upper().replace(" ", "")) is not None

    rules = {"nhs_number": is_valid_nhs_number, "upn": lambda v: is_valid_upn(v.upper()), "pnc_id": is_valid_pnc}
    expected = {kind: sum(map(rule, rows)) for kind, rule in {**rules, "postcode": postcode}.items()}
    findings = scan(con, "memory", [])
    got = {f.kind: f.count for f in findings if not f.kind.endswith("within text")}
    assert got == {kind: n for kind, n in expected.items() if n}
    # a postcode padded past a postcode's length is no whole-cell postcode, but is found in the text
    assert {f.kind: f.count for f in findings if f.kind.endswith("within text")} == {"postcode within text": 2}
    assert set(got) == {"nhs_number", "upn", "pnc_id", "postcode"}


def test_a_delivery_label_is_no_identifier_whatever_its_date_but_one_hidden_in_its_shape_is() -> None:
    """A delivery's label (`partner/dataset 2026-12-05 #3`) is the hub's own writing: a dataset
    name's digits read with the date can make ten digits that pass Modulus 11
    (`cin_section_47` on 5 December 2026), which must not block publication; an NHS number
    beside a label, or written where a label's date stands, is still found."""
    import datetime as dt
    import re

    from sihub.intake.archive import label
    from sihub.privacy.identifiers import is_valid_nhs_number
    from sihub.privacy.leak_guard import scan

    contracts = [c for c in load_contracts() if c.key[-1].isdigit()]
    days = [dt.datetime(2025, 1, 1) + dt.timedelta(days=d) for d in range(366)]
    archive = duckdb.connect()  # labels as the archive writes them: the first delivery, then the twelfth
    archive.execute("CREATE TABLE deliveries (partner VARCHAR, dataset VARCHAR)")
    labels = [label(archive, c, d) for c in contracts for d in days]
    archive.execute("INSERT INTO deliveries SELECT partner, dataset FROM (VALUES " + ", ".join(
        f"('{c.partner}', '{c.dataset}')" for c in contracts) + ") v(partner, dataset), range(11)")  # fmt: skip
    labels += [label(archive, c, d) for c in contracts for d in days]
    assert labels[-1].endswith(" #12")
    readable = [v for v in labels if is_valid_nhs_number(re.sub(r"[^0-9]", "", v.split(" #")[0]))]
    assert len(readable) > 10  # the dataset's digits and the date make a valid NHS number
    attacks = [
        f"{readable[0]} 943 476 5919",  # beside a label
        "police/missing_episodes_94 3476-59-19 #1",  # where the date stands: no date, so read
        "police/missing_episodes 943-476-5919 #2",
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE delivery_log (label VARCHAR)")
    con.executemany("INSERT INTO delivery_log VALUES (?)", [[v] for v in labels + attacks])
    findings = scan(con, "memory", [])
    assert [(f.table, f.column, f.kind, f.count) for f in findings] == [
        ("delivery_log", "label", "nhs_number within text", len(attacks))
    ]


def test_leak_guard_rescans_only_what_changed_since_a_clean_scan() -> None:
    from sihub.privacy.leak_guard import scan_changed

    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS personal")
    con.execute("CREATE TABLE personal.people AS SELECT 'Ann' AS forename, 'Lee' AS surname")
    con.execute("CREATE TABLE big AS SELECT 'note ' || range AS note FROM range(1000)")
    con.execute("CREATE TABLE small AS SELECT 'x' AS note")

    def known() -> str:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _names AS "
            "SELECT 'name' AS kind, upper(forename || ' ' || surname) AS value FROM personal.people"
        )
        return "_names"

    names = known()
    assert scan_changed(con, "memory", [], names) == ([], 3)  # big, small and its own record
    assert scan_changed(con, "memory", [], names) == ([], 1)  # only the record of scans itself

    con.execute("INSERT INTO small VALUES ('9434765919')")  # a changed table is scanned again
    findings, scanned = scan_changed(con, "memory", [], names)
    assert [(f.table, f.kind) for f in findings] == [("small", "nhs_number")] and scanned == 2
    findings, _ = scan_changed(con, "memory", [], names)  # a finding is never remembered as clean
    assert [(f.table, f.kind) for f in findings] == [("small", "nhs_number")]
    con.execute("DELETE FROM small WHERE note = '9434765919'")
    assert scan_changed(con, "memory", [], names)[0] == []

    con.execute("UPDATE big SET note = 'BOB RAY' WHERE note = 'note 7'")
    assert scan_changed(con, "memory", [], names)[0] == []  # not a known name yet
    con.execute("INSERT INTO personal.people VALUES ('Bob', 'Ray')")  # a new name: unchanged tables too
    names = known()
    findings, scanned = scan_changed(con, "memory", [], names)
    assert [(f.table, f.kind) for f in findings] == [("big", "forename and surname")] and scanned == 3


def test_one_bad_row_in_a_tiny_delivery_is_quarantined_not_held(tmp_path: Path) -> None:
    """One row in four quarantined is 25%, over the 10% a delivery may lose, but four rows are
    too few for a share to mean anything: the delivery stands and everything publishes."""
    rows = [contact(i, "03/02/2024") for i in range(4)]
    rows[2]["Threshold Tier"] = "9"  # not an allowed tier
    write_csv(tmp_path / "landing" / "childrens_services" / "contacts" / "c.csv", "childrens_services/contacts", rows)
    outcome = run_refresh(tmp_path)
    assert outcome.success, outcome.reason
    (contacts,) = [d for d in outcome.summary["datasets"] if d["dataset"] == "contacts"]
    assert [(f["status"], f["rows_loaded"], f["rows_quarantined"]) for f in contacts["files"]] == [("loaded", 3, 1)]
    assert contacts["held"] == []


def test_a_leak_in_the_shared_store_blocks_publication(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "landing" / "police" / "exploitation_flags" / "flags_2024.csv",
        "police/exploitation_flags",
        [flag(i) for i in range(10)],
    )
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse" / "shared.duckdb")) as con:
        con.execute("CREATE TABLE analyst_scratch AS SELECT '943 476 5919' AS note")
    outcome = run_refresh(tmp_path)
    assert not outcome.success
    # the check, and what it found where (table, column, kind: never the value)
    assert outcome.reason.startswith("blocked by failed data-quality check(s): metrics/metric_values leak_guard (")
    assert "analyst_scratch" in outcome.reason and "nhs" in outcome.reason.lower()
    assert "943" not in outcome.reason and "5919" not in outcome.reason
    assert not (tmp_path / "published" / "metrics.duckdb").exists()


def episode(i: int, day: str) -> dict[str, str]:
    return {
        "episode_ref": f"ME{i:08d}",
        "person_ref": f"P{i:07d}",
        "date_of_birth": "2010-06-01",
        "sex": "Female",
        "home_postcode": "NR2 4AB",
        "reported_missing_datetime": f"{day} 21:00",
    }


def test_a_leak_in_one_dataset_holds_back_only_the_metrics_built_on_it(tmp_path: Path, monkeypatch) -> None:
    landing = tmp_path / "landing"
    write_csv(
        landing / "childrens_services" / "contacts" / "c1.csv",
        "childrens_services/contacts",
        [contact(i, "03/02/2024") for i in range(12)],
    )
    write_csv(
        landing / "police" / "missing_episodes" / "m1.csv",
        "police/missing_episodes",
        [episode(i, "2024-02-10") for i in range(11)],
    )
    assert run_refresh(tmp_path).success
    published = tmp_path / "published" / "metrics.duckdb"

    def facts(metric: str) -> list[tuple]:
        with duckdb.connect(str(published), read_only=True) as con:
            return con.execute("SELECT * FROM fact_metric_value WHERE metric_id = ? ORDER BY ALL", [metric]).fetchall()

    before = facts("contacts_per_10k")
    assert before
    # the contacts contract is edited: UPNs marked non-personal reach the shared store (which
    # the leak guard finds); then police deliver March
    own = tmp_path / "project"
    for part in ("data_contracts", "sql", "reference", "governance"):
        shutil.copytree(REPO / part, own / part, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copy(REPO / "dagster.yaml", own / "dagster.yaml")
    contract = own / "data_contracts" / "childrens_services" / "contacts.yaml"
    text = contract.read_text(encoding="utf-8")
    assert "classification: direct_identifier, identifier: upn" in text
    contract.write_text(
        text.replace("classification: direct_identifier, identifier: upn", "classification: non_personal"),
        encoding="utf-8",
    )
    monkeypatch.setenv(PROJECT_ENV, str(own))
    project_dir.cache_clear()
    try:
        write_csv(
            landing / "police" / "missing_episodes" / "m2.csv",
            "police/missing_episodes",
            [episode(100 + i, "2024-03-12") for i in range(9)],
        )
        outcome = run_refresh(tmp_path)
    finally:
        monkeypatch.delenv(PROJECT_ENV)
        project_dir.cache_clear()

    assert outcome.success, outcome.reason
    assert "NR2 4AB" not in json.dumps(outcome.summary) and "NR2" not in (outcome.reason or "")
    # the metrics built on the leaking dataset keep their last published values, marked stale
    assert facts("contacts_per_10k") == before
    with duckdb.connect(str(published), read_only=True) as con:
        status = dict(con.execute("SELECT metric_id, status FROM dim_metric").fetchall())
        notes = dict(con.execute("SELECT metric_id, status_note FROM dim_metric").fetchall())
        # everything else is published from this run: March's 9 new episodes, at county
        march = con.execute(
            "SELECT numerator FROM fact_metric_value f JOIN dim_geography g USING (geography_code) "
            "WHERE metric_id = 'missing_episodes_per_10k' AND period_id = '2024-03' AND geography_type = 'county' "
            "AND breakdown = 'all'"
        ).fetchone()
    assert status["contacts_per_10k"] == "stale"
    assert "childrens_services/contacts" in notes["contacts_per_10k"] and "leak guard" in notes["contacts_per_10k"]
    assert "NR2" not in notes["contacts_per_10k"]
    assert status["missing_episodes_per_10k"] == "current" and notes["missing_episodes_per_10k"] is None
    assert march == (9,)
    held_back = {m["metric_id"]: m["status"] for m in outcome.summary["metrics_held_back"]}
    assert held_back == {m: s for m, s in status.items() if s != "current"}
    assert {"contacts_per_10k", "referrals_per_10k"} <= set(held_back)
    # and it is an alert, naming the metrics and the dataset, never a value
    alerts = [json.loads(p.read_text()) for p in (tmp_path / "operations" / "alerts").glob("held-back-*.json")]
    assert [a["kind"] for a in alerts] == ["metrics_held_back"]
    assert "contacts_per_10k" in alerts[0]["reason"] and "childrens_services/contacts" in alerts[0]["reason"]
    assert "NR2" not in json.dumps(alerts)


def test_no_live_agreement_holds_that_dataset_only(tmp_path: Path, monkeypatch) -> None:
    import datetime as dt

    import yaml

    from governance import audit
    from sihub.core.paths import project

    register = yaml.safe_load(project().agreements.read_text())
    for a in register["agreements"]:
        if a["partner"] == "police":
            a["valid_to"] = dt.date(2025, 3, 31)
    path = tmp_path / "agreements.yaml"
    path.write_text(yaml.safe_dump(register))
    monkeypatch.setenv("SIHUB_AGREEMENTS", str(path))
    landing = tmp_path / "landing"
    write_csv(
        landing / "police" / "exploitation_flags" / "flags_2024.csv",
        "police/exploitation_flags",
        [flag(i) for i in range(10)],
    )
    write_csv(
        landing / "childrens_services" / "contacts" / "contacts_2024.csv",
        "childrens_services/contacts",
        [contact(i, "03/02/2024") for i in range(10)],
    )

    outcome = run_refresh(tmp_path)

    assert outcome.success, outcome.reason
    files = {d["dataset"]: d["files"] for d in outcome.summary["datasets"]}
    assert [(f["status"], f["error"]) for f in files["exploitation_flags"]] == [
        ("held", "the data-sharing agreement NSCP-ISA-POL-2021 for police/exploitation_flags expired on 2025-03-31")
    ]
    assert [f["status"] for f in files["contacts"]] == ["loaded"]
    assert (landing / "police" / "exploitation_flags" / "flags_2024.csv").exists()  # held in landing
    assert not (tmp_path / "raw" / "police").exists()
    log = audit.entries(tmp_path)
    assert {e.action for e in log} == {"collection", "alteration", "disclosure"} and audit.verify(tmp_path) is None
    assert not any("police" in e.what and e.action == "collection" for e in log)
