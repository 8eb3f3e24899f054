"""Validating a dataset's new deliveries: each archived file not yet read is read under its
contract, staged, and checked against the row rules in batches; then the dataset rules and
the contract's raw Great Expectations expectations are judged, and a Data Docs page written.

Plain arguments and results: the Dagster asset only reports what comes back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sihub.core.contracts import Contract
from sihub.core.db import quote
from sihub.intake import archive
from sihub.intake.readers import FileRejected, RawFile, load_raw
from sihub.privacy.keys import PseudonymKey
from sihub.validation import data_docs
from sihub.validation.checks import (
    CheckOutcome,
    FileOutcome,
    evaluate,
    over_share,
    record_checks,
    rule_failures,
    worst_rules,
)
from sihub.validation.conform import Conformed, conform_files, ensure_tables, stage
from sihub.validation.holds import forget_holds, hold, released

# Rows staged per checking statement: many small files share one statement (its planning costs
# as much as checking thousands of rows), while a run of big files never holds more than this.
BATCH_ROWS = 250_000
GX_BATCH_ROWS = 1_000_000  # new rows handed to GX's pandas engine at a time


@dataclass(frozen=True)
class Validated:
    """What one run's validation of a dataset found."""

    files: list[FileOutcome]
    checks: list[CheckOutcome]
    page: Path | None  # the Data Docs page, when there were files to read
    held: dict[str, str]  # deliveries held by this run: sha256 -> reason

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)


def _validate_files(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    pending: list[tuple[str, str, str, Path]],
    run_id: str,
    key: PseudonymKey | None,
) -> list[FileOutcome]:
    """Read each pending file (one that cannot be read is rejected there and then), stage it,
    and check the staged files in batches; a batch's rows and outcomes commit together."""
    outcomes: dict[str, FileOutcome] = {}
    batch: list[tuple[str, str, RawFile]] = []
    staged_rows = 0

    def check_batch() -> None:
        con.execute("BEGIN")
        results = conform_files(con, contract, "_staged", run_id, key)
        for sha, name, raw in batch:  # name: the safe label, never the file's own name
            r = results.get(sha, Conformed(0, 0, 0))
            counts = (r.rows_in, r.rows_loaded, r.rows_quarantined)
            archive.record_outcome(con, sha, run_id, "loaded", counts, None, (raw.missing, raw.unexpected))
            outcomes[sha] = FileOutcome(
                name, sha, "loaded", r.rows_in, r.rows_loaded, r.rows_quarantined, r.rows_warned,
                raw.missing, raw.unexpected, r.failures, rows_erased=r.rows_erased,
            )  # fmt: skip
        con.execute("COMMIT")
        con.execute("DROP TABLE _staged")
        batch.clear()

    for sha, file_name, name, stored in pending:
        # read outside any transaction: row numbers come from the staged table's rowid
        try:
            raw = load_raw(con, contract, stored, "_raw")
        except FileRejected as err:
            archive.record_outcome(con, sha, run_id, "rejected", (0, 0, 0), str(err))
            outcomes[sha] = FileOutcome(name, sha, "rejected", error=str(err))
            continue
        stage(con, "_staged", "_raw", len(batch), sha, file_name)  # the file's name stays in the personal zone
        batch.append((sha, name, raw))
        staged_rows += raw.rows
        if staged_rows >= BATCH_ROWS:
            check_batch()
            staged_rows = 0
    if batch:
        check_batch()
    return [outcomes[sha] for sha, *_ in pending]


def _raw_expectations(con: duckdb.DuckDBPyConnection, contract: Contract, new: list[str]) -> list[CheckOutcome]:
    """The contract's own GX expectations over the rows of this run's files, streamed."""
    if not contract.expectations:
        return []
    columns = sorted({c for e in contract.expectations for c in e.columns()})
    new_rows = con.sql(  # a relation streams in batches; an executed query would be copied whole
        f"SELECT {', '.join(map(quote, columns)) or '1'} FROM {quote(contract.table)} "
        "WHERE list_contains($new, _source_sha256)",
        params={"new": new},
    ).to_arrow_reader(GX_BATCH_ROWS)
    return data_docs.run_raw_expectations(contract, (b.to_pandas() for b in new_rows))


def _to_hold(contract: Contract, files: list[FileOutcome], gx_checks: list[CheckOutcome]) -> dict[str, str]:
    """The deliveries this run's checks hold, with why: each one quarantining more than the
    contract allows (when that rule's severity is `error`), and every one of them when a Great
    Expectations expectation of `error` severity fails over their rows."""
    loaded = [f for f in files if f.status == "loaded"]
    held = {}
    if contract.checks.quarantine_severity == "error":
        limit = contract.checks.max_quarantine_share
        for f in loaded:
            if over_share(contract, f):
                worst = ", ".join(f"{rule} {n}" for rule, n in worst_rules([f], top=3).items())
                held[f.sha256] = (
                    f"quarantine_share: {f.rows_quarantined} of {f.rows_in} rows quarantined "
                    f"({f.rows_quarantined / f.rows_in:.0%}, more than {limit:.0%}); most broken: {worst}"
                )
    failed = [c.name for c in gx_checks if not c.passed and c.severity == "error"]
    if failed:
        for f in loaded:
            held.setdefault(f.sha256, f"Great Expectations check(s) failed over the delivery: {', '.join(failed)}")
    return held


def validate(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    run_id: str,
    data_quality: Path,
    raw: Path,
    retention_cutoff: dt.date | None = None,
    key: PseudonymKey | None = None,
) -> Validated:
    """Validate the dataset's pending deliveries (personal-zone connection), holding those a
    dataset check of `error` severity fails; a run with files to read writes its Data Docs
    page under `data_quality/<run_id>/`. Files are read from `raw`, this home's archive (not
    where the manifest says they were first written). `key`, the pseudonymisation key, lets the erasure
    register keep erased people out (required once it holds any)."""
    ensure_tables(con, contract)
    pending = archive.pending(con, contract, raw)
    forget_holds(con, [sha for sha, *_ in pending])  # read again, judged afresh
    files = _validate_files(con, contract, pending, run_id, key)
    gx_checks = _raw_expectations(con, contract, [f.sha256 for f in files if f.status == "loaded"])
    let_in = released(con, contract)
    held = {sha: why for sha, why in _to_hold(contract, files, gx_checks).items() if sha not in let_in}
    hold(con, contract, held, run_id)
    checks = evaluate(con, contract, files, run_id, gx_checks, retention_cutoff)
    record_checks(con, contract, run_id, checks)
    if not files:  # a night with nothing new adds no page
        return Validated(files, checks, None, held)
    result = data_docs.validation_result(contract, sum(f.rows_in for f in files), rule_failures(files), run_id)
    return Validated(files, checks, data_docs.write_page(result, data_quality / run_id, contract), held)
