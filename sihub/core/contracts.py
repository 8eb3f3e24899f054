"""Data contracts: one YAML file per partner dataset says how to read it, how to type it and
what each column is in information-governance terms. Adding a dataset is adding a file.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sihub.core.db import literal, quote
from sihub.core.paths import project

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
HEADER_SEARCH_ROWS = 30  # `header_row: auto` looks this far down for the header
ROW_RULE_KINDS = (
    "unreadable_row",
    "duplicate_row",
    "excel_error",
    "type",
    "required",
    "allowed",
    "range",
    "pattern",
    "nhs_number",
    "upn",
    "postcode",
    "unique",
    "not_before",
    "dob_not_after_event",
    "age_range",
    "overlap",
    "future_event",
)
DeliveryMode = Literal["append", "upsert", "replace"]


class Classification(StrEnum):
    direct_identifier = "direct_identifier"
    quasi_identifier = "quasi_identifier"
    sensitive = "sensitive"
    non_personal = "non_personal"


class IdentifierKind(StrEnum):
    nhs_number = "nhs_number"
    upn = "upn"
    forename = "forename"
    surname = "surname"
    date_of_birth = "date_of_birth"
    postcode = "postcode"
    address = "address"
    person_ref = "person_ref"
    pnc_id = "pnc_id"
    sex = "sex"
    free_text = "free_text"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """How the partner delivers the file."""

    format: Literal["csv", "xlsx", "xml"]
    encoding: str = Field("utf-8", description="csv: the encoding; a byte-order mark overrides it")
    delimiter: str = ","
    header_row: int | Literal["auto"] = Field(
        1,
        description="Line or sheet row of the header, as an analyst counts; `auto`: the first of the first "
        f"{HEADER_SEARCH_ROWS} rows holding the most of the contract's column names (every required one)",
    )
    sheet: str | int = Field(
        0,
        description="xlsx: the sheet by number among visible sheets from 0, or by name: exactly, else ignoring "
        "case, spaces and punctuation, else the one sheet whose name begins with it (`List 1` finds "
        "`List 1 - Contacts`, never `List 10`)",
    )
    file_pattern: str = Field("*", description="which files of the folder are this dataset's (ignoring case)")
    folder: str | None = Field(
        None,
        description="the landing folder under the partner's, when one file feeds several datasets (a workbook's "
        "sheets, an XML return's record types): every contract naming it reads each file there. Default: the "
        "dataset's name",
    )
    record: str | None = Field(
        None, description="xml: the path of the record element under the root, e.g. Children/Child/CINdetails"
    )

    @field_validator("header_row")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("header_row counts from 1 (or is auto)")
        return value

    @model_validator(mode="after")
    def _fits_format(self) -> Source:
        if self.folder is not None and not NAME.match(self.folder):
            raise ValueError(f"folder {self.folder!r} must be lower snake_case")
        if (self.format == "xml") != (self.record is not None):
            raise ValueError("record (the path of the record element) is needed for xml, and only for xml")
        return self


Severity = Literal["error", "warn"]


class Column(Strict):
    """One column: where it comes from, its type and rules, and what it is under IG."""

    source: str
    aliases: tuple[str, ...] = ()
    type: Literal["string", "integer", "decimal", "date", "timestamp", "boolean"] = "string"
    required: bool = False
    allowed: tuple[str | int, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    formats: tuple[str, ...] | None = None
    recode: dict[str | int, str | int] = Field(
        default_factory=dict,
        description="value as sent -> value loaded, applied before validation (matched trimmed, ignoring case; "
        "what was recoded is counted per delivery in the personal zone's `recodings`)",
    )
    severity: dict[str, Severity] = Field(default_factory=dict, description="Rule kind -> severity override")
    classification: Classification
    identifier: IdentifierKind | None = None
    generalise: Literal["month"] | None = None
    share_scrubbed: bool = Field(False, description="free text only: share it after the PII scrubber has run")
    description: str = ""

    @model_validator(mode="after")
    def _identifier_matches_classification(self) -> Column:
        is_identifier = self.classification in (
            Classification.direct_identifier,
            Classification.quasi_identifier,
        )
        if self.identifier and not is_identifier:
            raise ValueError("an identifier kind needs classification direct_identifier or quasi_identifier")
        if self.classification == Classification.direct_identifier and not self.identifier:
            raise ValueError("a direct_identifier column must say which identifier it is (identifier: ...)")
        if self.formats and self.type not in ("date", "timestamp"):
            raise ValueError("formats apply to date and timestamp columns only")
        if self.share_scrubbed and self.identifier != IdentifierKind.free_text:
            raise ValueError("share_scrubbed applies to free_text columns only")
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "decimal"):
            raise ValueError("min and max apply to integer and decimal columns only")
        sent = [str(k).strip().lower() for k in self.recode]
        if len(set(sent)) != len(sent):
            raise ValueError("recode lists a value twice (values are matched ignoring case and spaces)")
        if self.allowed is not None:
            outside = sorted({str(v) for v in self.recode.values()} - {str(a) for a in self.allowed} - {""})
            if outside:
                raise ValueError(f"recode gives value(s) not in allowed: {', '.join(outside)}")
        return self

    def recodings(self) -> dict[str, str]:
        """The recode map as text: trimmed, lower-cased value sent -> value loaded."""
        return {str(k).strip().lower(): str(v) for k, v in self.recode.items()}


class CrossRule(Strict):
    """A rule across columns: `not_before` means column must not be earlier than other."""

    type: Literal["not_before"]
    column: str
    other: str
    severity: Severity = "error"


class DatasetChecks(Strict):
    """Rules over a whole delivery (Dagster asset checks; a delivery failing an `error` one is held)."""

    max_quarantine_share: float = Field(0.10, ge=0, le=1)
    quarantine_severity: Severity = "error"
    # a share of a handful of rows means little: one bad row of four is 25%
    min_rows_for_share: int = Field(20, ge=1)
    row_count_ratio: tuple[float, float] = (0.5, 2.0)
    freshness_days: int = 400
    # an identifier inside a shared text column: replaced by a marker, or the dataset not shared
    embedded_identifiers: Literal["scrub", "block"] = "scrub"


class Delivery(Strict):
    """How often the partner is expected to deliver: a dataset with no delivery for one period
    plus the grace days is overdue and raises an alert."""

    every: Literal["day", "week", "month", "quarter", "term", "year"]
    grace_days: int = Field(7, ge=0)


class Retention(Strict):
    """When a record's retention period starts: at the date in `closed_by` (an end date, a
    closure, the latest activity); a record with that date blank is open and never purged.
    Without it, a record's age counts from the event date (or its delivery)."""

    closed_by: str


