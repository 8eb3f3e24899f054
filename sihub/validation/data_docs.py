"""Great Expectations: the contract's rules as a GX expectation suite, the SQL validation's
counts reported as GX validation results, Data Docs pages rendered by GX, and the contract's
raw GX expectations run by GX itself.

Why this split: GX's SQL data source cannot drive DuckDB 2 (duckdb_engine fails on every
metric) and its pandas data source needs whole datasets in memory and took 19 s per
expectation on 2M rows when asked for failing row indexes (bench/validation_engines.py), so
row rules run as one SQL pass in DuckDB and GX describes and reports them. Results carry
counts only: no value from any column reaches a page.
"""

from __future__ import annotations

import functools
import html
import itertools
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from sihub.core.atomic_files import write_text_atomically
from sihub.core.contracts import Contract, RawExpectation
from sihub.validation.checks import CheckOutcome
from sihub.validation.conform import broken
from sihub.validation.rules import Rule, dataset_rules, row_rules

# rule kinds GX states with its own expectation classes (runnable by its engines); the others
# are stated as UnexpectedRowsExpectation with the SQL that finds them and the rule's own
# words. Identifier checks are among the others: a UPN with a wrong check letter matches any
# regex of a UPN's shape, and a page must say which check it failed.
STANDARD_KINDS = ("required", "allowed", "range", "pattern", "unique", "duplicate_row", "not_before",
                  "dob_not_after_event")  # fmt: skip


# what validating imports on first use: GX's import costs seconds, paid once per process and
# only when validation runs; the multiprocess executor's fork server imports these once for
# all its step processes (`pipelines.definitions.executor`)
GX_MODULES = ("great_expectations", "great_expectations.render.renderer", "great_expectations.render.view")


@functools.cache
def _gx():
    """GX itself (see GX_MODULES)."""
    import great_expectations as gx

    return gx


@functools.cache
def _context():
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = _gx().get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # the CLI shows its own progress
    return context


def expectation(contract: Contract, rule: Rule):
    """The GX expectation that states a row rule (its meta carries the rule id and severity)."""
    e = _gx().expectations
    meta = {"rule_id": rule.id, "severity": rule.severity, "rule": rule.description}
    col, p = rule.column, rule.params
    match rule.kind:
        case "required":
            return e.ExpectColumnValuesToNotBeNull(column=col, meta=meta)
        case "allowed":
            return e.ExpectColumnValuesToBeInSet(column=col, value_set=list(p["values"]), meta=meta)
        case "range":
            return e.ExpectColumnValuesToBeBetween(column=col, min_value=p["min"], max_value=p["max"], meta=meta)
        case "pattern":
            return e.ExpectColumnValuesToMatchRegex(column=col, regex=p["pattern"], meta=meta)
        case "unique" if len(p["columns"]) == 1:
            return e.ExpectColumnValuesToBeUnique(column=col, meta=meta)
        case "unique":
            return e.ExpectCompoundColumnsToBeUnique(column_list=list(p["columns"]), meta=meta)
        case "duplicate_row":
            return e.ExpectCompoundColumnsToBeUnique(column_list=list(contract.columns), meta=meta)
        case "not_before":
            return e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=col, column_B=p["other"], or_equal=True, meta=meta
            )
        case "dob_not_after_event":
            return e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=p["event"], column_B=col, or_equal=True, meta=meta
            )
    # type, identifier, unreadable, Excel error and age rules are stated as the SQL that finds them
    query = "SELECT * FROM {batch} WHERE " + (
        broken(rule) if rule.kind != "unreadable_row" else "_unreadable IS NOT NULL"
    )
    return e.UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=f"{col or 'row'}: {rule.description}", meta=meta
    )


def suite(contract: Contract):
    gx = _gx()
    return gx.ExpectationSuite(
        name=contract.table, expectations=[expectation(contract, r) for r in row_rules(contract)]
    )


def _raw_expectation(raw: RawExpectation):
    gx = _gx()
    name = "".join(part.title() for part in raw.type.split("_"))
    cls = getattr(gx.expectations, name, None)
    if cls is None:
        raise ValueError(f"Great Expectations has no expectation {raw.type!r}")
    return cls(**raw.kwargs)


def expectation_errors(contract: Contract) -> list[str]:
    """What Great Expectations would refuse in each of the contract's raw expectations (an
    unknown type, or arguments it rejects), one line each naming the expectation: found by
    `sihub contracts check` rather than on the first night with rows."""
    errors = []
    for i, raw in enumerate(contract.expectations):
        try:
            _raw_expectation(raw)
        except ValueError as err:  # GX's arguments are pydantic models: ValidationError is a ValueError
            found = getattr(err, "errors", None)
            reasons = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in found()] if found else [str(err)]
            errors += [f"expectations[{i}] ({raw.type}): {reason}" for reason in reasons]
    return errors


def _is_row_wise(expectation) -> bool:
    """A map expectation judges each row (or value) alone: its counts add up across batches."""
    e = _gx().expectations.expectation
    return isinstance(expectation, e.ColumnMapExpectation | e.ColumnPairMapExpectation | e.MulticolumnMapExpectation)


