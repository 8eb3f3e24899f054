"""Running the refresh job in-process (what `sihub refresh` and `sihub demo` do)."""

import json
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from governance.scrub import without_values
from hub.contracts import load_contracts
from hub.run_alerts import RunAlert, partner_of, raise_alert
from pipelines.definitions import REFRESH_JOB, build_definitions
from pipelines.instance import hub_instance
from pipelines.progress import Listener, listen, stop_listening


@dataclass(frozen=True)
class RefreshOutcome:
    success: bool
    run_id: str
    summary: dict | None
    reason: str | None  # one line, when the run could not publish


PUBLISH_STEP = "published__metrics_store"


def _blocked(result) -> list[str]:
    """The blocking (error-severity) asset checks that failed."""
    return [
        f"{'/'.join(e.asset_key.path)} {e.check_name}"
        for e in (ev.event_specific_data for ev in result.all_events if ev.event_type_value == "ASSET_CHECK_EVALUATION")
        if not e.passed and e.severity.value == "ERROR"
    ]


def _step_failures(result) -> list:
    return [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


def _what_failed(result) -> str:
    """The blocking checks that failed, else the first failed step."""
    blocked, failures = _blocked(result), _step_failures(result)
    return ", ".join(blocked) if blocked else failures[0].step_key if failures else PUBLISH_STEP


def _why_not_published(result) -> str:
    """One line: the blocking checks that stopped publication, else the first failed step."""
    if blocked := _blocked(result):
        return "blocked by failed data-quality check(s): " + ", ".join(blocked)
    for event in _step_failures(result):
        error = event.event_specific_data.error
        while error.cause is not None:
            error = error.cause
        return f"{event.step_key}: {without_values(error.message)}"
    return "the publishing step did not run"


def _published(result) -> bool:
    return any(e.event_type_value == "STEP_SUCCESS" and e.step_key == PUBLISH_STEP for e in result.all_events)


def run_refresh(
    home: Path, listener: Listener | None = None, instance: DagsterInstance | None = None
) -> RefreshOutcome:
    """Run the whole refresh against `home`; never raises for a failed step. The Dagster
    instance is the one given, else the hub's (`pipelines.instance.hub_instance`)."""
    defs = build_definitions(home)
    job = defs.resolve_job_def(REFRESH_JOB)
    if instance is None:
        instance = hub_instance(home)
    if listener:
        listen(listener)
        listener("PLAN", None, ",".join(n.name for n in job.graph.nodes))  # a step per asset and separate check
    try:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config={"loggers": {"progress": {}}}
        )
    finally:
        if listener:
            stop_listening(listener)
    success = result.success and _published(result)
    summary_path = home / "published" / "run_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if success else None
    reason = None if success else _why_not_published(result)
    if reason:
        failed = _what_failed(result)
        logs = f"Dagster run {result.run_id} in {instance.root_directory} (open it with `dagster dev`)"
        partners = sorted({c.partner for c in load_contracts()})
        raise_alert(home / "published", RunAlert(result.run_id, failed, partner_of(failed, partners), reason, logs))
    return RefreshOutcome(success, result.run_id, summary, reason)