class EventTerm(Strict):
    """For a dataset with no event date but an academic year and a term (termly attendance):
    the month each term's records count in, its last month, so that the scorecard, coverage and
    the metrics put them in the term they describe, not the month they were delivered. A month
    from September on falls in the calendar year the academic year starts; January to August,
    in the year after."""

    year: str = Field(description="column holding the academic year, as 2024-25 or 2024/25 (its first four digits)")
    term: str = Field(description="column holding the term")
    months: dict[str, int] = Field(description="each term's value -> the month of the year it ends (1-12)")

    @field_validator("months")
    @classmethod
    def _months(cls, months: dict[str, int]) -> dict[str, int]:
        if not months or any(not 1 <= m <= 12 for m in months.values()):
            raise ValueError("event_term.months must give each term a month from 1 to 12")
        return months

    def month_sql(self, prefix: str) -> str:
        """SQL for a row's month: the first of the month its term ends."""
        cases = " ".join(f"WHEN {literal(t)} THEN {m}" for t, m in self.months.items())
        month = f"CASE {prefix}{quote(self.term)} {cases} END"
        start = f"TRY_CAST(left({prefix}{quote(self.year)}, 4) AS INTEGER)"
        return f"make_date({start} + CAST({month} <= 8 AS INTEGER), {month}, 1)"


class RawExpectation(Strict):
    """Any Great Expectations expectation the shorthand does not cover, run by GX itself."""

    type: str = Field(pattern=r"^expect_[a-z_]+$")
    kwargs: dict = Field(default_factory=dict)
    severity: Severity = "warn"

    def columns(self) -> list[str]:
        """The contract columns it reads: the values of its `column...` arguments (`column`,
        `column_A`, `column_B`, or a `column_list`)."""
        named = [v for k, v in self.kwargs.items() if k.startswith("column")]
        return [str(c) for v in named for c in (v if isinstance(v, list) else [v])]


