"""Publishing: the documented schema, lineage, snapshots swapped atomically under a reader
that never stops reading, rollback, and a snapshot that fails its checks never going live."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from governance import audit
from sihub.core.snapshots import SnapshotError, current, rollback, snapshots
from sihub.metrics.catalogue import load_catalogue
from sihub.privacy.disclosure import DisclosureError
from sihub.privacy.tiers import load_tiers
from sihub.publishing.publish import publish

REPO = Path(__file__).parents[1]
SIHUB = str(Path(sys.executable).parent / "sihub")
ARROW = {
    "VARCHAR": pa.string(), "BIGINT": pa.int64(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(), "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"),
}  # fmt: skip

READER = r"""
import json, os, sys, time
import duckdb, pyarrow.parquet as pq
published, stop, out = sys.argv[1:4]
seen, errors, reads = [], [], 0
while not os.path.exists(stop):
    try:
        with duckdb.connect(os.path.join(published, "metrics.duckdb"), read_only=True) as con:
            runs = con.execute("SELECT DISTINCT run_id FROM publication").fetchall()
            facts = con.execute("SELECT count(*) FROM fact_metric_value").fetchall()[0][0]
        if len(runs) != 1 or facts == 0:
            errors.append(f"duckdb: runs {runs}, facts {facts}")
        folder = os.path.realpath(os.path.join(published, "parquet"))
        tags = {pq.read_schema(os.path.join(folder, f)).metadata[b"run_id"].decode() for f in os.listdir(folder)}
        lineage = set(pq.read_table(os.path.join(folder, "publication.parquet")).column("run_id").to_pylist())
        if len(tags) != 1 or lineage != tags:
            errors.append(f"parquet: files from {tags}, lineage {lineage}")
        seen += [runs[0][0], *tags]
        reads += 1
    except Exception as err:
        errors.append(f"{type(err).__name__}: {str(err).splitlines()[0]}")
    time.sleep(0.01)
json.dump({"seen": sorted(set(seen)), "errors": errors, "reads": reads}, open(out, "w"))
"""


def _summary(run_id: str) -> dict:
    return {"run_id": run_id, "started_at": "2026-01-01T00:00:00+00:00", "datasets": []}


@pytest.fixture()
def copy(first_run, home: Path, tmp_path: Path) -> Path:
    """The refreshed home's shared store and published folder, to publish into freely."""
    (tmp_path / "warehouse").mkdir()
    shutil.copy(home / "warehouse" / "shared.duckdb", tmp_path / "warehouse" / "shared.duckdb")
    shutil.copytree(home / "published", tmp_path / "published", symlinks=True)
    return tmp_path


def test_every_parquet_column_has_its_documented_type(first_run, home: Path) -> None:
    documented = yaml.safe_load((REPO / "sihub" / "publishing" / "published_schema.yaml").read_text())
    for table, spec in documented.items():
        schema = pq.read_schema(home / "published" / "parquet" / f"{table}.parquet")
        assert schema.names == list(spec["columns"]), table
        for name, (kind, meaning) in spec["columns"].items():
            assert schema.field(name).type == ARROW[kind], f"{table}.{name}"
            assert meaning
    with duckdb.connect(str(home / "published" / "metrics.duckdb"), read_only=True) as con:
        assert {r[0] for r in con.execute("SHOW TABLES").fetchall()} == set(documented)


