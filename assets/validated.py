"""Typed and validated: each archived file read under its contract; rows that break a rule
go to quarantine with the rule, the column and the source row."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from hub import archive
from hub.conform import conform, ensure_typed_table
from hub.contracts import Contract
from hub.readers import FileRejected, load_raw
from pipelines.resources import DuckDBStore


def build_validated(contract: Contract) -> AssetsDefinition:
    @asset(
        key=["validated", contract.partner, contract.dataset],
        group_name="validated",
        deps=[["raw", contract.partner, contract.dataset]],
        description=f"{contract.title}: typed rows in the personal zone; rows breaking a contract rule "
        "quarantined with rule and source row (rows in = loaded + quarantined).",
    )
    def _validated(context: AssetExecutionContext, personal_store: DuckDBStore) -> MaterializeResult:
        totals = {
            "rows_in": 0,
            "rows_loaded": 0,
            "rows_quarantined": 0,
            "files_loaded": 0,
            "files_rejected": 0,
        }
        with personal_store.connect() as con:
            ensure_typed_table(con, contract)
            for sha, name, stored in archive.pending(con, contract):
                # read outside the transaction: row numbers come from the staged table's rowid,
                # which only counts 0, 1, 2... for committed rows
                try:
                    load_raw(con, contract, Path(stored), "_raw")
                except FileRejected as err:
                    archive.record_outcome(con, sha, context.run.run_id, "rejected", (0, 0, 0), str(err))
                    context.log.warning(f"{contract.key}: {name} rejected: {err}")
                    totals["files_rejected"] += 1
                    continue
                con.execute("BEGIN")
                result = conform(con, contract, "_raw", sha, name, context.run.run_id)
                counts = (result.rows_in, result.rows_loaded, result.rows_quarantined)
                archive.record_outcome(con, sha, context.run.run_id, "loaded", counts, None)
                con.execute("COMMIT")
                totals["files_loaded"] += 1
                for key, value in zip(("rows_in", "rows_loaded", "rows_quarantined"), counts, strict=True):
                    totals[key] += value
        return MaterializeResult(metadata=totals)

    return _validated