class Contract(Strict):
    """A partner dataset's contract."""

    partner: str
    dataset: str
    title: str
    description: str = ""
    owner: str = ""
    source: Source
    event_date: str | None = None
    event_term: EventTerm | None = None
    date_formats: tuple[str, ...] = ("%d/%m/%Y",)
    timestamp_formats: tuple[str, ...] = ("%d/%m/%Y %H:%M",)
    columns: dict[str, Column]
    unique_key: tuple[str, ...] = ()
    duplicate_rows: Literal["error", "warn", "allow"] = "error"
    age_range: tuple[int, int] | None = None
    opt_out_column: str | None = Field(None, description="boolean column flagging the NHS national data opt-out")
    rules: tuple[CrossRule, ...] = ()
    checks: DatasetChecks = DatasetChecks()
    delivery: Delivery | None = None
    delivery_mode: DeliveryMode | None = Field(
        None,
        description="how a delivery relates to what is held: append (new records only: a key already held is "
        "an overlap, quarantined), upsert (a record re-sent under its unique key replaces the one held; the "
        "newest delivery wins), replace (a delivery replaces every record held for the months its event dates "
        "cover). Default: upsert with a unique key, else append.",
    )
    retention: Retention | None = None
    expectations: tuple[RawExpectation, ...] = ()
    feeds: str | None = Field(
        None,
        description="`partner/dataset` whose metrics this dataset feeds when that one has no rows (a statutory "
        "return standing in for a bespoke extract): its columns carry the same names",
    )

    @field_validator("feeds")
    @classmethod
    def _feeds_a_dataset(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z][a-z0-9_]*/[a-z][a-z0-9_]*", value):
            raise ValueError(f"feeds {value!r} must name a dataset as partner/dataset")
        return value

    @field_validator("partner", "dataset")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"{value!r} must be lower snake_case")
        return value

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: dict[str, Column]) -> dict[str, Column]:
        for name in columns:
            if not NAME.match(name):
                raise ValueError(f"column name {name!r} must be lower snake_case")
        sources = [c.source.casefold() for c in columns.values()]
        if len(set(sources)) != len(sources):
            raise ValueError("two columns read the same source header")
        return columns

    @model_validator(mode="after")
    def _names_exist(self) -> Contract:
        named = [*self.unique_key, *(c for r in self.rules for c in (r.column, r.other))]
        named += [self.opt_out_column] if self.opt_out_column else []
        named += [c for e in self.expectations for c in e.columns()]
        unknown = sorted({n for n in named if n not in self.columns})
        if unknown:
            raise ValueError(f"key, rules or expectations name unknown column(s): {', '.join(unknown)}")
        for name, column in self.columns.items():
            bad = sorted(set(column.severity) - set(ROW_RULE_KINDS))
            if bad:
                raise ValueError(f"column {name}: unknown rule kind(s) in severity: {', '.join(bad)}")
        return self

    @model_validator(mode="after")
    def _event_date_is_a_date(self) -> Contract:
        if self.event_date is None:
            return self
        column = self.columns.get(self.event_date)
        if column is None or column.type not in ("date", "timestamp"):
            raise ValueError(f"event_date {self.event_date!r} must name a date or timestamp column")
        return self

    @model_validator(mode="after")
    def _event_term_names_its_columns(self) -> Contract:
        term = self.event_term
        if term is None:
            return self
        if self.event_date:
            raise ValueError("give event_date or event_term, not both")
        missing = [c for c in (term.year, term.term) if c not in self.columns]
        if missing:
            raise ValueError(f"event_term names unknown column(s): {', '.join(missing)}")
        allowed = self.columns[term.term].allowed or ()
        unmapped = sorted(set(map(str, allowed)) - set(term.months))
        if unmapped:
            raise ValueError(f"event_term.months gives no month for term(s): {', '.join(unmapped)}")
        return self

    @model_validator(mode="after")
    def _mode_has_what_it_needs(self) -> Contract:
        if self.delivery_mode == "upsert" and not self.unique_key:
            raise ValueError("delivery_mode upsert needs a unique_key")
        if self.delivery_mode == "replace" and not self.event_date:
            raise ValueError("delivery_mode replace needs an event_date (the months a delivery covers)")
        if self.retention:
            column = self.columns.get(self.retention.closed_by)
            if column is None or column.type not in ("date", "timestamp"):
                raise ValueError(
                    f"retention.closed_by {self.retention.closed_by!r} must name a date or timestamp column"
                )
        return self

    @property
    def mode(self) -> DeliveryMode:
        """The delivery mode, stated or by default."""
        return self.delivery_mode or ("upsert" if self.unique_key else "append")

    @property
    def key(self) -> str:
        """`partner/dataset`, as in asset keys and the run summary."""
        return f"{self.partner}/{self.dataset}"

    @property
    def table(self) -> str:
        """Table name in the stores: `partner__dataset`."""
        return f"{self.partner}__{self.dataset}"

    @property
    def file(self) -> Path:
        """Its YAML among the project's contracts (where `load_contract` requires it to sit)."""
        return project().contracts / self.partner / f"{self.dataset}.yaml"

    def formats_for(self, column: Column) -> tuple[str, ...]:
        if column.formats:
            return column.formats
        return self.date_formats if column.type == "date" else self.timestamp_formats

    def event_month_sql(self, prefix: str = "") -> str | None:
        """SQL for the month a row's event falls in (its columns read as `prefix` + name): from
        the event date, or the term; None where the dataset has neither (its rows then count in
        the month they were delivered)."""
        if self.event_date:
            return f"CAST(date_trunc('month', {prefix}{quote(self.event_date)}) AS DATE)"
        return self.event_term.month_sql(prefix) if self.event_term else None

    def identifier_column(self, kind: IdentifierKind) -> str | None:
        return next((name for name, c in self.columns.items() if c.identifier == kind), None)


