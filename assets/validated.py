"""Typed and validated: each archived file read under its contract and checked against its
rules in DuckDB (`sihub.validation.validate`); the dataset-level rules reported as Dagster
asset checks (blocking where severity is error), with a Great Expectations Data Docs page."""

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.keys import catalogue, dataset_key
from assets.resources import DuckDBStore, HubResource
from governance import audit
from governance.agreements import load_register
from governance.retention import cutoff_for
from sihub.core.alerts import RunAlert, raise_alert
from sihub.core.contracts import Contract
from sihub.core.stages import Stage
from sihub.privacy.keys import load_key
from sihub.validation.checks import worst_rules
from sihub.validation.current import dataset_state
from sihub.validation.rules import dataset_rules
from sihub.validation.validate import validate


def build_validated(contract: Contract) -> AssetsDefinition:
    key = dataset_key(Stage.VALIDATED, contract)
    rules = dataset_rules(contract)

    @asset(
        **catalogue(key, {"duckdb", "great_expectations"}, contract),
        deps=[dataset_key(Stage.RAW, contract)],
        description=f"{contract.title}: typed rows in the personal zone; rows breaking a contract rule "
        "quarantined with rule and source row (rows in = loaded + quarantined).",
        # not blocking: a delivery that fails an `error` check is held out of everything that
        # stands, so the rest of the partnership's data goes on to publication
        check_specs=[AssetCheckSpec(r.name, asset=key, description=r.description) for r in rules],
    )
    def _validated(context: AssetExecutionContext, hub: HubResource, personal_store: DuckDBStore) -> MaterializeResult:
        cutoff = cutoff_for(load_register(), contract, dt.date.today())
        with personal_store.connect() as con:
            done = validate(
                con,
                contract,
                context.run.run_id,
                hub.paths.operations / "data_quality",
                hub.paths.raw,
                cutoff,
                load_key(hub.paths.home),
            )
            now = dataset_state(con, contract)
        files = done.files
        for f in files:
            if f.status == "rejected":
                context.log.warning(f"{contract.key}: {f.name} rejected: {f.error}")
        for sha, reason in done.held.items():
            context.log.warning(f"{contract.key}: delivery {sha[:12]} held: {reason}")
            alert = RunAlert(
                context.run.run_id,
                f"{key.to_user_string()} delivery {sha[:12]}",
                contract.partner,
                reason,
                f"Dagster run {context.run.run_id}; release with `sihub release {contract.key} --sha {sha[:12]}`",
                kind="delivery_held",
            )
            raise_alert(hub.paths.operations, alert, name=f"held-{contract.partner}-{contract.dataset}-{sha[:12]}")
        if files:
            audit.record(
                hub.paths.home,
                "alteration",
                "nightly refresh: typing and validation",
                f"{contract.key}: rows typed into the personal zone or quarantined",
                done.rows_in,
            )
        page = MetadataValue.url(done.page.as_uri()) if done.page else MetadataValue.text("none: no new files")
        checks = [
            AssetCheckResult(
                check_name=o.name,
                passed=o.passed,
                severity=AssetCheckSeverity.ERROR if o.severity == "error" else AssetCheckSeverity.WARN,
                description=o.description,
                metadata={**{k: _plain(v) for k, v in o.metadata.items()}, "data_docs": page},
            )
            for o in done.checks
        ]
        totals = {
            # the dataset as it stands, whatever this run brought
            "rows_standing": now.rows_standing,
            "deliveries": now.deliveries,
            "deliveries_held": now.held,
            "coverage": f"{now.first_month} to {now.last_month}" if now.first_month else "no dated rows",
        }
        if files:  # this run's deliveries: a quiet night adds no zeros to the plots
            totals |= {
                "files_loaded": sum(f.status == "loaded" for f in files),
                "files_rejected": sum(f.status == "rejected" for f in files),
                "rows_in": done.rows_in,
                "rows_loaded": sum(f.rows_loaded for f in files),
                "rows_quarantined": sum(f.rows_quarantined for f in files),
                "rows_erased": sum(f.rows_erased for f in files),
                "rows_with_warnings": sum(f.rows_warned for f in files),
                "worst_rules": _plain(worst_rules(files)),
                "sha256": ", ".join(f.sha256[:12] for f in files[:20]),
                "deliveries_held_by_this_run": len(done.held),
            }
        totals["data_docs"] = page
        return MaterializeResult(metadata=totals, check_results=checks)

    return _validated


def _plain(value):
    """Dagster metadata values: dicts and lists as text, numbers and strings as they are."""
    return value if isinstance(value, int | float | str) else str(value)
