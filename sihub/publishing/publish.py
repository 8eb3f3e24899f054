"""Publishing the star schema (DuckDB file and Parquet) and the run summary.

Everything is built in a staging folder from the shared store only, then each output is
moved into place with an atomic rename: a reader sees the old file or the new one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb

from sihub.core.atomic_files import write_text_atomically
from sihub.core.contracts import load_contracts
from sihub.core.db import attached, connect, literal, scalar, table_exists
from sihub.core.paths import FORMER_PUBLISHED_REPORTS
from sihub.core.snapshots import KEEP, SNAPSHOTS, activate, current, new_snapshot, prune, snapshot_name
from sihub.metrics.catalogue import Metric
from sihub.privacy.disclosure import DisclosureError, visible_small_counts
from sihub.privacy.leak_guard import LeakFound, scan
from sihub.privacy.tiers import Tier, load_tiers
from sihub.publishing.held_back import held_metrics, hold_back
from sihub.publishing.metric_dictionary import write_dictionary
from sihub.publishing.powerbi_project import parquet_folder, write_pbids, write_project
from sihub.publishing.ssag_pack import build_pack
from sihub.publishing.star_schema import build_star_schema, load_schema

REPORTED_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS reported_runs (run_id VARCHAR PRIMARY KEY);
CREATE TABLE IF NOT EXISTS reported_purges (run_id VARCHAR PRIMARY KEY);
"""


