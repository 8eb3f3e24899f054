"""The nightly schedule and the landing sensor, evaluated by Dagster itself."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
from dagster import (
    AssetKey,
    DagsterInstance,
    asset,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from assets.resources import HubResource
from pipelines.definitions import REFRESH_JOB, build_definitions
from sihub.core.contracts import load_contracts
from sihub.intake.delivery_cadence import alert_if_overdue


def test_nightly_refresh_runs_the_whole_job_at_2am_uk_time(tmp_path: Path) -> None:
    schedule = build_definitions(tmp_path).resolve_schedule_def("nightly_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "0 2 * * *",
        "Europe/London",
        REFRESH_JOB,
    )
    requests = schedule.evaluate_tick(build_schedule_context()).run_requests
    assert len(requests) == 1 and requests[0].asset_selection is None  # everything, purge included


def test_landing_sensor_runs_each_partner_once_per_new_content(small, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(small.out, home / "landing")
    sensor = build_definitions(home).resolve_sensor_def("landing_sensor")
    hub = HubResource(home=str(home))

    def tick(cursor: str | None):
        return sensor.evaluate_tick(build_sensor_context(cursor=cursor, resources={"hub": hub}))

    first = tick(None)
    partners = {r.tags["partner"] for r in first.run_requests}
    assert partners == {p.name for p in (home / "landing").iterdir()}
    police = next(r for r in first.run_requests if r.tags["partner"] == "police")
    selected = set(police.asset_selection)
    assert AssetKey(["validated", "police", "missing_episodes"]) in selected
    assert not any(k.path[1:2] == ["health"] for k in selected)
    assert AssetKey(["published", "metrics_store"]) in selected
    assert len({r.run_key for r in first.run_requests}) == len(first.run_requests)

    second = tick(first.cursor)
    assert second.run_requests == [] and second.skip_message

    episodes = sorted((home / "landing" / "police" / "missing_episodes").iterdir())
    shutil.copy(episodes[0], episodes[0].with_name("resent_" + episodes[0].name))  # identical content
    assert tick(second.cursor).run_requests == []

    with episodes[-1].open("a", encoding="utf-8") as f:  # changed content
        f.write("\n")
    third = tick(second.cursor)
    assert [r.tags["partner"] for r in third.run_requests] == ["police"]
    assert third.run_requests[0].run_key not in {r.run_key for r in first.run_requests}


def test_the_sensors_first_look_starts_from_what_the_archive_has_read(first_run, home: Path) -> None:
    """Switched on over a home the nightly refresh has read, the sensor launches nothing; a
    new file launches its partner's run."""
    sensor = build_definitions(home).resolve_sensor_def("landing_sensor")
    context = build_sensor_context(cursor=None, resources={"hub": HubResource(home=str(home))})
    first = sensor.evaluate_tick(context)
    assert first.run_requests == [] and first.cursor


def test_a_failed_daemon_run_raises_an_alert(tmp_path: Path) -> None:
    @asset(key=["validated", "police", "missing_episodes"])
    def broken() -> None:
        raise RuntimeError("the delivery could not be read")

    instance = DagsterInstance.ephemeral()
    result = materialize([broken], instance=instance, raise_on_error=False)
    assert not result.success
    sensor = build_definitions(tmp_path).resolve_sensor_def("failure_alert")
    context = build_run_status_sensor_context(
        sensor_name="failure_alert",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"hub": HubResource(home=str(tmp_path))},
    ).for_run_failure()
    sensor(context)
    (path,) = (tmp_path / "operations" / "alerts").glob("*.json")
    alert = json.loads(path.read_text())
    assert alert["run_id"] == result.run_id and alert["partner"] == "police"
    # the same alert `sihub refresh` raises: the asset named as stage/partner/dataset
    assert alert["failed"] == "validated/police/missing_episodes"
    assert alert["reason"].startswith("validated/police/missing_episodes: ") and result.run_id in alert["logs"]


def test_an_overdue_delivery_raises_one_alert_per_missed_delivery(first_run, home: Path, tmp_path: Path) -> None:
    monthly = next(c for c in load_contracts() if c.key == "police/missing_episodes")
    grace = monthly.delivery.grace_days
    with duckdb.connect(str(home / "warehouse" / "personal.duckdb"), read_only=True) as con:
        (last,) = con.execute(
            "SELECT max(seen_at)::DATE FROM deliveries WHERE partner = 'police' AND dataset = 'missing_episodes'"
        ).fetchone()
        deadline = last + dt.timedelta(days=31 + grace)  # a month is counted as 31 days, then the grace
        assert alert_if_overdue(con, monthly, tmp_path, "run-a", deadline) is None
        assert not (tmp_path / "alerts").exists()

        assert alert_if_overdue(con, monthly, tmp_path, "run-b", deadline + dt.timedelta(days=1)) is not None
        assert alert_if_overdue(con, monthly, tmp_path, "run-c", deadline + dt.timedelta(days=9)) is not None
        (raised,) = (tmp_path / "alerts").glob("*.json")  # still late, but alerted once
        alert = json.loads(raised.read_text())
        assert (alert["kind"], alert["partner"], alert["run_id"]) == ("delivery_overdue", "police", "run-b")
        assert "police/missing_episodes" in alert["failed"] and last.isoformat() in alert["reason"]

        never = monthly.model_copy(update={"dataset": "not_yet_delivered"})  # not onboarded yet: no cadence
        assert alert_if_overdue(con, never, tmp_path, "run-d", deadline + dt.timedelta(days=400)) is None
        assert len(list((tmp_path / "alerts").glob("*.json"))) == 1
