"""The hub's Dagster Definitions, assembled in one place (`dagster dev` loads `defs`)."""

import os
from pathlib import Path

from dagster import AssetKey, AssetSelection, Definitions, define_asset_job, in_process_executor

from assets.factory import build_dataset_assets
from assets.governed import leak_guard, reference
from assets.linked import CHILD_INDEX_KEY, build_linked
from assets.metrics import build_metrics
from assets.published import metrics_store
from hub.contracts import load_contracts
from hub.paths import HubPaths
from pipelines.automation import failure_alert, landing_sensor, nightly_schedule
from pipelines.progress import progress_logger
from pipelines.resources import DuckDBStore, HubResource

REFRESH_JOB = "refresh"


def build_definitions(home: Path | None = None) -> Definitions:
    """Definitions for the hub at `home` (default: `SIHUB_HOME`, else ./data)."""
    paths = HubPaths(home.resolve()) if home else HubPaths.from_env()
    contracts = load_contracts()
    dataset_assets = [a for c in contracts for a in build_dataset_assets(c)]
    governed = [AssetKey(["governed", c.partner, c.dataset]) for c in contracts]
    refresh = define_asset_job(
        REFRESH_JOB,
        selection=AssetSelection.all() - AssetSelection.groups("landing"),
        description="The nightly refresh: archive, validate, govern, link, compute metrics, publish.",
    )
    return Definitions(
        schedules=[nightly_schedule(REFRESH_JOB)],
        sensors=[landing_sensor(REFRESH_JOB, contracts), failure_alert(contracts)],
        assets=[
            *dataset_assets,
            reference,
            build_linked(governed),
            build_metrics([AssetKey(CHILD_INDEX_KEY)]),
            metrics_store,
        ],
        asset_checks=[leak_guard],
        jobs=[refresh],
        resources={
            "hub": HubResource(home=str(paths.home)),
            "personal_store": DuckDBStore(path=str(paths.warehouse / "personal.duckdb"), restricted=True),
            "shared_store": DuckDBStore(path=str(paths.warehouse / "shared.duckdb")),
        },
        executor=in_process_executor,
        loggers={"progress": progress_logger},
    )


defs = build_definitions(Path(os.environ["SIHUB_HOME"]) if "SIHUB_HOME" in os.environ else None)
