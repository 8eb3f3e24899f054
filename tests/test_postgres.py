"""Production as shipped, against a real PostgreSQL server (`.ci/run` starts one and sets
SIHUB_TEST_POSTGRES): an instance made by `sihub instance init` from the template, a refresh
with Dagster's storage and the governance database both on PostgreSQL, its runs and events in
the server's tables, the audit chain kept whole by writers from several processes and homes at
once, and no password written anywhere. Each test gets a database of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from dagster import DagsterInstance
from dagster._core.instance import InstanceRef
from dagster._core.instance.config import dagster_instance_config

from governance import audit
from pipelines.refresh import run_refresh

SERVER = os.environ.get("SIHUB_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(
    not SERVER, reason="no PostgreSQL server for the production tests: .ci/run starts one (SIHUB_TEST_POSTGRES)"
)
SIHUB = str(Path(sys.executable).parent / "sihub")
# a login password as a council's policy makes them (symbols a URL would need encoded), to look
# for in every file and table afterwards
PASSWORD = "Tq9!v@Lm#4s%Pz/k:" + uuid.uuid4().hex[:8]
APPEND = """
import sys
from pathlib import Path
from governance import audit
for i in range(int(sys.argv[2])):
    audit.record(Path(sys.argv[1]), "consultation", "concurrent writer", f"entry {i}", i)
"""


@pytest.fixture
def database() -> Iterator[dict[str, str]]:
    """A fresh database owned by a login role with a password, as production would have;
    the DAGSTER_PG_* settings that reach it."""
    name = "sihub_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s", [PASSWORD])  # .ci/postgres checks it
        cur.execute(f"CREATE DATABASE {name} OWNER {name}")
    server = urlsplit(SERVER)
    yield {"DAGSTER_PG_HOST": server.hostname, "DAGSTER_PG_PORT": str(server.port), "DAGSTER_PG_DB": name,
           "DAGSTER_PG_USERNAME": name, "DAGSTER_PG_PASSWORD": PASSWORD}  # fmt: skip
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"DROP ROLE IF EXISTS {name}")
    admin.close()


def _governance(db: dict[str, str], monkeypatch: pytest.MonkeyPatch, password: str = PASSWORD) -> None:
    """The governance database as documented: a plain `postgresql://` URL without the
    password, which comes apart."""
    url = f"postgresql://{db['DAGSTER_PG_USERNAME']}@{db['DAGSTER_PG_HOST']}:{db['DAGSTER_PG_PORT']}/{db['DAGSTER_PG_DB']}"
    monkeypatch.setenv("SIHUB_GOVERNANCE_DB", url)
    monkeypatch.setenv("SIHUB_GOVERNANCE_DB_PASSWORD", password)


def _query(db: dict[str, str], sql: str) -> list[tuple]:
    login = {"host": db["DAGSTER_PG_HOST"], "port": db["DAGSTER_PG_PORT"], "dbname": db["DAGSTER_PG_DB"],
             "user": db["DAGSTER_PG_USERNAME"], "password": db["DAGSTER_PG_PASSWORD"]}  # fmt: skip
    with psycopg2.connect(**login) as con, con.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_a_refresh_on_postgres_records_its_runs_events_and_audit_there(
    database: dict[str, str], small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in database.items():
        monkeypatch.setenv(var, value)
    instance_dir = tmp_path / "instance"
    made = subprocess.run([SIHUB, "instance", "init", str(instance_dir)], capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    config, _ = dagster_instance_config(str(instance_dir))  # Dagster's own check of the settings
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    monkeypatch.setenv("DAGSTER_HOME", str(instance_dir))

    home = tmp_path / "home"
    shutil.copytree(small.out, home / "landing")
    shutil.copytree(small.out.parent / "reference", home / "reference")
    # the governance database refusing the login: no file is archived that could go unaudited
    _governance(database, monkeypatch, password="wrong")
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(instance_dir))) as instance:
        assert not run_refresh(home, instance=instance).success
    assert not [p for p in (home / "raw").rglob("*") if p.is_file()]
    _governance(database, monkeypatch)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(instance_dir))) as instance:
        outcome = run_refresh(home, instance=instance)
    assert outcome.success, outcome.reason
    assert _query(database, "SELECT count(*) FROM audit_log WHERE action = 'collection'")[0][0] > 0

    # the runs and their events are in PostgreSQL, where the Dagster UI on this instance reads them
    runs = dict(_query(database, "SELECT run_id, status FROM runs"))
    assert sorted(runs.values()) == ["FAILURE", "SUCCESS"]
    ok = next(r for r, status in runs.items() if status == "SUCCESS")
    assert _query(database, f"SELECT count(*) FROM event_logs WHERE run_id = '{ok}'")[0][0] > 100
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(instance_dir))) as fresh:
        assert {r.run_id for r in fresh.get_runs()} == set(runs)
    # the governance database: agreements and an intact audit chain, on the server
    assert _query(database, "SELECT count(*) FROM agreements")[0][0] > 0
    assert _query(database, "SELECT count(*) FROM audit_log")[0][0] == len(audit.entries(home)) > 0
    assert audit.check(home) is None
    assert not (home / "governance" / "governance.db").exists()

    # no password in any file the run wrote, nor in any table
    for folder in (instance_dir, home):
        for path in (p for p in folder.rglob("*") if p.is_file()):
            assert PASSWORD.encode() not in path.read_bytes(), path
    dump = _query(database, "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM event_logs) t")[0][0]
    assert not [part for part in (PASSWORD, PASSWORD[:8], PASSWORD[-8:]) if part in dump]


def test_writers_in_several_processes_and_homes_keep_one_audit_chain(
    database: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four processes, two of them for another hub home sharing the database (and, as it
    must, the audit key), 25 entries each: one chain, every entry after the one before."""
    _governance(database, monkeypatch)
    monkeypatch.setenv(audit.KEY_ENV, "shared-audit-key-for-" + database["DAGSTER_PG_DB"])
    homes = [tmp_path / "a", tmp_path / "b"]
    audit.record(homes[0], "collection", "first", "one", 1)  # the tables exist before they race
    writers = [subprocess.Popen([sys.executable, "-c", APPEND, str(homes[i % 2]), "25"]) for i in range(4)]
    assert all(w.wait(timeout=300) == 0 for w in writers)
    log = audit.entries(homes[1])
    assert [e.seq for e in log] == list(range(1, 102))
    assert len({e.prev_hash for e in log}) == 101  # no two entries claim the same predecessor
    assert audit.verify(homes[0]) is None and audit.verify(homes[1]) is None