def unreported_runs(shared: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """This run, then any earlier run whose deliveries no published run summary has listed
    yet (one killed, or stopped by a blocking check): their files belong in this summary."""
    shared.execute(REPORTED_RUNS_DDL)
    if not table_exists(shared, "delivery_log"):
        return [run_id]
    earlier = shared.execute(
        "SELECT DISTINCT run_id FROM delivery_log WHERE run_id <> ? "
        "AND run_id NOT IN (SELECT run_id FROM reported_runs) ORDER BY run_id",
        [run_id],
    ).fetchall()
    return [run_id, *(r for (r,) in earlier)]


def awaiting_summary(shared: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether any delivery (of this run or an unreported one) awaits a run summary: a
    rejected or duplicate file earns a new summary even when no figure changes."""
    runs = unreported_runs(shared, run_id)
    return table_exists(shared, "delivery_log") and bool(
        scalar(shared, "SELECT count(*) FROM delivery_log WHERE list_contains(?, run_id)", [runs])
    )


def mark_reported(shared: duckdb.DuckDBPyConnection, runs: list[str]) -> None:
    """The runs (and the purges) a published summary has listed."""
    shared.execute(REPORTED_RUNS_DDL)
    shared.executemany("INSERT OR IGNORE INTO reported_runs VALUES (?)", [[r] for r in runs])
    if table_exists(shared, "purge_log"):
        shared.execute(
            "INSERT OR IGNORE INTO reported_purges SELECT DISTINCT run_id FROM purge_log "
            "WHERE run_id NOT IN (SELECT run_id FROM reported_purges)"
        )


def _unreported_purges(shared: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    shared.execute(REPORTED_RUNS_DDL)
    if not table_exists(shared, "purge_log"):
        return []
    return shared.execute(
        "SELECT partner, dataset, sum(rows) FROM purge_log WHERE run_id NOT IN (SELECT run_id FROM reported_purges) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()


def run_summary(shared: duckdb.DuckDBPyConnection, runs: list[str], started_at: dt.datetime, operations: Path) -> dict:
    """The data team's run summary from the shared store's delivery and check logs: the files
    of this run (`runs[0]`) and of the earlier runs no summary has listed (`unreported_runs`),
    so a refresh resumed after a crash reports what the killed run loaded, as an
    uninterrupted refresh would have. Data Docs pages are linked relative to `operations`."""
    run_id = runs[0]
    rows = shared.execute(
        "SELECT partner, dataset, label, sha256, status, rows_in, rows_loaded, rows_quarantined, error, run_id, "
        "coalesce(missing_columns, []), coalesce(unexpected_columns, []) "
        "FROM delivery_log WHERE list_contains(?, run_id) ORDER BY partner, dataset, seen_at, label",
        [runs],
    ).fetchall() if table_exists(shared, "delivery_log") else []  # fmt: skip
    checks = {
        (p, d): (passed, failed)
        for p, d, passed, failed in shared.execute(
            "SELECT partner, dataset, count(*) FILTER (passed), count(*) FILTER (NOT passed) FROM check_log "
            "WHERE run_id = ? GROUP BY ALL",
            [run_id],
        ).fetchall()
    }
    datasets: dict[tuple[str, str], dict] = {}

    def entry(partner: str, dataset: str) -> dict:
        passed, failed = checks.get((partner, dataset), (0, 0))
        return datasets.setdefault(
            (partner, dataset),
            {
                "partner": partner,
                "dataset": dataset,
                "rows_in": 0,
                "rows_loaded": 0,
                "rows_quarantined": 0,
                "checks_passed": passed,
                "checks_failed": failed,
                "data_docs": None,
                "rows_purged": 0,
                "files": [],
                "held": [],
            },
        )

    for partner, dataset, name, sha, status, rows_in, loaded, quarantined, error, read_by, missing, unexpected in rows:
        page = Path("data_quality") / read_by / f"{partner}__{dataset}.html"
        e = entry(partner, dataset)
        if (operations / page).exists():
            e["data_docs"] = page.as_posix()
        e["files"].append(
            {
                "name": name,
                "sha256": sha,
                "status": status,
                "rows_in": rows_in,
                "rows_loaded": loaded,
                "rows_quarantined": quarantined,
                "error": error,
                "missing_columns": missing,
                "unexpected_columns": unexpected,
            }
        )
        e["rows_in"] += rows_in
        e["rows_loaded"] += loaded
        e["rows_quarantined"] += quarantined
    # every delivery held now, whenever it arrived: it stays out of every figure until released
    held = shared.execute(
        "SELECT partner, dataset, sha256, reason, held_at FROM held_log ORDER BY partner, dataset, held_at, sha256"
    ).fetchall() if table_exists(shared, "held_log") else []  # fmt: skip
    for partner, dataset, sha, reason, since in held:
        since_text = since.isoformat(timespec="seconds")
        entry(partner, dataset)["held"].append({"sha256": sha, "since": since_text, "reason": reason})
    # rows purged for retention since the last summary (the purge runs after publication)
    for partner, dataset, purged in _unreported_purges(shared):
        if purged:
            entry(partner, dataset)["rows_purged"] = int(purged)
    return {
        "run_id": run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "data_quality": f"data_quality/{run_id}/index.html",
        "datasets": list(datasets.values()),
    }


def move_operational_reports(published: Path, operations: Path) -> list[str]:
    """Data Docs and alerts written into published/ by earlier versions, moved to the data
    team's folder (where these are written now): they give exact row counts. Where operations/
    already holds an item of the same name, that later one is kept. Returns what moved."""
    moved = []
    for name in FORMER_PUBLISHED_REPORTS:
        old = published / name
        if old.is_dir() and not old.is_symlink():
            for item in old.iterdir():
                target = operations / name / item.name
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(item, target)
            shutil.rmtree(old)
            moved.append(name)
    return moved


def write_operations_summary(operations: Path, deliveries: dict, published: dict) -> dict:
    """The data team's run summary, `operations/run_summary.json`: what the home tier
    published (`published`, as `publish` returned it) with every delivery's exact rows in,
    loaded, quarantined and purged (`deliveries`, from `run_summary`), swapped in atomically."""
    summary = {**deliveries, **published}
    operations.mkdir(parents=True, exist_ok=True)
    write_text_atomically(operations / "run_summary.json", json.dumps(summary, indent=2))
    return summary


def publish(
    shared_path: Path,
    published: Path,
    metrics: list[Metric],
    summary: dict,
    keep: int = KEEP,
    tier: Tier | None = None,
) -> dict:
    """Build a complete snapshot of one disclosure tier (the home tier, published/ itself,
    unless given) beside its current one, check it (leak guard, disclosure control under the
    tier's policy), then make it current. Returns the run summary it wrote (rows per table in
    `outputs`, the metrics held back in `metrics_held_back`)."""
    tier = tier or load_tiers()[0]
    folder = tier.published(published)
    folder.mkdir(parents=True, exist_ok=True)
    building, final = new_snapshot(folder, summary["run_id"])
    try:
        written = _build_snapshot(building, shared_path, metrics, summary, _current_file(folder), tier)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)  # a failed build never becomes a snapshot
        raise
    os.rename(building, final)
    activate(folder, final)
    prune(folder, keep)
    return written


def _current_file(published: Path) -> Path | None:
    """The current snapshot's DuckDB file, where there is one."""
    name = current(published)
    return published / SNAPSHOTS / name / "metrics.duckdb" if name else None


def _build_snapshot(
    building: Path, shared_path: Path, metrics: list[Metric], summary: dict, previous: Path | None, tier: Tier
) -> dict:
    """Every output of one snapshot in `building` (metrics held back keep their rows of the
    `previous` snapshot's file); raises when a check fails."""
    (building / "parquet").mkdir()
    contracts, policy, schema = load_contracts(), tier.policy, load_schema()
    with connect(building / "metrics.duckdb") as con:
        with attached(con, shared_path, "s", read_only=True):
            tables = build_star_schema(con, metrics, contracts, summary["run_id"], tier, schema)
            held = held_metrics(con, "s")
        status = hold_back(con, previous, held)
        findings = scan(con, "metrics", contracts)
        if findings:
            raise LeakFound(findings)
        exposed = visible_small_counts(con, policy)
        if exposed:
            raise DisclosureError(exposed)
        counts = {t: scalar(con, f"SELECT count(*) FROM {t}") for t in tables}
        build_pack(con, building / "ssag_pack.xlsx", summary["run_id"], tier, snapshot_name(building))
        run, marking = literal(summary["run_id"]), literal(tier.label)
        for table in tables:
            target = literal(str(building / "parquet" / f"{table}.parquet"))
            con.execute(f"COPY {table} TO {target} (FORMAT parquet, KV_METADATA {{run_id: {run}, marking: {marking}}})")
    write_dictionary(building, metrics, schema, tier)
    parquet = parquet_folder(building.parent.parent, tier)
    write_pbids(building, parquet)
    write_project(building, schema, parquet, tier)
    # the deliveries (their labels, hashes and exact row counts, however small) are the data
    # team's (`write_operations_summary`): every tier gets what was published and when
    summary = {
        **{k: summary[k] for k in ("run_id", "started_at")},
        "tier": tier.name,
        "marking": tier.marking,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "success",
        "snapshot": snapshot_name(building),
        "outputs": counts,
        "metrics_held_back": [{"metric_id": m, "status": status[m], "reason": r} for m, r in sorted(held.items())],
    }
    (building / "run_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
