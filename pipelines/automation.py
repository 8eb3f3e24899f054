"""Running without anyone watching: the nightly schedule and the landing sensor."""

import json

import duckdb
from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from assets.keys import COMBINED_KEYS, PUBLISHED_KEY, dataset_key
from assets.resources import HubResource
from pipelines.instance import prune_runs
from pipelines.outcomes import Failure, failure, raise_failure_alert
from sihub.core.contracts import Contract
from sihub.core.db import connect
from sihub.core.stages import DATASET_STAGES, Stage
from sihub.intake.landing_watch import archived, look
from sihub.privacy.scrub import without_values

NIGHTLY_CRON = "0 2 * * *"
TIMEZONE = "Europe/London"  # 02:00 local time, whether GMT or BST


def nightly_schedule(job_name: str) -> ScheduleDefinition:
    """The whole refresh (retention purge included) at 02:00 Europe/London every night."""
    return ScheduleDefinition(
        name="nightly_refresh",
        job_name=job_name,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=TIMEZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Every night at 02:00 UK time: archive, validate, govern, link, compute, publish, purge.",
    )


def landing_sensor(job_name: str, contracts: list[Contract]):
    """A run for each partner with new or changed files in landing: that partner's datasets,
    then linkage, metrics and publication. The run key is made from the files' hashes."""

    @sensor(
        name="landing_sensor",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Watches landing/; a partner's new delivery refreshes that partner's datasets and "
        "the shared outputs. The same files never trigger twice.",
    )
    def _landing_sensor(context: SensorEvaluationContext, hub: HubResource):
        if context.cursor:
            seen = json.loads(context.cursor)
        elif not hub.paths.personal_store.exists():
            seen = {}
        else:
            try:
                with connect(hub.paths.personal_store, read_only=True) as con:
                    seen = archived(con)
            except duckdb.IOException:  # a refresh holds the store: look again next tick
                return SkipReason("the personal zone is busy (a refresh is running); first look postponed")
        deliveries, state = look(hub.paths.landing, contracts, seen)
        requests = [
            RunRequest(
                run_key=d.run_key,
                asset_selection=[
                    dataset_key(stage, contract)
                    for contract in contracts
                    if contract.partner == d.partner and contract.dataset in d.datasets
                    for stage in DATASET_STAGES
                    if stage != Stage.LANDING
                ]
                + list(COMBINED_KEYS),
                tags={"partner": d.partner, "files": str(d.files)},
            )
            for d in deliveries
        ]
        if not requests:
            return SensorResult(skip_reason=SkipReason("no new or changed files in landing"), cursor=json.dumps(state))
        return SensorResult(run_requests=requests, cursor=json.dumps(state))

    return _landing_sensor


def failure_alert():
    """For runs the daemon launches (schedule, sensor, UI): an alert when one fails, the same
    as `sihub refresh` raises for its own runs."""

    @run_failure_sensor(
        name="failure_alert",
        default_status=DefaultSensorStatus.RUNNING,
        description="Writes operations/alerts/<time>-<run>.json for a failed run, and sends it where configured.",
    )
    def _failure_alert(context: RunFailureSensorContext, hub: HubResource) -> None:
        run_id = context.dagster_run.run_id
        found = failure(context.instance, run_id) or Failure(
            PUBLISHED_KEY,
            context.dagster_run.job_name,
            without_values(context.failure_event.message or "the run failed"),
        )
        raise_failure_alert(hub.paths, run_id, found, f"Dagster run {run_id} (Runs page of the Dagster UI)")

    return _failure_alert


@run_status_sensor(
    name="prune_old_runs",
    run_status=DagsterRunStatus.SUCCESS,
    default_status=DefaultSensorStatus.RUNNING,
    description="After a run succeeds: deletes finished runs older than SIHUB_RUN_RETENTION_DAYS (default 90).",
)
def prune_old_runs(context: RunStatusSensorContext) -> None:
    """For runs the daemon launches; `sihub refresh` prunes after its own run."""
    prune_runs(context.instance)
