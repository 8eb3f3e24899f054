"""Published: the star schema, Parquet and the run summary, swapped in atomically."""

import datetime as dt

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.keys import METRICS_KEY, PUBLISHED_KEY, catalogue
from assets.resources import DuckDBStore, HubResource
from governance import audit
from sihub.core import change_tracking as changes
from sihub.core.alerts import RunAlert, raise_alert
from sihub.core.snapshots import current
from sihub.core.stages import Stage
from sihub.metrics.catalogue import load_catalogue
from sihub.privacy.keys import load_key
from sihub.privacy.tiers import load_tiers
from sihub.publishing.publish import (
    awaiting_summary,
    mark_reported,
    move_operational_reports,
    publish,
    run_summary,
    unreported_runs,
    write_operations_summary,
)


@asset(
    **catalogue(PUBLISHED_KEY, {"duckdb", "parquet", "xlsx"}),
    deps=[METRICS_KEY],
    description="published/metrics.duckdb, published/parquet/, the SSAG pack and published/run_summary.json "
    "for the partnership tier, and the same for every other disclosure tier in its own folder (published/public/); "
    "the data team's exact run summary in operations/run_summary.json.",
)
def metrics_store(context: AssetExecutionContext, hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
    shared, run_id, published = shared_store.file, context.run.run_id, hub.paths.published
    ctx = changes.context(hub.paths.home, __name__, load_key(hub.paths.home).key_id)
    fingerprint = changes.upstream(shared, ctx, Stage.METRICS)
    with shared_store.connect() as con:
        waiting = awaiting_summary(con, run_id)
    for name in move_operational_reports(published, hub.paths.operations):
        context.log.info(f"published/{name}/ moved to operations/{name}/: exact row counts are the data team's")

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
            summary = run_summary(con, runs, started, hub.paths.operations)
        written, metrics = {}, load_catalogue()
        for tier in load_tiers():  # the home tier (published/ itself) first
            # each tier's publication is on record the moment it is live, whatever follows
            written[tier.name] = publish(shared, published, metrics, summary, tier=tier)
            audit.record(
                hub.paths.home,
                "disclosure",
                f"nightly refresh: publication, {tier.name} tier ({tier.marking})",
                f"aggregate tables, after disclosure control ({tier.policy.name}) and the leak guard",
                sum(written[tier.name]["outputs"].values()),
                recipient=tier.audience,
            )
            if tier.home:
                write_operations_summary(hub.paths.operations, summary, written[tier.name])
                with shared_store.connect() as con:
                    mark_reported(con, runs)
                _alert_held_back(hub, run_id, written[tier.name]["metrics_held_back"])
        counts = next(iter(written.values()))["outputs"]
    return MaterializeResult(
        metadata={
            **{f"rows_{k}": v for k, v in counts.items()},
            **{f"{t} tier: snapshot": str(w.get("snapshot")) for t, w in written.items()},
        }
    )


def _alert_held_back(hub: HubResource, run_id: str, held: list[dict]) -> None:
    """Metrics held back by the leak guard are an alert (by every route the hub alerts), not
    only a line in the summary: an identifier reached the shared store."""
    for i, reason in enumerate(sorted({m["reason"] for m in held})):
        ids = sorted(m["metric_id"] for m in held if m["reason"] == reason)
        alert = RunAlert(
            run_id,
            f"the leak guard ({len(ids)} metric(s) held back)",
            None,
            f"{reason}: {', '.join(ids)}",
            f"Dagster run {run_id}; fix the data contract, then refresh",
            kind="metrics_held_back",
        )
        raise_alert(hub.paths.operations, alert, name=f"held-back-{run_id[:8]}-{i}")
