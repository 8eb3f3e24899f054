"""Raw archive: each new landing file copied once per dataset reading it, with a manifest."""

import datetime as dt

from dagster import AssetExecutionContext, AssetObservation, AssetsDefinition, MaterializeResult, asset

from assets.keys import catalogue, dataset_key
from assets.resources import DuckDBStore, HubResource
from governance import audit
from governance.agreements import expiring, load_register
from sihub.core.contracts import Contract
from sihub.core.stages import Stage
from sihub.intake import archive
from sihub.intake.delivery_cadence import alert_if_overdue


def build_raw(contract: Contract) -> AssetsDefinition:
    @asset(
        **catalogue(dataset_key(Stage.RAW, contract), {"duckdb"}, contract),
        deps=[dataset_key(Stage.LANDING, contract)],
        description=f"{contract.title}: every delivered file archived once for the dataset, with its SHA-256; "
        "an identical re-delivery for the dataset is recorded as a duplicate and skipped.",
    )
    def _raw(context: AssetExecutionContext, hub: HubResource, personal_store: DuckDBStore) -> MaterializeResult:
        paths = hub.paths
        today = dt.date.today()
        register = load_register()
        agreement, reason = register.covering(contract.partner, contract.dataset, today)
        if agreement is None:
            context.log.warning(f"{contract.key}: deliveries held in landing: {reason}")
        elif agreement in expiring(register, today):
            context.log.warning(
                f"{contract.key}: data-sharing agreement {agreement.id} expires on {agreement.valid_to}"
            )
        audit.ready(paths.home)  # no file is archived that its collection entry could fail to record
        with personal_store.connect() as con:
            seen = archive.archive(con, contract, paths.landing, paths.raw, context.run.run_id, reason or None)
            late = alert_if_overdue(con, contract, paths.operations, context.run.run_id, today)
        if late:
            context.log.warning(f"{contract.key}: delivery overdue: {late.reason}")
        in_landing = archive.landing_files(paths.landing, contract)
        last = max((f.lstat().st_mtime for f in in_landing), default=None)
        context.log_event(
            AssetObservation(
                asset_key=dataset_key(Stage.LANDING, contract),
                metadata={
                    "files_in_landing": len(in_landing),
                    "files_waiting (held: no live agreement)": sum(s.status == "held" for s in seen),
                    "last_arrival": dt.datetime.fromtimestamp(last, dt.UTC).isoformat(timespec="seconds")
                    if last
                    else "none",
                    "delivery": f"overdue: {late.reason}" if late else "on time",
                },
            )
        )
        new = [s for s in seen if s.status == "archived"]
        if new:
            audit.record(
                paths.home,
                "collection",
                f"nightly refresh under {agreement.id}",
                f"{contract.key}: files archived from landing",
                len(new),
            )
        return MaterializeResult(
            metadata={
                "agreement": agreement.id if agreement else f"none: {reason}",
                "delivery": f"overdue: {late.reason}" if late else "on time",
                "files_new": len(new),
                "files_held": sum(s.status == "held" for s in seen),
                "files_duplicate": sum(s.status == "duplicate" for s in seen),
                "bytes_new": sum(s.size_bytes for s in new),
                "sha256": ", ".join(s.sha256[:12] for s in new[:20]),
            }
        )

    return _raw
