"""Raw archive: each new landing file copied once, content-addressed, with a manifest."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from hub import archive
from hub.contracts import Contract
from pipelines.resources import DuckDBStore, HubResource


def build_raw(contract: Contract) -> AssetsDefinition:
    @asset(
        key=["raw", contract.partner, contract.dataset],
        group_name="raw",
        deps=[["landing", contract.partner, contract.dataset]],
        description=f"{contract.title}: every delivered file archived once by SHA-256; "
        "an identical re-delivery is recorded as a duplicate and skipped.",
    )
    def _raw(context: AssetExecutionContext, hub: HubResource, personal_store: DuckDBStore) -> MaterializeResult:
        paths = hub.paths
        with personal_store.connect() as con:
            seen = archive.archive(con, contract, paths.landing, paths.raw, context.run.run_id)
        new = [s for s in seen if s.status == "archived"]
        return MaterializeResult(
            metadata={
                "files_new": len(new),
                "files_duplicate": len(seen) - len(new),
                "bytes_new": sum(s.size_bytes for s in new),
                "sha256": ", ".join(s.sha256[:12] for s in new[:20]),
            }
        )

    return _raw
