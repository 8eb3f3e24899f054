"""Published: the star schema, Parquet and the run summary, swapped in atomically."""

import datetime as dt
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.metrics import METRICS_KEY
from governance import audit
from hub.db import connect
from hub.metrics import load_catalogue
from hub.publish import publish, run_summary
from pipelines.instance import prune_runs
from pipelines.resources import DuckDBStore, HubResource

PUBLISHED_KEY = ["published", "metrics_store"]


@asset(
    key=PUBLISHED_KEY,
    group_name="published",
    deps=[METRICS_KEY],
    description="published/metrics.duckdb, published/parquet/ and published/run_summary.json.",
)
def metrics_store(context: AssetExecutionContext, hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
    stats = context.instance.get_run_stats(context.run.run_id)
    started = dt.datetime.fromtimestamp(stats.start_time or dt.datetime.now().timestamp(), dt.UTC)
    with connect(Path(shared_store.path)) as con:
        summary = run_summary(con, context.run.run_id, started, hub.paths.published)
    counts = publish(Path(shared_store.path), hub.paths.published, load_catalogue(), summary)
    audit.record(
        hub.paths.home,
        "disclosure",
        "nightly refresh: publication",
        "aggregate tables, after disclosure control and the leak guard",
        sum(counts.values()),
        recipient="SSAG/SIPP members and Power BI",
    )
    pruned = prune_runs(context.instance)
    return MaterializeResult(metadata={**{f"rows_{k}": v for k, v in counts.items()}, "old_runs_deleted": pruned})
