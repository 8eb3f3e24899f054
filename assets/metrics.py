"""Metrics: every SQL file of the catalogue, by month and geography."""

from dagster import AssetKey, AssetsDefinition, MaterializeResult, asset

from hub.metrics import compute, load_catalogue
from pipelines.resources import DuckDBStore

METRICS_KEY = ["metrics", "metric_values"]


def build_metrics(governed_keys: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=METRICS_KEY,
        group_name="metrics",
        deps=governed_keys,
        description="Metric values by month for county, districts and localities: numerator, denominator, rate.",
    )
    def metric_values(shared_store: DuckDBStore) -> MaterializeResult:
        with shared_store.connect() as con:
            outcome = compute(con, load_catalogue())
        return MaterializeResult(metadata={k: str(v) for k, v in outcome.items()})

    return metric_values
