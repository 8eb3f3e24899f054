"""Metrics: every SQL file of the catalogue by period and geography, disclosure-controlled,
with trends, rag and alerts."""

from dagster import AssetKey, AssetsDefinition, MaterializeResult, asset

from governance.disclosure import load_policy, protect
from hub.metrics import compute, load_catalogue
from hub.trends import analyse
from pipelines.resources import DuckDBStore

METRICS_KEY = ["metrics", "metric_values"]


def build_metrics(upstream: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=METRICS_KEY,
        group_name="metrics",
        deps=upstream,
        description="Metric values by month, quarter and rolling 12 months for county, districts and "
        "localities (numerator, denominator, rate), after disclosure control (primary and complementary "
        "suppression), with process-control signals, rag and alerts.",
    )
    def metric_values(shared_store: DuckDBStore) -> MaterializeResult:
        policy = load_policy()
        with shared_store.connect() as con:
            outcome = compute(con, load_catalogue())
            protection = protect(con, policy)
            trends = analyse(con)
        return MaterializeResult(
            metadata={
                **{f"metric: {k}": str(v) for k, v in outcome.items()},
                "disclosure policy": policy.description,
                "cells": protection.cells,
                "suppressed (primary)": protection.primary,
                "suppressed (complementary)": protection.secondary,
                **trends,
            }
        )

    return metric_values
