"""Metrics: every SQL file of the catalogue by period and geography, disclosure-controlled,
with trends, rag and alerts; and the leak guard over the shared store before publication."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    asset,
    asset_check,
)

from assets.keys import CHILD_INDEX_KEY, METRICS_KEY, catalogue
from assets.resources import DuckDBStore, HubResource
from governance.agreements import in_use, load_register
from sihub.core import change_tracking as changes
from sihub.core.contracts import feeds, load_contracts
from sihub.core.db import attached, schema_first
from sihub.core.stages import Stage
from sihub.metrics.catalogue import compute, load_catalogue
from sihub.metrics.trends import analyse
from sihub.privacy.disclosure import protect
from sihub.privacy.keys import load_key
from sihub.privacy.leak_guard import scan_changed
from sihub.privacy.text_guard import known_names
from sihub.privacy.tiers import load_tiers
from sihub.publishing.held_back import record_leaks


@asset(
    **catalogue(METRICS_KEY, {"duckdb", "sql"}),
    deps=[CHILD_INDEX_KEY],
    description="Metric values by month, quarter and rolling 12 months for county, districts and "
    "localities (numerator, denominator, rate), after disclosure control (primary and complementary "
    "suppression), with process-control signals, rag and alerts.",
)
def metric_values(context: AssetExecutionContext, hub: HubResource, shared_store: DuckDBStore) -> MaterializeResult:
    tiers = load_tiers()
    shared = shared_store.file
    code = changes.code_digest(__name__)
    ctx = changes.context(hub.paths.home, __name__, load_key(hub.paths.home).key_id)
    fingerprint = changes.upstream(shared, ctx, Stage.LINKED)
    with changes.skip_if_unchanged(shared, Stage.METRICS, fingerprint, context.run.run_id) as built_by:
        if built_by:
            return MaterializeResult(metadata={"unchanged since run": built_by})
        with shared_store.connect() as con:
            outcome = compute(con, load_catalogue(), feeds(in_use(load_contracts(), load_register())[0]))
            tiered = {}
            home = tiers[0]
            # what relations and headline series a cell belongs to, beside the cells themselves
            frame = [changes.content(con, t) for t in ("metric_catalogue", "ref_geography", "ref_district")]
            for tier in tiers:  # each audience's cells protected under its own rule, in its own tables,
                seed = None if tier.home else home.schema  # from what the home tier hides up
                with schema_first(con, tier.schema):
                    digest = tier.basis(home, [code, *frame])
                    protection = protect(con, tier.policy, basis=digest, seed=seed)
                    tiered[tier.name] = (tier, protection, analyse(con))
    return MaterializeResult(
        metadata={
            **{f"metric: {k}": str(v) for k, v in outcome.items()},
            **{
                f"{name}: {label}": value
                for name, (tier, protection, trends) in tiered.items()
                for label, value in {
                    "disclosure policy": tier.policy.description,
                    "cells": protection.cells,
                    "suppressed (primary)": protection.primary,
                    "suppressed (complementary)": protection.secondary,
                    "metric-months unchanged (pattern kept, not re-audited)": protection.reused_months,
                    "metrics unchanged (whole pattern kept, headlines too)": protection.reused_metrics,
                    **trends,
                }.items()
            },
        }
    )


@asset_check(
    asset=METRICS_KEY,
    blocking=True,
    description="Leak guard: no identifier in the shared store, by column name or by value (valid NHS "
    "numbers, UPNs, full postcodes, forename and surname pairs known in the personal zone). A finding "
    "in a dataset's table holds back the metrics built on that dataset (they keep their last published "
    "values, marked stale); one in any other table blocks publication. Findings name the table and "
    "column, never the value.",
)
def leak_guard(
    context: AssetCheckExecutionContext, personal_store: DuckDBStore, shared_store: DuckDBStore
) -> AssetCheckResult:
    contracts = load_contracts()
    with shared_store.connect() as con, attached(con, personal_store.file, "personal", read_only=True):
        names = known_names(con, "personal", contracts, context.run.run_id)
        findings, scanned = scan_changed(con, "shared", contracts, names)
        unexplained = record_leaks(con, findings, contracts)
    return AssetCheckResult(
        passed=not findings,
        severity=AssetCheckSeverity.ERROR if unexplained else AssetCheckSeverity.WARN,
        metadata={
            "findings": len(findings),
            "blocking publication (in no dataset's table)": len(unexplained),
            "summary": f"{len(findings)} finding(s): " + "; ".join(map(str, findings[:5])) if findings else "",
            "where": "; ".join(map(str, findings[:20])) or "none",
            "tables scanned (the rest unchanged since a clean scan)": scanned,
        },
    )
