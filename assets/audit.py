"""The audit log checked and anchored at the end of every run: a chain that no longer holds
fails the run (and so raises the run-failure alert, from `sihub refresh` or the daemon). The
anchor goes into this asset's Dagster metadata too, which the log's writer cannot rewrite, so
the next check holds the log to it even if the anchor file is deleted or rewritten."""

from dagster import AssetExecutionContext, DagsterInstance, Failure, MaterializeResult, asset

from assets.keys import AUDIT_KEY, RETENTION_KEY, catalogue
from assets.resources import HubResource
from governance import audit


def dagster_anchors(instance: DagsterInstance) -> list[dict]:
    """The latest anchor kept in the Dagster instance (runs, event log), if any."""
    event = instance.get_latest_materialization_event(AUDIT_KEY)
    if event is None or event.asset_materialization is None:
        return []
    meta = event.asset_materialization.metadata
    return [
        {
            "at": str(event.timestamp),
            "run_id": event.run_id,
            "entries": int(meta["entries"].value),
            "head": str(meta["head"].value),
        }
    ]


@asset(
    **catalogue(AUDIT_KEY, {"sqlite"}),
    deps=[RETENTION_KEY],
    description="Verifies the audit log's keyed chain against its anchors (the file's and the last run's "
    "Dagster metadata), then anchors its entry count and head in both.",
)
def chain(context: AssetExecutionContext, hub: HubResource) -> MaterializeResult:
    if problem := audit.check(hub.paths.home, dagster_anchors(context.instance)):
        raise Failure(description=problem)
    mark = audit.anchor(hub.paths.home, context.run.run_id)
    return MaterializeResult(metadata={"entries": mark["entries"], "head": mark["head"]})
