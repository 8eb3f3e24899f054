"""The contract compiled into rules: the single list that the SQL validation, the Great
Expectations suite, the quarantine, the Data Docs and the Dagster asset checks all read.

Row rules decide each row's fate (`error`: quarantined; `warn`: kept and counted). Dataset
rules judge a whole delivery and become asset checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sihub.core.contracts import Classification, Contract, IdentifierKind
from sihub.intake.workbook_cells import EXCEL_ERRORS

# checks on identifier formats, by the identifier kind a contract gives a column
IDENTIFIER_RULES = {
    IdentifierKind.nhs_number: "nhs_number",
    IdentifierKind.upn: "upn",
    IdentifierKind.postcode: "postcode",
    IdentifierKind.pnc_id: "pnc",
}
DEFAULT_SEVERITY = {"postcode": "warn"}
SHAREABLE = (Classification.non_personal,)


@dataclass(frozen=True)
class Rule:
    kind: str
    column: str | None  # the column blamed (None: the whole row)
    severity: str
    description: str
    params: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.column}" if self.column else self.kind


@dataclass(frozen=True)
class DatasetRule:
    name: str  # the Dagster asset check name
    severity: str
    description: str


def _severity(contract: Contract, column: str | None, kind: str, default: str = "error") -> str:
    if column and kind in contract.columns[column].severity:
        return contract.columns[column].severity[kind]
    return DEFAULT_SEVERITY.get(kind, default)


IDENTIFIER_DESCRIPTIONS = {
    "nhs_number": "must be a valid NHS number (Modulus 11 check digit)",
    "upn": "must be a valid UPN (DfE check letter)",
    "postcode": "must be a well-formed UK postcode",
    "pnc": "must be a valid PNC ID (Modulus 23 check character)",
}


def _column_rules(contract: Contract, name: str) -> list[Rule]:
    c = contract.columns[name]
    wanted: list[tuple[str, str, dict]] = []
    if contract.source.format == "xlsx":  # a reader sees a blank where the workbook shows #N/A
        text = "must not be an Excel error value (#N/A, #DIV/0!, ...) or a formula saved without its result"
        wanted.append(("excel_error", text, {"values": EXCEL_ERRORS}))
    if c.type != "string":
        formats = contract.formats_for(c) if c.type in ("date", "timestamp") else ()
        wanted.append(("type", f"must be a {c.type}" + (f" ({', '.join(formats)})" if formats else ""), {}))
    if c.required:
        wanted.append(("required", "must not be blank", {}))
    if c.allowed is not None:
        values = tuple(map(str, c.allowed))
        wanted.append(("allowed", "must be one of: " + "; ".join(values), {"values": values}))
    if c.min is not None or c.max is not None:
        wanted.append(("range", f"must be between {c.min} and {c.max}", {"min": c.min, "max": c.max}))
    if c.pattern:
        wanted.append(("pattern", f"must match the pattern {c.pattern}", {"pattern": c.pattern}))
    if c.identifier in IDENTIFIER_RULES:
        kind = IDENTIFIER_RULES[c.identifier]
        wanted.append((kind, IDENTIFIER_DESCRIPTIONS[kind], {}))
    return [Rule(kind, name, _severity(contract, name, kind), text, params) for kind, text, params in wanted]


def row_rules(contract: Contract) -> list[Rule]:
    """Row rules in the order a row's first failure is reported."""
    rules = [Rule("unreadable_row", None, "error", "the line could not be read as a row of the file")]
    if contract.duplicate_rows != "allow":
        rules.append(Rule("duplicate_row", None, contract.duplicate_rows, "the row repeats an earlier row exactly"))
    for name in contract.columns:
        rules.extend(_column_rules(contract, name))
    if key := contract.unique_key:
        # blamed on the key's first column; `overlap`: across deliveries, for append-only datasets
        wanted = [("unique", "must be unique in the delivery")]
        if contract.mode == "append":
            wanted.append(("overlap", "already held from an earlier delivery (append-only dataset)"))
        rules += [
            Rule(kind, key[0], _severity(contract, key[0], kind), f"({', '.join(key)}) {text}", {"columns": key})
            for kind, text in wanted
        ]
    for r in contract.rules:
        rules.append(Rule(r.type, r.column, r.severity, f"must not be before {r.other}", {"other": r.other}))
    if contract.event_date:  # a date to come files a row into months no source covers yet
        rules.append(
            Rule(
                "future_event",
                contract.event_date,
                _severity(contract, contract.event_date, "future_event"),
                "must not be after the day the delivery is read",
            )
        )
    dob = contract.identifier_column(IdentifierKind.date_of_birth)
    if dob and contract.event_date:
        rules.append(
            Rule(
                "dob_not_after_event",
                dob,
                _severity(contract, dob, "dob_not_after_event"),
                f"date of birth must not be after {contract.event_date}",
                {"event": contract.event_date},
            )
        )
        if contract.age_range:
            lo, hi = contract.age_range
            rules.append(
                Rule(
                    "age_range",
                    dob,
                    _severity(contract, dob, "age_range"),
                    f"age at {contract.event_date} must be {lo} to {hi}",
                    {"event": contract.event_date, "min": lo, "max": hi},
                )
            )
    return rules


def dataset_rules(contract: Contract) -> list[DatasetRule]:
    checks = contract.checks
    lo, hi = checks.row_count_ratio
    rules = [
        DatasetRule(
            "quarantine_share",
            checks.quarantine_severity,
            f"at most {checks.max_quarantine_share:.0%} of a delivery's rows quarantined (deliveries of "
            f"{checks.min_rows_for_share} rows or more; an `error` failure holds the delivery)",
        ),
        DatasetRule("deliveries_held", "error", "no delivery of the dataset held out of the shared store"),
        DatasetRule(
            "past_retention_on_arrival",
            "warn",
            "at most half of a delivery's rows already past retention when it arrives (they are purged after "
            "publication)",
        ),
        DatasetRule("files_readable", "warn", "every delivered file readable under the contract"),
        DatasetRule("columns_as_contracted", "warn", "no missing or unexpected columns"),
        DatasetRule("row_count_change", "warn", f"each file has {lo:g} to {hi:g} times the rows of the previous one"),
    ]
    if contract.event_date:
        rules.append(
            DatasetRule(
                "freshness", "warn", f"latest {contract.event_date} within {checks.freshness_days} days of delivery"
            )
        )
    for i, e in enumerate(contract.expectations, start=1):
        rules.append(
            DatasetRule(
                f"gx_{i}_{e.type.removeprefix('expect_')}"[:60], e.severity, f"Great Expectations: {e.type} {e.kwargs}"
            )
        )
    return rules


def shareable(contract: Contract, column: str | None) -> bool:
    """Whether a column's values may be shown (in quarantine value fields, Data Docs)."""
    return column is not None and contract.columns[column].classification in SHAREABLE