class ContractError(Exception):
    """A contract file that cannot be used; the message names the file and the field."""


def _describe(path: Path, err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        out.append(f"{path}: {where}: {e['msg']}")
    return out


def _where(err: yaml.YAMLError) -> str:
    """`at line L, column C` of a YAML error (the parser counts from 0), when it knows."""
    mark = getattr(err, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _what(err: yaml.YAMLError) -> str:
    """What the parser found wrong and what it was reading, in one line."""
    problem, context, begun = (getattr(err, k, None) for k in ("problem", "context", "context_mark"))
    if context and begun:
        context += f" begun at line {begun.line + 1}, column {begun.column + 1}"
    return "; ".join(p for p in (problem, context) if p) or str(err).splitlines()[0]


# libyaml's safe loader where PyYAML was built with it: a tenth of the pure-Python parser's time,
# which every refresh step that reads the contracts paid (some 13 s of a county refresh)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_contract(path: Path) -> Contract:
    """The contract in `path`, or a ContractError naming the file and field. Parsed once per
    process for each content of the file: the steps of a refresh each read every contract
    (some 3 s of a quiet night), and a file edited between reads is read afresh."""
    return _parsed_contract(path, path.read_text(encoding="utf-8"))


@lru_cache(maxsize=512)
def _parsed_contract(path: Path, text: str) -> Contract:
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise ContractError(f"{path}: not valid YAML{_where(err)}: {_what(err)}") from err
    if not isinstance(data, dict):
        raise ContractError(f"{path}: (top level): expected a mapping of contract fields")
    try:
        contract = Contract.model_validate(data)
    except ValidationError as err:
        raise ContractError("\n".join(_describe(path, err))) from err
    expected = (contract.partner, contract.dataset)
    if (path.parent.name, path.stem) != expected:
        raise ContractError(f"{path}: partner/dataset: file must be data_contracts/{expected[0]}/{expected[1]}.yaml")
    return contract


def check_contracts(folder: Path | None = None) -> tuple[list[Contract], list[str]]:
    """Every contract under `folder`, and every error found (file and field named)."""
    contracts, errors = [], []
    for path in sorted((folder or project().contracts).glob("*/*.yaml")):
        try:
            contracts.append(load_contract(path))
        except ContractError as err:
            errors.extend(str(err).splitlines())
    return contracts, errors


def feeds(contracts: list[Contract]) -> dict[str, list[str]]:
    """Table -> the tables of the contracts that feed its metrics (`feeds`), in contract order."""
    out: dict[str, list[str]] = {}
    for c in contracts:
        if c.feeds:
            out.setdefault(c.feeds.replace("/", "__"), []).append(c.table)
    return out


def load_contracts(folder: Path | None = None) -> list[Contract]:
    """All contracts, or a ContractError listing every problem."""
    contracts, errors = check_contracts(folder)
    if errors:
        raise ContractError("\n".join(errors))
    return contracts
