"""Running the refresh job in-process (what `sihub refresh` and `sihub demo` do)."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance

from pipelines.definitions import REFRESH_JOB, build_definitions
from pipelines.progress import Listener, listen, stop_listening


@dataclass(frozen=True)
class RefreshOutcome:
    success: bool
    run_id: str
    summary: dict | None
    reason: str | None  # one line, when the run could not publish


def _first_failure(result) -> str:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error.cause is not None:
                error = error.cause
            return f"{event.step_key}: {error.message.strip().splitlines()[0]}"
    return "the run failed before any step"


def run_refresh(home: Path, listener: Listener | None = None) -> RefreshOutcome:
    """Run the whole refresh against `home`; never raises for a failed step."""
    defs = build_definitions(home)
    job = defs.resolve_job_def(REFRESH_JOB)
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    if listener:
        listen(listener)
    try:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config={"loggers": {"progress": {}}}
        )
    finally:
        if listener:
            stop_listening(listener)
    summary_path = home / "published" / "run_summary.json"
    summary = None
    if result.success and summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    reason = None if result.success else _first_failure(result)
    return RefreshOutcome(result.success, result.run_id, summary, reason)
