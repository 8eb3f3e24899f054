"""Linked: one pseudonymous child key across agencies, and the multi-agency view of each child."""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from assets.keys import CHILD_INDEX_KEY, catalogue
from assets.resources import DuckDBStore, HubResource
from governance import audit
from sihub.core import change_tracking as changes
from sihub.core.contracts import load_contracts
from sihub.core.db import attached
from sihub.core.stages import Stage
from sihub.linkage.link import link
from sihub.linkage.views import build_views, load_views
from sihub.privacy.keys import load_key


def build_linked(governed_keys: list[AssetKey]) -> AssetsDefinition:
    @asset(
        **catalogue(CHILD_INDEX_KEY, {"duckdb"}),
        deps=governed_keys,
        description="Links each child across agencies inside the personal zone (NHS number, UPN, partner "
        "reference, then names and date of birth, allowing nicknames, typos and swapped day and month); "
        "shares only person key -> child key with the rule and a confidence (`child_link`), and builds "
        "the multi-agency view `child_month`.",
    )
    def child_index(
        context: AssetExecutionContext, hub: HubResource, personal_store: DuckDBStore, shared_store: DuckDBStore
    ) -> MaterializeResult:
        key = load_key(hub.paths.home)  # read here, never passed through Dagster config
        shared = shared_store.file
        ctx = changes.context(hub.paths.home, __name__, key.key_id)
        fingerprint = changes.upstream(shared, ctx, f"{Stage.GOVERNED}/")
        with changes.skip_if_unchanged(shared, Stage.LINKED, fingerprint, context.run.run_id) as built_by:
            if built_by:
                return MaterializeResult(metadata={"unchanged since run": built_by})
            with personal_store.connect() as con, attached(con, shared, "shared"):
                outcome = link(con, load_contracts(), key, "shared", hub.paths.home, basis=ctx)
            with shared_store.connect() as con:
                views = build_views(con, load_views())
        audit.record(
            hub.paths.home,
            "disclosure",
            "nightly refresh: cross-agency linkage",
            "child keys for person keys, with link rule and confidence",
            sum(outcome.rules.values()),
            recipient="shared intelligence store",
        )
        return MaterializeResult(
            metadata={
                "records": outcome.records,
                "children": outcome.children,
                "datasets re-read (the rest unchanged since linked)": len(outcome.tables_added),
                "identifiers relinked (the rest kept their links)": outcome.relinked,
                **{f"rule: {rule}": n for rule, n in outcome.rules.items()},
                **{f"view: {name}": str(rows) for name, rows in views.items()},
            }
        )

    return child_index
