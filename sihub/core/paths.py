"""Where everything lives: the project's configuration (contracts, metric SQL, reference
tables, registers) and the hub's data below `SIHUB_HOME`, in one place.

The configuration is found once, in this order: `SIHUB_PROJECT` (a deployment's own folder
of contracts, SQL and registers), the checkout this code runs from, else the copy installed
with the package (the wheel carries it as package data), so an installed `sihub` runs from any
directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

PROJECT_ENV = "SIHUB_PROJECT"
# folders earlier versions wrote into published/ (Data Docs, run alerts), now in `operations`:
# a refresh moves them out, so no disclosure tier may have a folder by these names
FORMER_PUBLISHED_REPORTS = ("data_quality", "alerts")
_CHECKOUT = Path(__file__).resolve().parents[2]


def _is_project(folder: Path) -> bool:
    return (folder / "data_contracts").is_dir() and (folder / "sql").is_dir()


@cache
def project_dir() -> Path:
    """The folder holding `data_contracts/`, `sql/`, `reference/`, `governance/*.yaml` and
    `dagster.yaml`."""
    if configured := os.environ.get(PROJECT_ENV):
        folder = Path(configured).resolve()
        if not _is_project(folder):
            raise FileNotFoundError(f"{PROJECT_ENV}={folder} has no data_contracts/ and sql/ folders")
        return folder
    if _is_project(_CHECKOUT):
        return _CHECKOUT
    return Path(str(resources.files("sihub") / "project"))


@dataclass(frozen=True)
class ProjectFiles:
    """The project's configuration files, by what they are."""

    root: Path

    @property
    def contracts(self) -> Path:
        return self.root / "data_contracts"

    @property
    def sql(self) -> Path:
        return self.root / "sql"

    @property
    def views(self) -> Path:
        return self.sql / "views"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def agreements(self) -> Path:
        """The data-sharing agreements register; `SIHUB_AGREEMENTS` names another."""
        return Path(os.environ.get("SIHUB_AGREEMENTS", self.root / "governance" / "agreements.yaml"))

    @property
    def disclosure_policy(self) -> Path:
        return self.root / "governance" / "disclosure.yaml"

    @property
    def dagster_yaml(self) -> Path:
        return self.root / "dagster.yaml"


def project() -> ProjectFiles:
    """The project's configuration files (see `project_dir`)."""
    return ProjectFiles(project_dir())


@dataclass(frozen=True)
class HubPaths:
    """The folders and stores below `SIHUB_HOME`; nothing is created until a stage needs it."""

    home: Path

    @classmethod
    def from_env(cls) -> HubPaths:
        return cls(Path(os.environ.get("SIHUB_HOME", "./data")).resolve())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def truth(self) -> Path:
        """Synthetic truth and defect manifest: outside landing so no stage reads them."""
        return self.home / "truth"

    @property
    def raw(self) -> Path:
        return self.home / "raw"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @property
    def personal_store(self) -> Path:
        """The personal zone: identifiers, typed rows, quarantine, linkage (owner-only)."""
        return self.warehouse / "personal.duckdb"

    @property
    def shared_store(self) -> Path:
        """The shared intelligence store: pseudonymised, generalised rows and metrics."""
        return self.warehouse / "shared.duckdb"

    @property
    def governance(self) -> Path:
        return self.home / "governance"

    @property
    def governance_db(self) -> Path:
        """The audit log and the agreements as audited (SQLite, unless a URL is configured)."""
        return self.governance / "governance.db"

    @property
    def published(self) -> Path:
        return self.home / "published"

    @property
    def operations(self) -> Path:
        """The data team's reports on the runs: the exact run summary (every delivery's rows,
        however few), Great Expectations Data Docs and run alerts. Exact row counts can be 1, so
        they stay with the team that runs the hub, never in a disclosure tier's folder."""
        return self.home / "operations"

    @property
    def reference(self) -> Path:
        """A deployment's own reference tables, preferred over the project's copies."""
        return self.home / "reference"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    @property
    def subject_access(self) -> Path:
        return self.home / "sar"

    @property
    def dagster(self) -> Path:
        return self.home / "dagster"

    @property
    def run_lock(self) -> Path:
        """Held by whichever process is writing to this home (`sihub.core.run_lock`)."""
        return self.home / "run.lock"

    @property
    def store_turn(self) -> Path:
        """Taken in turn by the processes of one multiprocess run before each opens a DuckDB
        store (`sihub.core.run_lock.store_turn`)."""
        return self.home / "stores.lock"