def run_raw_expectations(contract: Contract, batches: Iterable[pd.DataFrame]) -> list[CheckOutcome]:
    """Run the contract's raw GX expectations with GX's own engine on the delivery's new rows
    (only the columns they name), with a result format that keeps no values.

    The rows come in batches, so memory does not grow with the delivery: when every
    expectation is row-wise, each batch is validated alone, the counts summed and success
    judged on the totals as GX judges it (`mostly` of the rows with values); otherwise the
    batches are joined and validated at once. With no new rows there is nothing to judge:
    each expectation passes over none, and GX (seconds to import) is not loaded for it."""
    if not contract.expectations:
        return []
    rules = [r for r in dataset_rules(contract) if r.name.startswith("gx_")]
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return [
            CheckOutcome(rule.name, True, raw.severity, rule.description, {"unexpected_count": 0, "rows": 0})
            for rule, raw in zip(rules, contract.expectations, strict=True)
        ]
    batches = itertools.chain([first], batches)
    expectations = [_raw_expectation(raw) for raw in contract.expectations]
    row_wise = all(map(_is_row_wise, expectations))
    frames = batches if row_wise else [pd.concat(list(batches), ignore_index=True)]
    source = _context().data_sources.add_or_update_pandas(f"sihub_{contract.table}")
    asset = source.add_dataframe_asset(f"rows_{os.getpid()}_{id(expectations)}")
    definition = asset.add_batch_definition_whole_dataframe("new_rows")
    counts = [dict.fromkeys(("element_count", "missing_count", "unexpected_count"), 0) for _ in expectations]
    successes = [True] * len(expectations)
    for frame in frames:
        batch = definition.get_batch(batch_parameters={"dataframe": frame})
        for i, e in enumerate(expectations):
            result = batch.validate(e, result_format="BASIC")  # only its counts are kept
            successes[i] = bool(result.success)
            for k in counts[i]:
                counts[i][k] += int(result.result.get(k, 0) or 0)
    out = []
    for rule, raw, e, n, success in zip(rules, contract.expectations, expectations, counts, successes, strict=True):
        if row_wise:
            with_values = n["element_count"] - n["missing_count"]
            success = not with_values or (with_values - n["unexpected_count"]) / with_values >= (e.mostly or 1.0)
        metadata = {"unexpected_count": n["unexpected_count"], "rows": n["element_count"]}
        out.append(CheckOutcome(rule.name, success, raw.severity, rule.description, metadata))
    return out


def validation_result(contract: Contract, rows_in: int, failures: dict[str, int], run_id: str):
    """The SQL validation's counts as a GX suite validation result (counts only, no values)."""
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

    results = []
    for rule in row_rules(contract):
        n = failures.get(rule.id, 0)
        results.append(
            ExpectationValidationResult(
                success=n == 0,
                expectation_config=expectation(contract, rule).configuration,
                result={
                    "element_count": rows_in,
                    "unexpected_count": n,
                    "unexpected_percent": 100 * n / rows_in if rows_in else 0.0,
                    "partial_unexpected_list": [],
                },
            )
        )
    passed = sum(r.success for r in results)
    return ExpectationSuiteValidationResult(
        success=passed == len(results),
        results=results,
        suite_name=contract.table,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100 * passed / len(results) if results else 100.0,
        },
        meta={"run_id": run_id, "partner": contract.partner, "dataset": contract.dataset},
    )


def write_page(result, folder: Path, contract: Contract) -> Path:
    """Render a Data Docs page with GX's renderer; written whole, then renamed into place."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    folder.mkdir(parents=True, exist_ok=True)
    rendered = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))
    page = write_text_atomically(folder / f"{contract.table}.html", _offline(rendered))
    _write_index(folder)
    return page


# the look the pages need, in the page: they are read where the council's network may not
# reach a public CDN, and a page must not tell a CDN that someone is reading it
BASE_STYLE = """
body { font-family: Arial, Helvetica, sans-serif; margin: 1.5em; color: #212529; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f1f3f5; }
.badge { padding: 0.1em 0.4em; border-radius: 0.2em; background: #e9ecef; }
.text-danger { color: #b02a37; } .text-success { color: #146c43; }
.d-none, .modal, nav .dropdown-menu { display: none; }
"""


def _offline(page: str) -> str:
    """The page with every stylesheet and script from the internet removed and the styles it
    needs written in: it renders offline, styled, and fetches nothing."""
    from importlib.resources import files

    page = re.sub(r'<link[^>]+href="https?://[^"]*"[^>]*>', "", page)
    page = re.sub(r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>', "", page)
    page = re.sub(r'<(img|iframe)[^>]+src="https?://[^"]*"[^>]*>', "", page)  # GX's logo and tracking image
    gx_style = (files("great_expectations") / "render/view/static/styles/data_docs_default_styles.css").read_text()
    return page.replace("</head>", f"<style>{BASE_STYLE}{gx_style}</style></head>", 1)


def _write_index(folder: Path) -> None:
    links = "".join(
        f'<li><a href="{html.escape(p.name)}">{html.escape(p.stem.replace("__", " / "))}</a></li>'
        for p in sorted(folder.glob("*.html"))
        if p.name != "index.html"
    )
    write_text_atomically(
        folder / "index.html",
        f"<!doctype html><title>Data quality {html.escape(folder.name)}</title>"
        f"<h1>Data quality, run {html.escape(folder.name)}</h1><ul>{links}</ul>",
    )
