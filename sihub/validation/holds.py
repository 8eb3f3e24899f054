"""Held deliveries: a delivery that fails a dataset check with `error` severity is held. Its
rows stay in the personal zone (so it can be looked at, re-validated or released) but out of
everything that stands (`current.current_rows`): the shared store, linkage and every
published figure. It stays held, whatever later runs bring, until `sihub revalidate` reads
it again under a fixed contract (it is judged afresh) or the analyst releases it
(`sihub release`, audited)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from sihub.core.contracts import Contract


@dataclass(frozen=True)
class Held:
    sha256: str
    reason: str  # one line: the check, the share, the rules most broken; no values
    since: dt.datetime


def hold(con: duckdb.DuckDBPyConnection, contract: Contract, held: dict[str, str], run_id: str) -> None:
    """Hold the deliveries given as {sha256: reason}."""
    if not held:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.executemany(
        "INSERT INTO held_deliveries VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
        [[sha, contract.partner, contract.dataset, reason, now, run_id] for sha, reason in held.items()],
    )


def forget_holds(con: duckdb.DuckDBPyConnection, shas: list[str]) -> None:
    """Deliveries about to be read again are judged afresh (a release the analyst gave stands)."""
    con.execute("DELETE FROM held_deliveries WHERE list_contains(?, sha256) AND released_at IS NULL", [shas])


def released(con: duckdb.DuckDBPyConnection, contract: Contract) -> set[str]:
    """The dataset's deliveries the analyst released: never held again."""
    rows = con.execute(
        "SELECT sha256 FROM held_deliveries WHERE partner = ? AND dataset = ? AND released_at IS NOT NULL",
        [contract.partner, contract.dataset],
    ).fetchall()
    return {sha for (sha,) in rows}


def held_now(con: duckdb.DuckDBPyConnection, contract: Contract) -> list[Held]:
    """The dataset's deliveries held now, oldest first."""
    rows = con.execute(
        "SELECT sha256, reason, held_at FROM held_deliveries WHERE partner = ? AND dataset = ? "
        "AND released_at IS NULL ORDER BY held_at, sha256",
        [contract.partner, contract.dataset],
    ).fetchall()
    return [Held(*row) for row in rows]


def release(con: duckdb.DuckDBPyConnection, contract: Contract, sha_prefix: str | None, who: str) -> list[Held]:
    """Release the dataset's held deliveries (those whose SHA-256 starts with `sha_prefix`,
    or all): they stand from the next refresh. Returns what was released."""
    chosen = [h for h in held_now(con, contract) if sha_prefix is None or h.sha256.startswith(sha_prefix)]
    con.execute(
        "UPDATE held_deliveries SET released_at = now()::TIMESTAMP, released_by = ? "
        "WHERE released_at IS NULL AND list_contains(?, sha256)",
        [who, [h.sha256 for h in chosen]],
    )
    return chosen
