"""Running the refresh job in-process (what `sihub refresh` and `sihub demo` do)."""

import json
from dataclasses import dataclass
from pathlib import Path

from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, JobDefinition
from dagster._core.definitions.dependency import NodeHandle

from assets.keys import PUBLISHED_KEY, dataset_of
from pipelines.definitions import REFRESH_JOB, build_definitions
from pipelines.instance import hub_instance, prune_runs
from pipelines.progress import Display, listen, stop_listening
from sihub.core.alerts import RunAlert, raise_alert
from sihub.core.paths import HubPaths
from sihub.privacy.scrub import without_values


@dataclass(frozen=True)
class RefreshOutcome:
    success: bool
    run_id: str
    summary: dict | None
    reason: str | None  # one line, when the run could not publish


def steps_of(job: JobDefinition) -> dict[str, AssetKey]:
    """Each step of the job and the asset it builds or checks."""
    steps = {}
    for node in job.graph.nodes:
        definition = job.asset_layer.get_assets_def_for_node(NodeHandle(node.name, None))
        keys = [*definition.keys, *(check.asset_key for check in definition.check_keys)]
        steps[node.name] = keys[0]
    return steps


def _blocked(result: ExecuteInProcessResult) -> list[tuple[AssetKey, str]]:
    """The blocking (error-severity) asset checks that failed: (asset, check)."""
    return [
        (e.asset_key, e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity.value == "ERROR"
    ]


def _first_failure(result: ExecuteInProcessResult, steps: dict[str, AssetKey]) -> tuple[AssetKey, str] | None:
    """The asset of the first failed step and its error's root cause, in one line."""
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        while error.cause is not None:
            error = error.cause
        return steps.get(event.step_key, PUBLISHED_KEY), without_values(error.message)
    return None


def _published(result: ExecuteInProcessResult) -> bool:
    return any(e.asset_key == PUBLISHED_KEY for e in result.get_asset_materialization_events())


def _not_published(result: ExecuteInProcessResult, steps: dict[str, AssetKey]) -> tuple[AssetKey, str, str]:
    """What stopped publication: (asset, what failed, one-line reason)."""
    if blocked := _blocked(result):
        names = ", ".join(f"{key.to_user_string()} {check}" for key, check in blocked)
        return blocked[0][0], names, "blocked by failed data-quality check(s): " + names
    if failure := _first_failure(result, steps):
        key, message = failure
        return key, key.to_user_string(), f"{key.to_user_string()}: {message}"
    return PUBLISHED_KEY, PUBLISHED_KEY.to_user_string(), "the publishing step did not run"


def run_refresh(home: Path, display: Display | None = None, instance: DagsterInstance | None = None) -> RefreshOutcome:
    """Run the whole refresh against `home`; never raises for a failed step. The Dagster
    instance is the one given, else the hub's (`pipelines.instance.hub_instance`)."""
    defs = build_definitions(home)
    job = defs.resolve_job_def(REFRESH_JOB)
    steps = steps_of(job)
    if instance is None:
        instance = hub_instance(home)
    if display:
        listen(display, steps)
    try:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config={"loggers": {"progress": {}}}
        )
    finally:
        if display:
            stop_listening(display)
    success = result.success and _published(result)
    published = HubPaths(home).published
    summary_path = published / "run_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if success else None
    reason = None
    if success:
        prune_runs(instance)
    else:
        key, failed, reason = _not_published(result, steps)
        dataset = dataset_of(key)
        logs = f"Dagster run {result.run_id} in {instance.root_directory} (open it with `dagster dev`)"
        partner = dataset.partition("/")[0] if dataset else None
        raise_alert(published, RunAlert(result.run_id, failed, partner, reason, logs))
    return RefreshOutcome(success, result.run_id, summary, reason)
