"""Retention: after publication, personal-zone records past their dataset's retention period
are purged (a step of its own, so a run never reports rows it has already deleted)."""

import datetime as dt

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.keys import PUBLISHED_KEY, RETENTION_KEY, catalogue
from assets.resources import DuckDBStore, HubResource
from governance.agreements import load_register
from governance.retention import purge_all
from sihub.core.contracts import load_contracts


@asset(
    **catalogue(RETENTION_KEY, {"duckdb"}),
    deps=[PUBLISHED_KEY],
    description="Deletes personal-zone records past their dataset's retention period (from their closing "
    "date; never an open record), with their quarantine rows and fully expired raw files; counted in the audit "
    "log and per month in purge_log. The shared store, the next run summary and dq_scorecard report them.",
)
def purge(context: AssetExecutionContext, hub: HubResource, personal_store: DuckDBStore) -> MaterializeResult:
    with personal_store.connect() as con:
        done = purge_all(
            con,
            load_contracts(),
            load_register(),
            dt.date.today(),
            hub.paths.home,
            "nightly retention purge",
            context.run.run_id,
        )
    return MaterializeResult(
        metadata={
            "rows_purged": sum(d.rows for d in done),
            "quarantine_rows_purged": sum(d.quarantined for d in done),
            "raw_files_purged": sum(d.files for d in done),
            **{f"purged: {d.dataset}": d.rows + d.quarantined for d in done if d.rows or d.quarantined},
        }
    )
