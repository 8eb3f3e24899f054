"""Typed and validated: each archived file read under its contract and checked against its
rules in DuckDB; rows breaking an `error` rule quarantined with rule and source row; the
dataset-level rules reported as Dagster asset checks (blocking where severity is error) and
as a Great Expectations Data Docs page."""

import datetime as dt
from pathlib import Path

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
from hub.conform import conform, ensure_tables
from hub.contracts import Contract
from hub.db import quote
from hub.quality import FileOutcome, evaluate, record_checks, worst_rules
from hub.readers import FileRejected, load_raw
from hub.rules import dataset_rules
from pipelines.resources import DuckDBStore, HubResource


def _validate_file(con, contract: Contract, sha: str, name: str, stored: str, run_id: str) -> FileOutcome:
    # read outside the transaction: row numbers come from the staged table's rowid
    try:
        raw = load_raw(con, contract, Path(stored), "_raw")
    except FileRejected as err:
        archive.record_outcome(con, sha, run_id, "rejected", (0, 0, 0), str(err))
        return FileOutcome(name, sha, "rejected", error=str(err))
    con.execute("BEGIN")
    result = conform(con, contract, "_raw", sha, name, run_id)
    archive.record_outcome(
        con, sha, run_id, "loaded", (result.rows_in, result.rows_loaded, result.rows_quarantined), None
    )
    con.execute("COMMIT")
    return FileOutcome(
        name,
        sha,
        "loaded",
        result.rows_in,
        result.rows_loaded,
        result.rows_quarantined,
        result.rows_warned,
        raw.missing,
        raw.unexpected,
        result.failures,
    )


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
            files = [_validate_file(con, contract, *p, run_id) for p in archive.pending(con, contract)]
            for f in files:
                if f.status == "rejected":
                    context.log.warning(f"{contract.key}: {f.name} rejected: {f.error}")
            new = [f.sha256 for f in files if f.status == "loaded"]
            columns = sorted({c for e in contract.expectations for k, c in e.kwargs.items() if k.startswith("column")})
            frame = (
                con.execute(
                    f"SELECT {', '.join(map(quote, columns)) or '1'} FROM {quote(contract.table)} "
                    "WHERE list_contains(?, _source_sha256)",
                    [new],
                ).df()
                if contract.expectations
                else None
            )
            gx_checks = data_docs.run_raw_expectations(contract, frame) if frame is not None else []
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
