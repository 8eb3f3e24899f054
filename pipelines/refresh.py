"""Running the refresh job in-process (what `sihub refresh` and `sihub demo` do)."""

import json
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    build_reconstructable_job,
    execute_job,
    in_process_executor,
)

from assets.keys import PUBLISHED_KEY
from pipelines.definitions import REFRESH_JOB, build_definitions
from pipelines.instance import hub_instance, prune_runs
from pipelines.outcomes import Failure, failure, raise_failure_alert
from pipelines.progress import Display, listen, stop_listening
from sihub.core.contracts import ContractError
from sihub.core.paths import HubPaths


@dataclass(frozen=True)
class RefreshOutcome:
    success: bool  # the snapshot was published (or, with nothing new, the current one stands)
    run_id: str
    summary: dict | None
    reason: str | None  # one line, when a step or check failed (before publication or after)


def steps_of(defs: Definitions) -> dict[str, AssetKey]:
    """Each step of the refresh and the asset it builds or checks, before anything runs."""
    steps = {}
    for definition in [*defs.assets, *defs.asset_checks]:
        if isinstance(definition, AssetsDefinition) and definition.is_executable:
            keys = [*definition.keys, *(check.asset_key for check in definition.check_keys)]
            steps[definition.op.name] = keys[0]
    return steps


def run_refresh(
    home: Path, display: Display | None = None, instance: DagsterInstance | None = None, processes: int | None = None
) -> RefreshOutcome:
    """Run the whole refresh against `home`; never raises for a failed step. The Dagster
    instance is the one given, else the hub's (`pipelines.instance.hub_instance`). With
    `processes` (2 or more), the steps run in processes of their own, up to that many at once,
    under Dagster's multiprocess executor (the instance must then be a persistent one)."""
    paths = HubPaths(home)
    try:
        defs = build_definitions(home, processes)
    except ContractError as err:  # nothing can run: said in one line, and alerted like a failed run
        reason = f"the data contracts cannot be used ({len(str(err).splitlines())} error(s); first: " + (
            f"{str(err).splitlines()[0]}): run `sihub contracts check`"
        )
        raise_failure_alert(
            paths, "not-started", Failure(PUBLISHED_KEY, "the data contracts", reason), "sihub contracts check"
        )
        return RefreshOutcome(False, "not-started", None, reason)
    job = defs.resolve_job_def(REFRESH_JOB)
    if instance is None:
        instance = hub_instance(home)
    if display:
        listen(display, steps_of(defs))
    run_config = {"loggers": {"progress": {}}}
    try:
        if job.executor_def is in_process_executor:
            result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config)
        else:
            rebuilt = build_reconstructable_job(
                "pipelines.definitions", "refresh_job", reconstructable_args=(str(home.resolve()), processes)
            )
            result = execute_job(rebuilt, instance=instance, raise_on_error=False, run_config=run_config)
    finally:
        if display:
            stop_listening(display)
    published = any(e.asset_key == PUBLISHED_KEY for e in result.get_asset_materialization_events())
    found = failure(instance, result.run_id)
    if not published and found is None:
        found = Failure(PUBLISHED_KEY, PUBLISHED_KEY.to_user_string(), "the publishing step did not run")
    if found:
        logs = f"Dagster run {result.run_id} in {instance.root_directory} (open it with `dagster dev`)"
        raise_failure_alert(paths, result.run_id, found, logs)
    if not published:
        return RefreshOutcome(False, result.run_id, None, found.reason)
    prune_runs(instance)
    summary = json.loads((paths.operations / "run_summary.json").read_text(encoding="utf-8"))
    return RefreshOutcome(True, result.run_id, summary, found.reason if found else None)
