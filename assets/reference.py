"""Reference tables in the shared store, and the agreements register as audited."""

from dagster import MaterializeResult, asset

from assets.keys import REFERENCE_KEY, catalogue
from assets.resources import DuckDBStore, HubResource
from governance import audit
from governance.agreements import load_register
from sihub.core.reference import load_reference


@asset(
    **catalogue(REFERENCE_KEY, {"duckdb", "csv"}),
    description="Reference tables in the shared store: geography, population denominators, postcode districts, "
    "ethnic groups, and national comparators by metric (ref_comparator).",
)
def reference(hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
    with shared_store.connect() as con:
        counts = load_reference(con, hub.paths.home)
    counts["agreements"] = audit.load_agreements(hub.paths.home, load_register())
    return MaterializeResult(metadata=counts)
