"""The data-sharing agreements register (`governance/agreements.yaml`, or the file named by
`SIHUB_AGREEMENTS`): which agreement covers each partner dataset, its lawful bases, purposes,
validity, retention and whether the NHS national data opt-out applies. A delivery flows only
under a live agreement."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from sihub.core.contracts import Contract
from sihub.core.paths import project

EXPIRY_WARNING_DAYS = 60


class Agreement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    partner: str
    datasets: tuple[str, ...]
    lawful_basis: str
    special_category_basis: str = ""
    purposes: tuple[str, ...]
    valid_from: dt.date
    valid_to: dt.date
    retention_years: int = Field(ge=1, le=100)
    national_data_opt_out: bool = False
    contact: str

    def live_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_to


class Register(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # shared between callers (`load_register`)

    agreements: tuple[Agreement, ...]

    def covering(self, partner: str, dataset: str, day: dt.date) -> tuple[Agreement | None, str]:
        """The live agreement for a dataset on a day, or None with the one-line reason."""
        mine = [a for a in self.agreements if a.partner == partner and dataset in a.datasets]
        live = [a for a in mine if a.live_on(day)]
        if live:
            return max(live, key=lambda a: a.valid_to), ""
        if not mine:
            return None, f"no data-sharing agreement covers {partner}/{dataset}"
        latest = max(mine, key=lambda a: a.valid_to)
        state = f"expired on {latest.valid_to}" if latest.valid_to < day else f"starts on {latest.valid_from}"
        return None, f"the data-sharing agreement {latest.id} for {partner}/{dataset} {state}"


def load_register(path: Path | None = None) -> Register:
    """The register in `path` (default: the project's). Parsed once per process for each
    content of the file: the steps of a refresh ask some fifty times (2 s of a quiet night),
    and a register edited between asks is read afresh."""
    path = path or project().agreements
    return _parsed_register(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=32)
def _parsed_register(text: str) -> Register:
    return Register.model_validate(yaml.safe_load(text))


def expiring(register: Register, day: dt.date, within_days: int = EXPIRY_WARNING_DAYS) -> list[Agreement]:
    return [a for a in register.agreements if a.live_on(day) and (a.valid_to - day).days <= within_days]


def in_use(contracts: list[Contract], register: Register) -> tuple[list[Contract], list[Contract]]:
    """The contracts an agreement names (live or not: a lapsed agreement holds deliveries, and
    that is reported), and the rest: shipped but dormant (the statutory returns a council may
    not send). Onboarding a dataset is its contract and an agreement entry; the refresh runs
    only the first list, so a dormant contract costs nothing."""
    named = {(a.partner, d) for a in register.agreements for d in a.datasets}
    used = [c for c in contracts if (c.partner, c.dataset) in named]
    return used, [c for c in contracts if (c.partner, c.dataset) not in named]
