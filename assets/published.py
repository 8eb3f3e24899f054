"""Published: the star schema, Parquet and the run summary, swapped in atomically."""

import datetime as dt

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.keys import METRICS_KEY, PUBLISHED_KEY, catalogue
from assets.resources import DuckDBStore, HubResource
from governance import audit
from sihub.core import change_tracking as changes
from sihub.core.snapshots import current
from sihub.core.stages import Stage
from sihub.metrics.catalogue import load_catalogue
from sihub.privacy.keys import load_key
from sihub.publishing.publish import awaiting_summary, mark_reported, publish, run_summary, unreported_runs


@asset(
    **catalogue(PUBLISHED_KEY, {"duckdb", "parquet", "xlsx"}),
    deps=[METRICS_KEY],
    description="published/metrics.duckdb, published/parquet/ and published/run_summary.json.",
)
def metrics_store(context: AssetExecutionContext, hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
    shared, run_id, published = shared_store.file, context.run.run_id, hub.paths.published
    ctx = changes.context(hub.paths.home, __name__, load_key(hub.paths.home).key_id)
    fingerprint = changes.upstream(shared, ctx, Stage.METRICS)
    with shared_store.connect() as con:
        waiting = awaiting_summary(con, run_id)

    def still_current(built_by: str) -> bool:
        """The snapshot that run published is current, and no delivery awaits a summary."""
        return not waiting and (current(published) or "").endswith(built_by[:8])

    with changes.skip_if_unchanged(shared, Stage.PUBLISHED, fingerprint, run_id, still_current) as built_by:
        if built_by:
            return MaterializeResult(metadata={"unchanged since run": built_by})
        stats = context.instance.get_run_stats(run_id)
        started = dt.datetime.fromtimestamp(stats.start_time or dt.datetime.now().timestamp(), dt.UTC)
        with shared_store.connect() as con:
            runs = unreported_runs(con, run_id)
            summary = run_summary(con, runs, started, published)
        counts = publish(shared, published, load_catalogue(), summary)
        with shared_store.connect() as con:
            mark_reported(con, runs)
        audit.record(
            hub.paths.home,
            "disclosure",
            "nightly refresh: publication",
            "aggregate tables, after disclosure control and the leak guard",
            sum(counts.values()),
            recipient="SSAG/SIPP members and Power BI",
        )
    return MaterializeResult(metadata={f"rows_{k}": v for k, v in counts.items()})
