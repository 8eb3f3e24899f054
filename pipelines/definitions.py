"""The hub's Dagster Definitions, assembled in one place (`dagster dev` loads `defs`)."""

import os
from pathlib import Path

from dagster import (
    AssetSelection,
    Definitions,
    ExecutorDefinition,
    JobDefinition,
    define_asset_job,
    definitions,
    in_process_executor,
    multiprocess_executor,
)

from assets.audit import chain
from assets.factory import build_dataset_assets
from assets.governed import build_known_names
from assets.keys import dataset_key
from assets.linked import build_linked
from assets.metrics import leak_guard, metric_values
from assets.published import metrics_store
from assets.reference import reference
from assets.resources import DuckDBStore, HubResource
from assets.retention import purge
from governance.agreements import in_use, load_register
from pipelines.automation import failure_alert, landing_sensor, nightly_schedule, prune_old_runs
from pipelines.progress import progress_logger
from sihub.core.contracts import load_contracts
from sihub.core.paths import HubPaths
from sihub.core.stages import Stage
from sihub.validation.data_docs import GX_MODULES

REFRESH_JOB = "refresh"
PROCESSES_ENV = "SIHUB_PROCESSES"


def executor(processes: int | None) -> ExecutorDefinition:
    """In one process (the default), or each step in a process of its own with up to
    `processes` at once. Step processes are forked from a server that has imported the hub
    and Great Expectations once, so a step does not pay Python's, Dagster's and GX's imports
    again (GX's alone took 2 s of each validation step, in its turn on the stores)."""
    if not processes or processes < 2:
        return in_process_executor
    preload = [__name__, *GX_MODULES]
    return multiprocess_executor.configured(
        {"max_concurrent": processes, "start_method": {"forkserver": {"preload_modules": preload}}},
        name="multiprocess",
    )


def build_definitions(home: Path | None = None, processes: int | None = None) -> Definitions:
    """Definitions for the hub at `home` (default: `SIHUB_HOME`, else ./data), run in one
    process or in up to `processes` (see `executor`)."""
    paths = HubPaths(home.resolve()) if home else HubPaths.from_env()
    contracts, _dormant = in_use(load_contracts(), load_register())
    dataset_assets = [a for c in contracts for a in build_dataset_assets(c)]
    refresh = define_asset_job(
        REFRESH_JOB,
        selection=AssetSelection.all() - AssetSelection.groups(Stage.LANDING.value),
        description="The nightly refresh: archive, validate, govern, link, compute metrics, publish, purge.",
    )
    return Definitions(
        schedules=[nightly_schedule(REFRESH_JOB)],
        sensors=[landing_sensor(REFRESH_JOB, contracts), failure_alert(), prune_old_runs],
        assets=[
            *dataset_assets,
            reference,
            build_known_names([dataset_key(Stage.VALIDATED, c) for c in contracts]),
            build_linked([dataset_key(Stage.GOVERNED, c) for c in contracts]),
            metric_values,
            metrics_store,
            purge,
            chain,
        ],
        asset_checks=[leak_guard],
        jobs=[refresh],
        resources={
            "hub": HubResource(home=str(paths.home)),
            "personal_store": DuckDBStore(path=str(paths.personal_store), home=str(paths.home), restricted=True),
            # owner-only too: pseudonymised rows are still personal data under UK GDPR
            "shared_store": DuckDBStore(path=str(paths.shared_store), home=str(paths.home), restricted=True),
        },
        executor=executor(processes),
        loggers={"progress": progress_logger},
    )


@definitions
def defs() -> Definitions:
    """What `dagster dev` and the daemon load, built when they ask (not on import: importing
    this module, as `sihub refresh` does, must not read the contracts before it can say
    clearly what is wrong with them)."""
    setting = os.environ.get(PROCESSES_ENV, "").strip()
    if setting and not setting.isdigit():
        raise ValueError(
            f"{PROCESSES_ENV} must be a whole number of processes (1 or unset: one process), not {setting!r}"
        )
    return build_definitions(Path(os.environ["SIHUB_HOME"]) if "SIHUB_HOME" in os.environ else None, int(setting or 0))


def refresh_job(home: str, processes: int) -> JobDefinition:
    """The refresh job as each step process of a multiprocess run rebuilds it
    (`pipelines.refresh.run_refresh`)."""
    return build_definitions(Path(home), processes).resolve_job_def(REFRESH_JOB)
