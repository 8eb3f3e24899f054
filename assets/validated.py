"""Typed and validated: each archived file read under its contract and checked against its
rules in DuckDB; rows breaking an `error` rule quarantined with rule and source row; the
dataset-level rules reported as Dagster asset checks (blocking where severity is error) and
as a Great Expectations Data Docs page."""

import datetime as dt
from pathlib import Path

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    asset,
)

from governance import audit
from governance.agreements import load_register
from governance.retention import purge
from hub import archive, data_docs
from hub.conform import Conformed, conform_files, ensure_tables, stage
from hub.contracts import Contract
from hub.db import quote
from hub.quality import FileOutcome, evaluate, record_checks, worst_rules
from hub.readers import FileRejected, RawFile, load_raw
from hub.rules import dataset_rules
from pipelines.resources import DuckDBStore, HubResource

# Rows staged per checking statement: many small files share one statement (its planning costs
# as much as checking thousands of rows), while a run of big files never holds more than this.
BATCH_ROWS = 250_000
GX_BATCH_ROWS = 1_000_000  # new rows handed to GX's pandas engine at a time


def _validate_files(
    con: duckdb.DuckDBPyConnection, contract: Contract, pending: list[tuple[str, str, str]], run_id: str
) -> list[FileOutcome]:
    """Read each pending file (one that cannot be read is rejected there and then), stage it,
    and check the staged files in batches; a batch's rows and outcomes commit together."""
    outcomes: dict[str, FileOutcome] = {}
    batch: list[tuple[str, str, RawFile]] = []
    staged_rows = 0

    def check_batch() -> None:
        con.execute("BEGIN")
        results = conform_files(con, contract, "_staged", run_id)
        for sha, name, raw in batch:
            r = results.get(sha, Conformed(0, 0, 0))
            archive.record_outcome(con, sha, run_id, "loaded", (r.rows_in, r.rows_loaded, r.rows_quarantined), None)
            outcomes[sha] = FileOutcome(
                name, sha, "loaded", r.rows_in, r.rows_loaded, r.rows_quarantined, r.rows_warned,
                raw.missing, raw.unexpected, r.failures,
            )  # fmt: skip
        con.execute("COMMIT")
        con.execute("DROP TABLE _staged")
        batch.clear()

    for sha, name, stored in pending:
        # read outside any transaction: row numbers come from the staged table's rowid
        try:
            raw = load_raw(con, contract, Path(stored), "_raw")
        except FileRejected as err:
            archive.record_outcome(con, sha, run_id, "rejected", (0, 0, 0), str(err))
            outcomes[sha] = FileOutcome(name, sha, "rejected", error=str(err))
            continue
        stage(con, "_staged", "_raw", len(batch), sha, name)
        batch.append((sha, name, raw))
        staged_rows += raw.rows
        if staged_rows >= BATCH_ROWS:
            check_batch()
            staged_rows = 0
    if batch:
        check_batch()
    return [outcomes[sha] for sha, _, _ in pending]


def build_validated(contract: Contract) -> AssetsDefinition:
    key = AssetKey(["validated", contract.partner, contract.dataset])
    rules = dataset_rules(contract)

    @asset(
        key=key,
        group_name="validated",
        deps=[["raw", contract.partner, contract.dataset]],
        description=f"{contract.title}: typed rows in the personal zone; rows breaking a contract rule "
        "quarantined with rule and source row (rows in = loaded + quarantined).",
        check_specs=[
            AssetCheckSpec(r.name, asset=key, description=r.description, blocking=r.severity == "error") for r in rules
        ],
    )
    def _validated(context: AssetExecutionContext, hub: HubResource, personal_store: DuckDBStore) -> MaterializeResult:
        run_id = context.run.run_id
        with personal_store.connect() as con:
            ensure_tables(con, contract)
            files = _validate_files(con, contract, archive.pending(con, contract), run_id)
            for f in files:
                if f.status == "rejected":
                    context.log.warning(f"{contract.key}: {f.name} rejected: {f.error}")
            new = [f.sha256 for f in files if f.status == "loaded"]
            gx_checks = []
            if contract.expectations:
                columns = sorted(
                    {c for e in contract.expectations for k, c in e.kwargs.items() if k.startswith("column")}
                )
                new_rows = con.sql(  # a relation streams in batches; an executed query would be copied whole
                    f"SELECT {', '.join(map(quote, columns)) or '1'} FROM {quote(contract.table)} "
                    "WHERE list_contains($new, _source_sha256)",
                    params={"new": new},
                ).to_arrow_reader(GX_BATCH_ROWS)
                gx_checks = data_docs.run_raw_expectations(contract, (b.to_pandas() for b in new_rows))
            outcomes = evaluate(con, contract, files, run_id, gx_checks)
            purged = purge(con, contract, load_register(), dt.date.today())  # the nightly retention purge
            record_checks(con, contract, run_id, outcomes)
        if purged and (purged.rows or purged.quarantined or purged.files):
            audit.record(
                hub.paths.home,
                "erasure",
                "nightly retention purge",
                f"{contract.key}: records before {purged.cutoff}",
                purged.rows + purged.quarantined,
            )
        rows_in = sum(f.rows_in for f in files)
        if files:
            audit.record(
                hub.paths.home,
                "alteration",
                "nightly refresh: typing and validation",
                f"{contract.key}: rows typed into the personal zone or quarantined",
                rows_in,
            )
        failures: dict[str, int] = {}
        for f in files:
            for rule, n in f.failures.items():
                failures[rule] = failures.get(rule, 0) + n
        page = (  # a page for what this run read; a night with nothing new adds none
            data_docs.write_page(
                data_docs.validation_result(contract, rows_in, failures, run_id),
                hub.paths.published / "data_quality" / run_id,
                contract,
            )
            if files
            else "none: no new files"
        )
        checks = [
            AssetCheckResult(
                check_name=o.name,
                passed=o.passed,
                severity=AssetCheckSeverity.ERROR if o.severity == "error" else AssetCheckSeverity.WARN,
                description=o.description,
                metadata={**{k: _plain(v) for k, v in o.metadata.items()}, "data_docs": str(page)},
            )
            for o in outcomes
        ]
        totals = {
            "files_loaded": sum(f.status == "loaded" for f in files),
            "files_rejected": sum(f.status == "rejected" for f in files),
            "rows_in": rows_in,
            "rows_loaded": sum(f.rows_loaded for f in files),
            "rows_quarantined": sum(f.rows_quarantined for f in files),
            "rows_with_warnings": sum(f.rows_warned for f in files),
            "worst_rules": _plain(worst_rules(files)),
            "sha256": ", ".join(f.sha256[:12] for f in files[:20]),
            "data_docs": str(page),
            "rows_purged_for_retention": (purged.rows + purged.quarantined) if purged else 0,
        }
        return MaterializeResult(metadata=totals, check_results=checks)

    return _validated


def _plain(value):
    """Dagster metadata values: dicts and lists as text, numbers and strings as they are."""
    return value if isinstance(value, int | float | str) else str(value)
