"""The audit log as an auditor must be able to rely on it, attacked as someone with write access
to the governance database would: an entry edited and the chain recomputed, the latest entries
cut off, every entry deleted, and several processes appending at once."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from governance import audit

SIHUB = str(Path(sys.executable).parent / "sihub")
APPEND = """
import sys
from pathlib import Path
from governance import audit
for i in range(int(sys.argv[2])):
    audit.record(Path(sys.argv[1]), "consultation", "concurrent writer", f"entry {i}", i)
"""


def db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "governance" / "governance.db")


def filled(home: Path, n: int = 5) -> None:
    for i in range(n):
        audit.record(home, "collection", "nightly refresh", f"dataset {i}", i)
    audit.anchor(home, "run-1")


def test_an_edited_entry_with_its_chain_recomputed_is_found(tmp_path: Path) -> None:
    filled(tmp_path)
    with db(tmp_path) as con:  # the attacker recomputes every hash the unkeyed way
        rows = con.execute("SELECT seq, at, who, action, why, what, how_many, recipient FROM audit_log ORDER BY seq")
        previous = "0" * 64
        for seq, at, who, action, why, what, how_many, recipient in rows.fetchall():
            how_many = 0 if seq == 3 else how_many
            body = dict(at=at, who=who, action=action, why=why, what=what, how_many=how_many,
                        recipient=recipient, prev_hash=previous)  # fmt: skip
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            con.execute("UPDATE audit_log SET how_many = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                        [how_many, previous, digest, seq])  # fmt: skip
            previous = digest
    problem = audit.check(tmp_path)
    assert problem is not None and "entry 1" in problem  # the first entry's hash is not the keyed one


def test_entries_cut_off_after_an_anchor_are_found(tmp_path: Path) -> None:
    filled(tmp_path)
    with db(tmp_path) as con:
        con.execute("DELETE FROM audit_log WHERE seq > 3")
    problem = audit.check(tmp_path)
    assert problem is not None and "5 entries" in problem and "3" in problem


def test_a_log_emptied_entirely_is_found(tmp_path: Path) -> None:
    filled(tmp_path)
    with db(tmp_path) as con:
        con.execute("DELETE FROM audit_log")
    assert audit.check(tmp_path) is not None


def test_writers_appending_at_once_never_fork_the_chain(tmp_path: Path) -> None:
    audit.record(tmp_path, "collection", "first", "one", 1)  # the database exists before they race
    writers = [subprocess.Popen([sys.executable, "-c", APPEND, str(tmp_path), "30"]) for _ in range(3)]
    assert all(w.wait(timeout=120) == 0 for w in writers)
    log = audit.entries(tmp_path)
    assert len(log) == 91 and len({e.prev_hash for e in log}) == 91
    assert audit.check(tmp_path) is None


def test_sihub_audit_verify_names_the_first_bad_entry(tmp_path: Path) -> None:
    filled(tmp_path)
    env = {**os.environ, "SIHUB_HOME": str(tmp_path)}
    good = subprocess.run([SIHUB, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    with db(tmp_path) as con:
        con.execute("UPDATE audit_log SET what = 'nothing to see' WHERE seq = 2")
    bad = subprocess.run([SIHUB, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "entry 2" in bad.stderr


def test_a_refresh_checks_the_chain_and_alerts_when_it_is_broken(first_run, home: Path, tmp_path: Path) -> None:
    import shutil

    from pipelines.refresh import run_refresh

    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    assert audit.check(copy) is None
    with db(copy) as con:
        con.execute("UPDATE audit_log SET how_many = how_many + 1 WHERE seq = 3")
    outcome = run_refresh(copy)
    assert outcome.reason and "audit log entry 3" in outcome.reason
    alerts = [json.loads(p.read_text()) for p in (copy / "operations" / "alerts").glob("*.json")]
    assert any("audit log entry 3" in a["reason"] for a in alerts)


def test_anchor_file_deleted_and_log_cut_short_is_found_from_dagster(first_run, home: Path, tmp_path: Path) -> None:
    """The run's Dagster metadata keeps the anchor the writer of the log cannot rewrite."""
    import shutil

    from pipelines.instance import hub_instance
    from pipelines.refresh import run_refresh

    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    assert run_refresh(copy).success  # a run with the hub's own instance anchors in Dagster too
    (copy / "governance" / "audit_anchors.jsonl").unlink()
    with db(copy) as con:
        con.execute("DELETE FROM audit_log WHERE seq > 10")
    from assets.audit import dagster_anchors

    problem = audit.check(copy, dagster_anchors(hub_instance(copy)))
    assert problem and "entries were deleted" in problem
    env = {**os.environ, "SIHUB_HOME": str(copy)}
    env.pop("DAGSTER_HOME", None)
    verify = subprocess.run([SIHUB, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 1 and "deleted" in verify.stderr


def test_a_rewritten_anchor_is_found(tmp_path: Path) -> None:
    filled(tmp_path)
    with db(tmp_path) as con:
        con.execute("DELETE FROM audit_log WHERE seq > 2")
        (head,) = con.execute("SELECT hash FROM audit_log WHERE seq = 2").fetchone()
    path = tmp_path / "governance" / "audit_anchors.jsonl"
    mark = json.loads(path.read_text()) | {"entries": 2, "head": head}
    path.write_text(json.dumps(mark) + "\n")
    problem = audit.check(tmp_path)
    assert problem and "not written by the hub" in problem


def test_subject_access_entries_cut_after_the_search_are_found(first_run, home: Path, small, tmp_path: Path) -> None:
    """A subject access search is logged and anchored as the command ends: deleting its
    entries before the next refresh shows."""
    import shutil

    import pandas as pd

    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    nhs = pd.read_parquet(small.truth / "children.parquet")["nhs_number"].dropna().iloc[0]
    env = {**os.environ, "SIHUB_HOME": str(copy)}
    done = subprocess.run([SIHUB, "sar", "--nhs-number", nhs], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert audit.check(copy) is None
    with db(copy) as con:
        con.execute("DELETE FROM audit_log WHERE why LIKE 'sihub sar%'")
    assert audit.check(copy) is not None
