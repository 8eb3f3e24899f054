"""Where everything lives: one place that turns `SIHUB_HOME` into the zone folders of DESIGN.md."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT / "reference"
CONTRACTS_DIR = REPO_ROOT / "data_contracts"
SQL_DIR = REPO_ROOT / "sql"


@dataclass(frozen=True)
class HubPaths:
    """The folders below `SIHUB_HOME`; nothing is created until a stage needs it."""

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
    def published(self) -> Path:
        return self.home / "published"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"
