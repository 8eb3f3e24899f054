"""Published: the star schema, Parquet and the run summary, swapped in atomically."""

import datetime as dt
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.metrics import METRICS_KEY, METRICS_STAGE
from governance import audit
from hub import change_tracking as changes
from hub.db import connect, scalar, table_exists
from hub.metrics import load_catalogue
from hub.publish import mark_reported, publish, run_summary, unreported_runs
from hub.snapshots import current
from pipelines.instance import prune_runs
from pipelines.resources import DuckDBStore, HubResource

PUBLISHED_KEY = ["published", "metrics_store"]
PUBLISHED_STAGE = "published"


def _nothing_new(shared: Path, fingerprint: str, run_id: str, published: Path) -> str | None:
    """The run whose snapshot is current, when the metrics are as it published them and no
    delivery awaits a run summary (a rejected or duplicate file still earns a new one).
    Otherwise the stage's record is forgotten: publishing follows."""
    with connect(shared) as con:
        runs = unreported_runs(con, run_id)
        seen = table_exists(con, "delivery_log") and scalar(
            con, "SELECT count(*) FROM delivery_log WHERE list_contains(?, run_id)", [runs]
        )
        last = changes.recorded(con, PUBLISHED_STAGE)
        if last and last[0] == fingerprint and not seen and (current(published) or "").endswith(last[1][:8]):
            return last[1]
        changes.forget(con, PUBLISHED_STAGE)
    return None


@asset(
    key=PUBLISHED_KEY,
    group_name="published",
    deps=[METRICS_KEY],
    description="published/metrics.duckdb, published/parquet/ and published/run_summary.json.",
)
def metrics_store(context: AssetExecutionContext, hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
    shared, run_id = Path(shared_store.path), context.run.run_id
    fingerprint = changes.upstream(shared, changes.context(hub.paths.home), METRICS_STAGE)
    if unchanged := _nothing_new(shared, fingerprint, run_id, hub.paths.published):
        pruned = prune_runs(context.instance)
        return MaterializeResult(metadata={"unchanged since run": unchanged, "old_runs_deleted": pruned})
    stats = context.instance.get_run_stats(context.run.run_id)
    started = dt.datetime.fromtimestamp(stats.start_time or dt.datetime.now().timestamp(), dt.UTC)
    with connect(shared) as con:
        runs = unreported_runs(con, run_id)
        summary = run_summary(con, runs, started, hub.paths.published)
    counts = publish(shared, hub.paths.published, load_catalogue(), summary)
    with connect(shared) as con:
        mark_reported(con, runs)
    audit.record(
        hub.paths.home,
        "disclosure",
        "nightly refresh: publication",
        "aggregate tables, after disclosure control and the leak guard",
        sum(counts.values()),
        recipient="SSAG/SIPP members and Power BI",
    )
    changes.finish(shared, PUBLISHED_STAGE, fingerprint, run_id)
    pruned = prune_runs(context.instance)
    return MaterializeResult(metadata={**{f"rows_{k}": v for k, v in counts.items()}, "old_runs_deleted": pruned})
