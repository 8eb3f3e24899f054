"""Linked: one pseudonymous child key across agencies, and the multi-agency view of each child."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, asset

from governance import audit
from governance.keys import load_key
from hub import change_tracking as changes
from hub.contracts import load_contracts
from hub.db import literal
from hub.linkage import link
from hub.views import build_views, load_views
from pipelines.resources import DuckDBStore, HubResource

CHILD_INDEX_KEY = ["linked", "child_index"]
LINKED_STAGE = "linked"


def build_linked(governed_keys: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=CHILD_INDEX_KEY,
        group_name="linked",
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
        shared = Path(shared_store.path)
        ctx = changes.context(hub.paths.home)
        fingerprint = changes.upstream(shared, ctx, "governed/")
        if built_by := changes.begin(shared, LINKED_STAGE, fingerprint):
            return MaterializeResult(metadata={"unchanged since run": built_by})
        with personal_store.connect() as con:
            con.execute(f"ATTACH {literal(shared_store.path)} AS shared")
            try:
                outcome = link(con, load_contracts(), key, "shared", hub.paths.home)
            finally:
                con.execute("DETACH shared")
        with shared_store.connect() as con:
            views = build_views(con, load_views())
        changes.finish(shared, LINKED_STAGE, fingerprint, context.run.run_id)
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
                **{f"rule: {rule}": n for rule, n in outcome.rules.items()},
                **{f"view: {name}": str(rows) for name, rows in views.items()},
            }
        )

    return child_index
