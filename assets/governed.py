"""Governed: what may enter the shared intelligence store, generalised, with no identifier."""

import datetime as dt

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from assets.keys import KNOWN_NAMES_KEY, REFERENCE_KEY, catalogue, dataset_key
from assets.resources import DuckDBStore, HubResource
from governance import audit
from governance.agreements import load_register
from sihub.core import change_tracking as changes
from sihub.core.contracts import Contract, load_contracts
from sihub.core.db import attached
from sihub.core.stages import Stage
from sihub.privacy.keys import load_key
from sihub.privacy.text_guard import known_names, save_known_names
from sihub.sharing.scorecard import refresh_scorecard
from sihub.sharing.split import IdentifiersInText, build_shared_table, share_run_logs, shared_columns


def build_known_names(validated_keys: list[AssetKey]) -> AssetsDefinition:
    @asset(
        **catalogue(KNOWN_NAMES_KEY, {"duckdb"}),
        deps=validated_keys,
        description="The forename and surname pairs and partner references the personal zone holds, saved "
        "there once per run after every dataset is validated, for the text guard of each governed split "
        "and the leak guard (they stay in the personal zone; only their counts are shown).",
    )
    def known_names_saved(context: AssetExecutionContext, personal_store: DuckDBStore) -> MaterializeResult:
        with personal_store.connect() as con:
            counts = save_known_names(con, load_contracts(), context.run.run_id)
        return MaterializeResult(metadata={f"{kind} values": n for kind, n in counts.items()})

    return known_names_saved


def build_governed(contract: Contract) -> AssetsDefinition:
    @asset(
        **catalogue(dataset_key(Stage.GOVERNED, contract), {"duckdb"}, contract),
        deps=[dataset_key(Stage.VALIDATED, contract), REFERENCE_KEY, KNOWN_NAMES_KEY],
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
        with shared_store.connect() as con, attached(con, personal_store.file, "personal", read_only=True):
            inputs = changes.dataset_inputs(con, "personal", contract.partner, contract.dataset)
            ctx = changes.context(hub.paths.home, __name__, key.key_id, today)
            # the names the text guard looks for are every dataset's: a new one counts too
            names = known_names(con, "personal", load_contracts(), context.run.run_id)
            known = changes.content(con, names) if names else ""
            # the reference tables it joins are loaded by another asset: its code counts too
            fingerprint = changes.digest([ctx, changes.code_digest("assets.reference"), opt_out, known, *inputs])
            share_run_logs(con, contract, "personal")  # this run's outcomes, for the run summary
            stage = f"{Stage.GOVERNED}/{contract.key}"
            with changes.skip_if_unchanged(con, stage, fingerprint, context.run.run_id) as built_by:
                if built_by:
                    return MaterializeResult(metadata={"unchanged since run": built_by})
                try:
                    shared = build_shared_table(con, contract, "personal", key, names, honour_opt_out=opt_out)
                except IdentifiersInText as blocked:  # the table stays as it was; judged again next run
                    context.log.warning(f"{contract.key}: not shared this run: {blocked}")
                    return MaterializeResult(metadata={"blocked": str(blocked)})
                months = refresh_scorecard(con, contract, "personal")
        for finding in shared.findings:
            context.log.warning(f"{contract.key}: identifier replaced by a marker before sharing: {finding}")
        audit.record(
            hub.paths.home,
            "disclosure",
            "nightly refresh: governed split",
            f"{contract.key}: pseudonymised, generalised rows",
            shared.rows,
            recipient="shared intelligence store",
        )
        scrubbed = {f"{f.column}: {f.kind}": f.count for f in shared.findings}
        return MaterializeResult(
            metadata={"rows": shared.rows, "dq_months": months, "key_id": key.key_id, "identifiers scrubbed": scrubbed}
        )

    return _governed
