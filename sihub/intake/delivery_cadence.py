"""Partner deliveries against their expected cadence.

A dataset whose contract says `delivery: {every: month, grace_days: 10}` and has had no
delivery for a month and ten days is overdue: metrics built on it go stale without anyone
noticing unless the hub says so. The nightly refresh checks each dataset after archiving and
raises one alert per missed delivery (not one a night), naming the partner, the dataset and
the date of the last delivery. The cadence starts with a dataset's first delivery: a dataset
not yet onboarded (a contract written ahead of the first extract) is not overdue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sihub.core.alerts import RunAlert, raise_alert
from sihub.core.contracts import Contract

# A period as a number of days, generous so that a delivery on the last day still counts.
PERIOD_DAYS = {"day": 1, "week": 7, "month": 31, "quarter": 92, "term": 122, "year": 366}


@dataclass(frozen=True)
class Overdue:
    contract: Contract
    last: dt.date
    due_by: dt.date

    @property
    def reason(self) -> str:
        cadence = self.contract.delivery
        expected = f"expected every {cadence.every} with {cadence.grace_days} days' grace"
        return f"no delivery since {self.last.isoformat()} ({expected}, so by {self.due_by.isoformat()})"


def last_delivery(con: duckdb.DuckDBPyConnection, contract: Contract) -> dt.date | None:
    """The day the dataset's latest file was first seen in landing, whatever became of it."""
    row = con.execute(
        "SELECT max(seen_at)::DATE FROM deliveries WHERE partner = ? AND dataset = ?",
        [contract.partner, contract.dataset],
    ).fetchone()
    return row[0] if row else None


def overdue(contract: Contract, last: dt.date | None, today: dt.date) -> Overdue | None:
    if contract.delivery is None or last is None:
        return None
    due_by = last + dt.timedelta(days=PERIOD_DAYS[contract.delivery.every] + contract.delivery.grace_days)
    return Overdue(contract, last, due_by) if today > due_by else None


def alert_if_overdue(
    con: duckdb.DuckDBPyConnection, contract: Contract, operations: Path, run_id: str, today: dt.date
) -> Overdue | None:
    """Check one dataset; raise its alert the first time a given delivery is missed."""
    late = overdue(contract, last_delivery(con, contract), today)
    if late is None:
        return None
    alert = RunAlert(
        run_id,
        f"delivery overdue: {contract.key}",
        contract.partner,
        late.reason,
        f"landing/{contract.key}/ and the raw asset's log in Dagster",
        kind="delivery_overdue",
    )
    raise_alert(operations, alert, name=f"overdue-{contract.partner}-{contract.dataset}-since-{late.last.isoformat()}")
    return late
