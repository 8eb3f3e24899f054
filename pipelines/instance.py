"""The Dagster instance `sihub` and `dagster dev` share: its storage lives under
`$SIHUB_HOME/dagster`, so run history, logs and sensor cursors sit with the data they describe.

`dagster.yaml` names the storage classes below instead of fixed paths because a YAML value
cannot say "`$SIHUB_HOME/dagster`, with `./data` when unset"; these classes say exactly that.
Production (PostgreSQL) does not use them: `init_production` copies the template
`deploy/production/dagster.yaml` into a folder of the server's own, and `DAGSTER_HOME` points
there.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml
from dagster import DagsterInstance, Field, RunsFilter
from dagster._core.instance import InstanceRef
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData

from sihub.core.paths import HubPaths, project

RETENTION_ENV = "SIHUB_RUN_RETENTION_DAYS"
DEFAULT_RUN_RETENTION_DAYS = 90
_SUBDIR = {
    "home": Field(str, is_required=False, description="the hub's home; default $SIHUB_HOME, else ./data"),
    "subdir": Field(str, is_required=False, default_value="", description="below <home>/dagster"),
}


def _under_home(config: dict) -> str:
    home = Path(config["home"]) if config.get("home") else HubPaths.from_env().home
    return str(HubPaths(home).dagster / config.get("subdir", ""))


class _UnderHome:
    """Configured by an optional home and subfolder instead of a fixed `base_dir`."""

    @classmethod
    def config_type(cls) -> dict:
        return _SUBDIR

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):
        return cls._at(_under_home(config_value), inst_data)

    @classmethod
    def _at(cls, base_dir: str, inst_data: ConfigurableClassData | None):
        return cls(base_dir, inst_data=inst_data)


class HubSqliteStorage(_UnderHome, DagsterSqliteStorage):
    """Runs, event logs, schedules and sensor ticks in SQLite under `$SIHUB_HOME/dagster`."""

    @classmethod
    def _at(cls, base_dir: str, inst_data: ConfigurableClassData | None) -> HubSqliteStorage:
        return cls.from_local(base_dir, inst_data=inst_data)  # creates the folder


class HubArtifactStorage(_UnderHome, LocalArtifactStorage):
    """Dagster's local artifacts (the instance root) under `$SIHUB_HOME/dagster`."""


class HubComputeLogs(_UnderHome, LocalComputeLogManager):
    """Each step's captured stdout and stderr under `$SIHUB_HOME/dagster/logs`."""


def _pinned(entry: object, home: Path) -> object:
    """A dagster.yaml entry with this module's classes told the hub's home outright."""
    if not isinstance(entry, dict):
        return entry
    if entry.get("module") == __name__:
        return {**entry, "config": {**(entry.get("config") or {}), "home": str(home)}}
    return {key: _pinned(value, home) for key, value in entry.items()}


def hub_instance(home: Path) -> DagsterInstance:
    """`$DAGSTER_HOME`'s instance when that is set (production); otherwise the project's
    `dagster.yaml` for `home`, the instance `dagster dev` opens from the repository root."""
    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    settings = yaml.safe_load(project().dagster_yaml.read_text(encoding="utf-8"))
    overrides = {key: _pinned(value, home) for key, value in settings.items()}
    ref = InstanceRef.from_dir(str(HubPaths(home).dagster), config_dir=str(project().root), overrides=overrides)
    return DagsterInstance.from_ref(ref)


class InstanceExists(Exception):
    """The folder cannot be the instance (it holds different settings, or is in the checkout);
    the message says why."""


def production_template() -> Path:
    return project().root / "deploy" / "production" / "dagster.yaml"


def init_production(folder: Path, replace: bool = False) -> Path:
    """Make `folder` a production instance: created owner-only (Dagster writes its artifacts
    and compute logs there), holding the template's settings. Settings already there and
    different are kept unless `replace` (an upgrade brings a new template); returns the
    settings file."""
    if folder.resolve().is_relative_to(project().root.resolve()):
        raise InstanceExists(f"{folder} is inside the project's checkout: an instance needs a folder of its own")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)  # owner-only however it came to exist (made by root for the service account, say)
    settings, template = folder / "dagster.yaml", production_template().read_text(encoding="utf-8")
    if settings.exists() and settings.read_text(encoding="utf-8") != template and not replace:
        raise InstanceExists(f"{settings} holds other settings: keep them, or replace them with --replace")
    settings.write_text(template, encoding="utf-8")
    return settings


def retention_days() -> int:
    return int(os.environ.get(RETENTION_ENV, DEFAULT_RUN_RETENTION_DAYS))


def prune_runs(instance: DagsterInstance, now: dt.datetime | None = None) -> int:
    """Delete finished runs (with their event logs) older than the retention period;
    Dagster itself only ages out sensor and schedule ticks. Returns how many went."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days())
    old = instance.get_run_records(RunsFilter(created_before=cutoff))
    for record in old:
        if record.dagster_run.is_finished:
            instance.delete_run(record.dagster_run.run_id)
    return sum(r.dagster_run.is_finished for r in old)
