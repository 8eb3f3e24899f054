"""Governed: what may enter the shared intelligence store, generalised, with no identifier."""

from dagster import AssetsDefinition, MaterializeResult, asset

from hub.contracts import Contract
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
    return MaterializeResult(metadata=counts)


def build_governed(contract: Contract) -> AssetsDefinition:
    @asset(
        key=["governed", contract.partner, contract.dataset],
        group_name="governed",
        deps=[["validated", contract.partner, contract.dataset], REFERENCE_KEY],
        description=f"{contract.title} in the shared store: {', '.join(shared_columns(contract))}, "
        "with age and age band at the event, district, locality and month; no identifiers.",
    )
    def _governed(personal_store: DuckDBStore, shared_store: DuckDBStore) -> MaterializeResult:
        with shared_store.connect() as con:
            con.execute(f"ATTACH {literal(personal_store.path)} AS personal (READ_ONLY)")
            try:
                rows = build_shared_table(con, contract, "personal")
                months = refresh_scorecard(con, contract, "personal")
                share_run_logs(con, contract, "personal")
            finally:
                con.execute("DETACH personal")
        return MaterializeResult(metadata={"rows": rows, "dq_months": months})

    return _governed
