"""Benchmark (not a test): the refresh under Dagster's multiprocess executor, against the
in-process one the hub uses, on the same data.

    uv run python bench/multiprocess_executor.py --scale small

Each step of a multiprocess run is its own Python process: independent steps (one partner's
datasets and another's) run side by side, up to `--max-concurrent`. Prints wall time, whether
the run succeeded, and the steps that failed with the error each gave.
"""

import argparse
import os
import time
from pathlib import Path

from dagster import (
    AssetSelection,
    DagsterInstance,
    Definitions,
    define_asset_job,
    execute_job,
    multiprocess_executor,
    reconstructable,
)
from refresh_timings import prepare, timed_refresh

from pipelines.definitions import build_definitions
from sihub.core.stages import Stage


def multiprocess_refresh():
    """The refresh job with the multiprocess executor (module level: each step process rebuilds it)."""
    defs = build_definitions(Path(os.environ["SIHUB_HOME"]))
    job = define_asset_job(
        "refresh_multiprocess",
        selection=AssetSelection.all() - AssetSelection.groups(Stage.LANDING.value),
        executor_def=multiprocess_executor,
    )
    return Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources, loggers=defs.loggers, jobs=[job]
    ).resolve_job_def(job.name)


def _root(error) -> str:
    """The first line of the innermost error: the cause, not Dagster's wrapping."""
    while error.cause:
        error = error.cause
    return (error.message or "").splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=["small", "county"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-concurrent", type=int, default=2)
    args = parser.parse_args()

    home, _ = prepare(args.scale, args.seed)
    single = timed_refresh(home)
    print(f"in-process: {single.seconds:.1f} s, success {single.outcome.success}")

    home, _ = prepare(args.scale, args.seed)
    os.environ["SIHUB_HOME"] = str(home)
    started = time.perf_counter()
    with DagsterInstance.local_temp() as instance:
        result = execute_job(
            reconstructable(multiprocess_refresh),
            instance=instance,
            run_config={"execution": {"config": {"max_concurrent": args.max_concurrent}}, "loggers": {"progress": {}}},
            raise_on_error=False,
        )
        failures = [(e.step_key, _root(e.step_failure_data.error)) for e in result.all_events if e.is_step_failure]
        failures += [("run", e.message or "") for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"]
    print(f"multiprocess (max {args.max_concurrent}): {time.perf_counter() - started:.1f} s, success {result.success}")
    for step, message in failures:
        print(f"  failed: {step}: {message[:160]}")


if __name__ == "__main__":
    main()
