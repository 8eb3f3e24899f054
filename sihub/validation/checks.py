"""Dataset-level rules over one run's deliveries of a dataset and its held ones (the Dagster
asset checks).

Plain results (name, passed, severity, metadata with counts and rule ids, never values), so
the Dagster layer only translates them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from sihub.core.contracts import Contract
from sihub.core.db import quote, scalar
from sihub.validation.current import retention_start_sql
from sihub.validation.holds import held_now
from sihub.validation.rules import dataset_rules

ROW_COUNT_FLOOR = 50  # files smaller than this vary too much for a ratio to mean anything


@dataclass
class FileOutcome:
    """One delivery of this run, as validation found it."""

    name: str
    sha256: str
    status: str  # loaded | rejected
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_warned: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    rows_erased: int = 0  # read but left out by the erasure register (not in rows_in)


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: str
    description: str
    metadata: dict


def over_share(contract: Contract, f: FileOutcome) -> bool:
    """Whether a loaded delivery quarantined more than the contract allows (judged only for
    deliveries big enough for a share to mean something)."""
    checks = contract.checks
    return (
        f.status == "loaded"
        and f.rows_in >= checks.min_rows_for_share
        and f.rows_quarantined / f.rows_in > checks.max_quarantine_share
    )


def rule_failures(files: list[FileOutcome]) -> dict[str, int]:
    """Rows failing each rule, over the files."""
    totals: dict[str, int] = {}
    for f in files:
        for rule, n in f.failures.items():
            totals[rule] = totals.get(rule, 0) + n
    return totals


def worst_rules(files: list[FileOutcome], top: int = 5) -> dict[str, int]:
    return dict(sorted(rule_failures(files).items(), key=lambda kv: (-kv[1], kv[0]))[:top])


def _row_count_changes(con: duckdb.DuckDBPyConnection, contract: Contract, run_id: str, ratio: tuple) -> list[str]:
    rows = con.execute(
        "SELECT label, run_id, rows_in, lag(rows_in) OVER (ORDER BY seen_at, label) AS previous "
        "FROM deliveries WHERE partner = ? AND dataset = ? AND status = 'loaded' ORDER BY seen_at, label",
        [contract.partner, contract.dataset],
    ).fetchall()
    lo, hi = ratio
    return [
        f"{name}: {n} rows after {prev}"
        for name, run, n, prev in rows
        if run == run_id and prev is not None and prev >= ROW_COUNT_FLOOR and not lo <= n / prev <= hi
    ]


def _past_retention(
    con: duckdb.DuckDBPyConnection, contract: Contract, loaded: list[FileOutcome], cutoff: dt.date | None
) -> dict[str, float]:
    """Each new delivery with more than half its loaded rows already past retention: its share."""
    if cutoff is None or not loaded:
        return {}
    start = retention_start_sql(contract, "t", "now()")
    shares = con.execute(
        f"SELECT _source_sha256, avg(CAST(coalesce({start} < ?, false) AS INTEGER)) FROM {quote(contract.table)} t "
        "WHERE list_contains(?, _source_sha256) GROUP BY ALL",
        [cutoff, [f.sha256 for f in loaded]],
    ).fetchall()
    return {sha[:12]: round(share, 4) for sha, share in shares if share > 0.5}


def evaluate(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    files: list[FileOutcome],
    run_id: str,
    extra: list[CheckOutcome],
    retention_cutoff: dt.date | None = None,
) -> list[CheckOutcome]:
    """Every dataset rule of the contract over this run's files (`extra`: the GX expectations)
    and its held deliveries; `retention_cutoff`, the covering agreement's, for the arrival check."""
    by_name = {r.name: r for r in dataset_rules(contract)}
    loaded = [f for f in files if f.status == "loaded"]
    rows_in = sum(f.rows_in for f in loaded)
    quarantined = sum(f.rows_quarantined for f in loaded)
    share = quarantined / rows_in if rows_in else 0.0
    out = []

    def add(name: str, passed: bool, **metadata) -> None:
        rule = by_name[name]
        out.append(CheckOutcome(name, passed, rule.severity, rule.description, {"files": len(files), **metadata}))

    over = [f for f in loaded if over_share(contract, f)]
    limit = contract.checks.max_quarantine_share
    add(
        "quarantine_share",
        not over,
        summary="; ".join(
            f"{f.name}: {f.rows_quarantined:,} of {f.rows_in:,} rows quarantined "
            f"({f.rows_quarantined / f.rows_in:.0%}, more than {limit:.0%}); most broken: "
            + ", ".join(f"{rule} ({n:,} rows)" for rule, n in worst_rules([f], top=3).items())
            for f in over
        ),
        rows_in=rows_in,
        rows_quarantined=quarantined,
        share=round(share, 4),
        deliveries_over_share={f.sha256[:12]: round(f.rows_quarantined / f.rows_in, 4) for f in over},
        worst_rules=worst_rules(files),
    )
    held = held_now(con, contract)
    add(
        "deliveries_held",
        not held,
        summary="; ".join(f"delivery {h.sha256[:12]} held since {h.since:%Y-%m-%d}: {h.reason}" for h in held),
        held=len(held),
        deliveries={h.sha256[:12]: f"since {h.since:%Y-%m-%d}: {h.reason}" for h in held},
    )
    stale = _past_retention(con, contract, loaded, retention_cutoff)
    add("past_retention_on_arrival", not stale, cutoff=str(retention_cutoff), deliveries_mostly_past_retention=stale)
    rejected = {f.name: f.error for f in files if f.status == "rejected"}
    add("files_readable", not rejected, rejected=rejected)
    odd = {f.name: {"missing": f.missing, "unexpected": f.unexpected} for f in loaded if f.missing or f.unexpected}
    add("columns_as_contracted", not odd, files_with_other_columns=odd)
    changes = _row_count_changes(con, contract, run_id, contract.checks.row_count_ratio)
    add("row_count_change", not changes, outside_band=changes)
    if contract.event_date:
        shas = [f.sha256 for f in loaded]
        latest = (
            scalar(
                con,
                f"SELECT CAST(max({quote(contract.event_date)}) AS DATE) FROM {quote(contract.table)} "
                "WHERE list_contains(?, _source_sha256)",
                [shas],
            )
            if shas
            else None
        )
        age = (dt.date.today() - latest).days if latest else None
        add(
            "freshness",
            age is None or age <= contract.checks.freshness_days,
            latest_event=str(latest) if latest else "no new rows",
            age_days=age if age is not None else -1,
        )
    return out + extra


CHECK_LOG_DDL = """
CREATE TABLE IF NOT EXISTS check_log (
    run_id VARCHAR, partner VARCHAR, dataset VARCHAR, check_name VARCHAR, passed BOOLEAN, severity VARCHAR
)
"""


def record_checks(
    con: duckdb.DuckDBPyConnection, contract: Contract, run_id: str, outcomes: list[CheckOutcome]
) -> None:
    """Keep this run's check outcomes beside the deliveries, for the run summary."""
    con.execute(CHECK_LOG_DDL)
    con.execute(
        "DELETE FROM check_log WHERE run_id = ? AND partner = ? AND dataset = ?",
        [run_id, contract.partner, contract.dataset],
    )
    con.executemany(
        "INSERT INTO check_log VALUES (?, ?, ?, ?, ?, ?)",
        [[run_id, contract.partner, contract.dataset, o.name, o.passed, o.severity] for o in outcomes],
    )
