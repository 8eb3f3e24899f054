"""The Dagster instance: `sihub` and `dagster dev` share one, under $SIHUB_HOME/dagster; the
production settings are valid Dagster configuration; old runs are aged out."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, job, op
from dagster._core.instance import InstanceRef
from dagster._core.instance.config import dagster_instance_config

from pipelines.instance import RETENTION_ENV, hub_instance, prune_runs
from sihub.core.paths import project

SIHUB = str(Path(sys.executable).parent / "sihub")


@op
def _noop() -> None:
    """A step that does nothing: these tests are about where runs are recorded."""


@job
def _tiny() -> None:
    _noop()


def test_sihub_and_dagster_dev_share_one_instance_under_the_hub_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    run_id = _tiny.execute_in_process(instance=hub_instance(home)).run_id

    # what `dagster dev` does from the repository root without DAGSTER_HOME: a temporary home,
    # the repository's dagster.yaml
    monkeypatch.setenv("SIHUB_HOME", str(home))
    dev = DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path / "dev_tmp"), config_dir=str(project().root)))
    assert [r.run_id for r in dev.get_runs()] == [run_id]
    with sqlite3.connect(home / "dagster" / "history" / "runs.db") as db:  # the run is on disk under the home
        assert db.execute("SELECT run_id FROM runs").fetchall() == [(run_id,)]
    assert (home / "dagster" / "logs").is_dir()
    assert not (tmp_path / "dev_tmp" / "history").exists()

    settings = yaml.safe_load((project().root / "dagster.yaml").read_text())
    assert settings["telemetry"] == {"enabled": False}
    assert settings["run_queue"]["max_concurrent_runs"] == 1
    assert type(dev.run_coordinator).__name__ == "QueuedRunCoordinator"


def test_dagster_home_selects_the_production_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(var, "x")
    monkeypatch.setenv("DAGSTER_PG_PORT", "6543")
    config, _ = dagster_instance_config(str(project().root / "deploy" / "production"))  # Dagster's own schema check
    # the driver the lock installs, and every connection setting from the environment
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["storage"]["postgres"]["postgres_db"]["port"] == {"env": "DAGSTER_PG_PORT"}
    assert "postgres" in config["storage"]
    assert config["run_retries"]["enabled"] and config["run_retries"]["max_retries"] >= 1
    assert config["telemetry"] == {"enabled": False}
    assert config["run_queue"]["max_concurrent_runs"] == 1


def test_runs_older_than_the_retention_period_are_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    instance = DagsterInstance.ephemeral()
    runs = [_tiny.execute_in_process(instance=instance).run_id for _ in range(2)]
    monkeypatch.setenv(RETENTION_ENV, "30")
    now = dt.datetime.now(dt.UTC)
    assert prune_runs(instance, now + dt.timedelta(days=29)) == 0
    assert sorted(r.run_id for r in instance.get_runs()) == sorted(runs)
    assert prune_runs(instance, now + dt.timedelta(days=31)) == 2
    assert instance.get_runs() == []


def test_instance_init_makes_a_writable_instance_and_keeps_settings_it_did_not_write(tmp_path: Path) -> None:
    """The template is not the instance: `sihub instance init` makes one (owner-only, since
    Dagster writes there), and an upgrade replaces its settings only when asked."""
    folder = tmp_path / "instance"
    assert subprocess.run([SIHUB, "instance", "init", str(folder)], capture_output=True).returncode == 0
    assert oct((folder).stat().st_mode & 0o777) == "0o700"
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    again = subprocess.run([SIHUB, "instance", "init", str(folder)], capture_output=True, text=True)
    assert again.returncode == 1 and "--replace" in again.stdout + again.stderr
    assert (folder / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    replaced = subprocess.run([SIHUB, "instance", "init", str(folder), "--replace"], capture_output=True)
    assert replaced.returncode == 0 and "postgresql+psycopg2" in (folder / "dagster.yaml").read_text()
