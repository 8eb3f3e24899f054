"""Metrics: every SQL file of the catalogue by period and geography, disclosure-controlled,
with trends, rag and alerts."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from assets.linked import LINKED_STAGE
from governance.disclosure import load_policy, protect
from hub import change_tracking as changes
from hub.metrics import compute, load_catalogue
from hub.trends import analyse
from pipelines.resources import DuckDBStore, HubResource

METRICS_KEY = ["metrics", "metric_values"]
METRICS_STAGE = "metrics"


def build_metrics(upstream: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=METRICS_KEY,
        group_name="metrics",
        deps=upstream,
        description="Metric values by month, quarter and rolling 12 months for county, districts and "
        "localities (numerator, denominator, rate), after disclosure control (primary and complementary "
        "suppression), with process-control signals, rag and alerts.",
    )
    def metric_values(context: AssetExecutionContext, hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
        policy = load_policy()
        shared = Path(shared_store.path)
        fingerprint = changes.upstream(shared, changes.context(hub.paths.home), LINKED_STAGE)
        if built_by := changes.begin(shared, METRICS_STAGE, fingerprint):
            return MaterializeResult(metadata={"unchanged since run": built_by})
        with shared_store.connect() as con:
            outcome = compute(con, load_catalogue())
            protection = protect(con, policy, basis=changes.digest([changes.source_digest(), policy]))
            trends = analyse(con)
        changes.finish(shared, METRICS_STAGE, fingerprint, context.run.run_id)
        return MaterializeResult(
            metadata={
                **{f"metric: {k}": str(v) for k, v in outcome.items()},
                "disclosure policy": policy.description,
                "cells": protection.cells,
                "suppressed (primary)": protection.primary,
                "suppressed (complementary)": protection.secondary,
                "metric-months unchanged (pattern kept, not re-audited)": protection.reused_months,
                **trends,
            }
        )

    return metric_values
