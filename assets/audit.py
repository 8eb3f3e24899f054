"""The audit log checked and anchored at the end of every run: a chain that no longer holds
fails the run (and so raises the run-failure alert, from `sihub refresh` or the daemon)."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from assets.keys import AUDIT_KEY, RETENTION_KEY, catalogue
from assets.resources import HubResource
from governance import audit


@asset(
    **catalogue(AUDIT_KEY, {"sqlite"}),
    deps=[RETENTION_KEY],
    description="Verifies the audit log's keyed chain against its anchors, then anchors its entry count and head "
    "(governance/audit_anchors.jsonl and this materialization's metadata).",
)
def chain(context: AssetExecutionContext, hub: HubResource) -> MaterializeResult:
    if problem := audit.check(hub.paths.home):
        raise Failure(description=problem)
    mark = audit.anchor(hub.paths.home, context.run.run_id)
    return MaterializeResult(metadata={"entries": mark["entries"], "head": mark["head"]})
