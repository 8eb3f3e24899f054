"""Governed: what may enter the shared intelligence store, generalised, with no identifier."""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    asset,
    asset_check,
)

from assets.metrics import METRICS_KEY
from governance import audit
from governance.agreements import load_register
from governance.keys import load_key
from governance.leak_guard import known_name_pairs, scan_changed
from hub import change_tracking as changes
from hub.contracts import Contract, load_contracts
from hub.db import literal
from hub.governed import build_shared_table, load_reference, share_run_logs, shared_columns
from hub.quality import refresh_scorecard
from pipelines.resources import DuckDBStore, HubResource

REFERENCE_KEY = ["governed", "reference"]


@asset(
    key=REFERENCE_KEY,
    group_name="governed",
    description="Reference tables in the shared store: geography, population denominators, postcode districts.",
)
def reference(hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
    with shared_store.connect() as con:
        counts = load_reference(con, hub.paths.home)
    counts["agreements"] = audit.load_agreements(hub.paths.home, load_register())
    return MaterializeResult(metadata=counts)


def build_governed(contract: Contract) -> AssetsDefinition:
    @asset(
        key=["governed", contract.partner, contract.dataset],
        group_name="governed",
        deps=[["validated", contract.partner, contract.dataset], REFERENCE_KEY],
        description=f"{contract.title} in the shared store: {', '.join(shared_columns(contract))}, "
        "with age and age band at the event, district, locality and month; no identifiers.",
    )
    def _governed(
        context: AssetExecutionContext, hub: HubResource, personal_store: DuckDBStore, shared_store: DuckDBStore
    ) -> MaterializeResult:
        key = load_key(hub.paths.home)  # read here, never passed through Dagster config
        today = dt.date.today()
        agreement, _ = load_register().covering(contract.partner, contract.dataset, today)
        opt_out = bool(agreement and agreement.national_data_opt_out)
        stage = f"governed/{contract.key}"
        with shared_store.connect() as con:
            con.execute(f"ATTACH {literal(personal_store.path)} AS personal (READ_ONLY)")
            try:
                inputs = changes.dataset_inputs(con, "personal", contract.partner, contract.dataset)
                fingerprint = changes.digest([changes.context(hub.paths.home, today), opt_out, *inputs])
                share_run_logs(con, contract, "personal")  # this run's outcomes, for the run summary
                if built_by := changes.unchanged(con, stage, fingerprint):
                    return MaterializeResult(metadata={"unchanged since run": built_by})
                changes.forget(con, stage)
                rows = build_shared_table(con, contract, "personal", key, honour_opt_out=opt_out)
                months = refresh_scorecard(con, contract, "personal")
                changes.remember(con, stage, fingerprint, context.run.run_id)
            finally:
                con.execute("DETACH personal")
        audit.record(
            hub.paths.home,
            "disclosure",
            "nightly refresh: governed split",
            f"{contract.key}: pseudonymised, generalised rows",
            rows,
            recipient="shared intelligence store",
        )
        return MaterializeResult(metadata={"rows": rows, "dq_months": months, "key_id": key.key_id})

    return _governed


@asset_check(
    asset=METRICS_KEY,
    blocking=True,
    description="Leak guard: no identifier in the shared store, by column name or by value (valid NHS "
    "numbers, UPNs, full postcodes, forename and surname pairs known in the personal zone). "
    "A finding blocks publication and names the table and column, never the value.",
)
def leak_guard(personal_store: DuckDBStore, shared_store: DuckDBStore) -> AssetCheckResult:
    contracts = load_contracts()
    with shared_store.connect() as con:
        con.execute(f"ATTACH {literal(personal_store.path)} AS personal (READ_ONLY)")
        try:
            names = known_name_pairs(con, "personal", contracts)
            findings, scanned = scan_changed(con, "shared", contracts, names)
        finally:
            con.execute("DETACH personal")
    return AssetCheckResult(
        passed=not findings,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "findings": len(findings),
            "where": "; ".join(map(str, findings[:20])) or "none",
            "tables scanned (the rest unchanged since a clean scan)": scanned,
        },
    )
