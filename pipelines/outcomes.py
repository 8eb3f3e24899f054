"""What stopped a run, read from its events in the Dagster instance: the same one-line
reason and the same alert whichever route ran it (`sihub refresh` in-process, or the daemon
for the schedule, the sensor and the UI). Steps are named by the assets they build, read from
the run's own planning events, never parsed from step names."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, DagsterEventType, DagsterInstance

from assets.keys import PUBLISHED_KEY, dataset_of
from sihub.core.alerts import RunAlert, raise_alert
from sihub.core.paths import HubPaths
from sihub.privacy.scrub import without_values

PLANNED = (DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)


@dataclass(frozen=True)
class Failure:
    asset: AssetKey  # the asset whose step failed or whose blocking check failed
    failed: str  # what failed: `stage/partner/dataset` or `stage/name`, with the check's name
    reason: str  # one line, no values


def _events(instance: DagsterInstance, run_id: str, kind: DagsterEventType) -> list:
    return [record.dagster_event for record in instance.all_logs(run_id, of_type=kind)]


def _steps(instance: DagsterInstance, run_id: str) -> dict[str, AssetKey]:
    steps = {}
    for kind in PLANNED:
        for event in _events(instance, run_id, kind):
            data = event.event_specific_data
            steps[event.step_key] = event.asset_key or data.asset_check_key.asset_key
    return steps


def failure(instance: DagsterInstance, run_id: str) -> Failure | None:
    """The blocking checks that failed, else the first failed step, else None."""
    blocked = [
        e.event_specific_data
        for e in _events(instance, run_id, DagsterEventType.ASSET_CHECK_EVALUATION)
        if not e.event_specific_data.passed and e.event_specific_data.severity.value == "ERROR"
        and e.event_specific_data.blocking
    ]  # fmt: skip
    if blocked:
        names = ", ".join(f"{c.asset_key.to_user_string()} {c.check_name}" for c in blocked)
        why = "; ".join(f"{c.asset_key.to_user_string()} {c.check_name}" + _summary(c) for c in blocked)
        return Failure(blocked[0].asset_key, names, "blocked by failed data-quality check(s): " + why)
    for event in _events(instance, run_id, DagsterEventType.STEP_FAILURE):
        asset = _steps(instance, run_id).get(event.step_key, PUBLISHED_KEY)
        message = _root(event.event_specific_data.error)
        return Failure(asset, asset.to_user_string(), f"{asset.to_user_string()}: {message}")
    for event in _events(instance, run_id, DagsterEventType.RESOURCE_INIT_FAILURE):  # before any step
        return Failure(
            PUBLISHED_KEY, "the run's start", f"the run could not start: {_root(event.event_specific_data.error)}"
        )
    return None


def _summary(check) -> str:
    """What a failed check found, in its own words (its `summary` metadata: shares, rules
    and delivery labels, never a value), to follow its name."""
    summary = (check.metadata or {}).get("summary")
    text = getattr(summary, "value", summary)
    return f" ({text})" if text else ""


def _root(error) -> str:
    """The innermost cause of an error, its first line, with no quoted value."""
    while error.cause is not None:
        error = error.cause
    return without_values(error.message)


def raise_failure_alert(home: HubPaths, run_id: str, found: Failure, logs: str) -> None:
    dataset = dataset_of(found.asset)
    partner = dataset.partition("/")[0] if dataset else None
    raise_alert(home.operations, RunAlert(run_id, found.failed, partner, found.reason, logs))