def test_publication_names_every_loaded_file_and_its_contract(first_run, home: Path) -> None:
    lineage = pq.read_table(home / "published" / "parquet" / "publication.parquet").to_pandas()
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        loaded = set(con.execute("SELECT sha256 FROM deliveries WHERE status = 'loaded'").fetchall())
    assert {(s,) for s in lineage["file_sha256"]} == loaded
    assert lineage["run_id"].nunique() == 1 and lineage["contract_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert (lineage["disclosure_policy"] == "partnership").all() and (lineage["tier"] == "partnership").all()


def test_a_reader_during_publishing_sees_one_whole_snapshot_at_a_time(copy: Path) -> None:
    published, stop, out = copy / "published", copy / "stop", copy / "reads.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(published), str(stop), str(out)])
    try:
        time.sleep(1)
        for i in range(4):
            publish(copy / "warehouse" / "shared.duckdb", published, load_catalogue(), _summary(f"run-{i}"), keep=2)
    finally:
        stop.touch()
        reader.wait(timeout=60)
    reads = json.loads(out.read_text())
    assert reads["errors"] == []
    assert reads["reads"] > 10 and len(reads["seen"]) >= 3, reads
    assert len(snapshots(published)) == 2


def test_rollback_makes_the_previous_snapshot_current(copy: Path) -> None:
    published = copy / "published"
    for i in range(2):
        publish(copy / "warehouse" / "shared.duckdb", published, load_catalogue(), _summary(f"run-{i}"))
    names = [s.name for s in snapshots(published)]
    assert current(published) == names[-1]
    assert rollback(published) == names[-2]

    def live_run() -> str:
        with duckdb.connect(str(published / "metrics.duckdb"), read_only=True) as con:
            return con.execute("SELECT DISTINCT run_id FROM publication").fetchall()[0][0]

    assert current(published) == names[-2] and live_run() != "run-1"
    rollback(published, to=names[-1])
    assert live_run() == "run-1"
    with pytest.raises(SnapshotError, match="no snapshot 'nope'"):
        rollback(published, to="nope")


def test_a_rollback_is_on_the_audit_log_for_every_tier_it_takes_back(copy: Path) -> None:
    """Making an earlier publication current again discloses it afresh to each tier's audience:
    one audit entry per tier, naming the snapshot and counting its rows, the chain intact."""
    tiers = load_tiers()
    for run in ("aaaa0000", "bbbb1111"):
        for tier in tiers:
            publish(
                copy / "warehouse" / "shared.duckdb", copy / "published", load_catalogue(), _summary(run), tier=tier
            )
    env = {**os.environ, "SIHUB_HOME": str(copy)}
    result = subprocess.run([SIHUB, "rollback"], capture_output=True, text=True, env=env, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    logged = [e for e in audit.entries(copy) if "rollback" in e.why]
    assert sorted(e.recipient for e in logged) == sorted(t.audience for t in tiers)
    for tier in tiers:
        (entry,) = [e for e in logged if e.recipient == tier.audience]
        live = Path(os.path.realpath(tier.published(copy / "published") / "parquet"))
        assert live.parent.name.endswith("aaaa0000") and live.parent.name in entry.what
        assert entry.action == "disclosure" and tier.marking in entry.why
        assert entry.how_many == sum(pq.ParquetFile(f).metadata.num_rows for f in live.glob("*.parquet"))
    assert audit.verify(copy) is None


@pytest.mark.parametrize(
    ("leak", "column"),
    [
        # a shown county value's count (a county-only metric's district has none to show)
        ("SET numerator = 1 WHERE rowid = (SELECT min(rowid) FROM metric_protected WHERE value IS NOT NULL "
         "AND geography_code IN (SELECT geography_code FROM ref_geography WHERE geography_type = 'county'))",
         r"numerator"),
        # flagged children less those known to children's services: 2 not known is a count of children
        ("SET denominator = numerator + 2 WHERE rowid = (SELECT min(rowid) FROM metric_protected "
         "WHERE value IS NOT NULL AND numerator > 10 AND metric_id = 'exploited_children_known_to_cs')",
         r"\(denominator - numerator\)"),
    ],
    ids=["count", "rest of a denominator"],
)  # fmt: skip
def test_a_snapshot_showing_a_small_count_is_never_published(copy: Path, leak: str, column: str) -> None:
    published = copy / "published"
    before = current(published)
    with duckdb.connect(str(copy / "warehouse" / "shared.duckdb")) as con:
        con.execute(f"UPDATE metric_protected {leak}")
    with pytest.raises(DisclosureError, match=rf"fact_metric_value\.{column}"):
        publish(copy / "warehouse" / "shared.duckdb", published, load_catalogue(), _summary("leaky"))
    assert current(published) == before
    assert not list((published / "snapshots").glob(".building-*"))
