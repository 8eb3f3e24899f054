"""Data contracts: the repository's load, and broken ones are reported by file and field."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from governance.agreements import in_use, load_register
from sihub.core.contracts import Contract, ContractError, check_contracts, load_contract
from sihub.core.paths import project
from sihub.synthetic.catalogue import CATALOGUE

REPO = Path(__file__).resolve().parents[1]
SIHUB = str(Path(sys.executable).parent / "sihub")
GOOD = """
partner: police
dataset: sightings
title: Sightings
source: {format: csv}
event_date: seen_on
columns:
  ref: {source: Ref, required: true, classification: quasi_identifier}
  seen_on: {source: Seen On, type: date, classification: non_personal}
  nhs: {source: NHS, classification: direct_identifier, identifier: nhs_number}
"""


def write(folder: Path, text: str, name: str = "police/sightings.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_contracts_in_use_cover_every_synthetic_dataset() -> None:
    """The contracts an agreement names are the bespoke extracts' (the statutory returns'
    shipped contracts stay dormant until a council's register names them)."""
    everything, errors = check_contracts()
    assert errors == []
    contracts, dormant = in_use(everything, load_register())
    assert {c.key for c in contracts} == {f"{s.partner}/{s.dataset}" for s in CATALOGUE}
    assert {c.dataset.split("_")[0] for c in dormant} == {"cin", "ssda903", "annex", "pupils"}
    for contract in contracts:
        spec = next(s for s in CATALOGUE if (s.partner, s.dataset) == (contract.partner, contract.dataset))
        assert [c.source for c in contract.columns.values()] == [h for _, h in spec.columns]


def test_a_good_contract_loads(tmp_path: Path) -> None:
    contract = load_contract(write(tmp_path, GOOD))
    assert contract.table == "police__sightings"
    assert contract.identifier_column("nhs_number") == "nhs"


def test_a_contract_edited_between_reads_is_read_afresh_even_at_the_same_size_and_moment(tmp_path: Path) -> None:
    """Contracts are parsed once per process for speed; an edit (same length, written within
    the file system's timestamp tick, so its size and time may not change) must still show,
    and an edit that breaks it must still be refused."""
    path = write(tmp_path, GOOD)
    assert load_contract(path).columns["seen_on"].source == "Seen On"
    stat = path.stat()
    write(tmp_path, GOOD.replace("Seen On", "Seen At"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert load_contract(path).columns["seen_on"].source == "Seen At"
    write(tmp_path, GOOD.replace("type: date", "type: datetime"))
    with pytest.raises(ContractError, match=r"columns\.seen_on\.type"):
        load_contract(path)


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        (GOOD.replace(", classification: non_personal", ""), "columns.seen_on.classification"),
        (GOOD.replace(", identifier: nhs_number", ""), "columns.nhs"),
        (GOOD.replace("type: date", "type: datetime"), "columns.seen_on.type"),
        (GOOD.replace("event_date: seen_on", "event_date: ref"), "(top level)"),
        (GOOD.replace("format: csv", "format: pdf"), "source.format"),
        (GOOD.replace("title: Sightings\n", ""), "title"),
        (GOOD.replace("  ref:", "  Bad-Name:"), "columns"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, broken: str, field: str) -> None:
    path = write(tmp_path, broken)
    contracts, errors = check_contracts(tmp_path)
    assert contracts == []
    assert errors and all(e.startswith(f"{path}: ") for e in errors)
    assert any(f": {field}" in e for e in errors), errors


TERMLY = """
partner: education
dataset: sessions
title: Sessions
source: {format: csv}
event_term: {year: year, term: term, months: {Autumn: 12, Spring: 3, Summer: 7}}
columns:
  upn: {source: UPN, required: true, classification: direct_identifier, identifier: upn}
  year: {source: AcademicYear, classification: non_personal}
  term: {source: Term, allowed: [Autumn, Spring, Summer], classification: non_personal}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("Summer: 7", "Summer: 13"), "month from 1 to 12"),
        ((", Summer: 7}", "}"), "no month for term(s): Summer"),
        (("year: year,", "year: academic_year,"), "unknown column(s): academic_year"),
        (("columns:", "event_date: year\ncolumns:"), "event_date"),
    ],
)
def test_a_term_that_gives_no_month_is_refused_when_read(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    """A termly dataset's rows count in the month their term ends: a term with no month, or no
    such month, would put them nowhere (or in the month of delivery) without a word."""
    good = write(tmp_path, TERMLY, "education/sessions.yaml")
    assert load_contract(good).event_term is not None
    write(tmp_path, TERMLY.replace(*change), "education/sessions.yaml")
    _, errors = check_contracts(tmp_path)
    assert len(errors) == 1 and message in errors[0], errors


EXPECTING = (
    GOOD
    + """expectations:
  - type: TYPE
    kwargs: KWARGS
"""
)


def expecting(type_: str, kwargs: str) -> str:
    return EXPECTING.replace("TYPE", type_).replace("KWARGS", kwargs)


@pytest.mark.parametrize(
    "kwargs",
    ["{column: reff}", "{column_A: ref, column_B: seen_at}", "{column_list: [ref, seen_at]}"],
)
def test_an_expectation_naming_a_column_the_contract_lacks_is_refused(tmp_path: Path, kwargs: str) -> None:
    """Caught when the contract is read, not at night when the first rows reach the expectation."""
    path = write(tmp_path, expecting("expect_column_values_to_not_be_null", kwargs))
    _, errors = check_contracts(tmp_path)
    assert len(errors) == 1 and errors[0].startswith(f"{path}: ")
    assert "unknown column" in errors[0] and ("reff" in errors[0] or "seen_at" in errors[0])


def test_an_expectation_over_a_list_of_the_contracts_columns_loads(tmp_path: Path) -> None:
    path = write(tmp_path, expecting("expect_compound_columns_to_be_unique", "{column_list: [ref, nhs]}"))
    assert load_contract(path).expectations[0].columns() == ["ref", "nhs"]


@pytest.mark.parametrize(
    ("type_", "kwargs", "named"),
    [
        ("expect_column_values_to_not_be_nul", "{column: ref}", "no expectation"),  # misspelt
        ("expect_column_values_to_not_be_null", "{column: ref, mostly: 3}", "mostly"),  # out of range
        ("expect_column_values_to_not_be_null", "{column: ref, mosty: 0.9}", "mosty"),  # no such argument
        ("expect_column_pair_values_a_to_be_greater_than_b", "{column_A: seen_on}", "column_B"),  # one missing
    ],
)
def test_contracts_check_names_an_expectation_great_expectations_would_refuse(
    tmp_path: Path, type_: str, kwargs: str, named: str
) -> None:
    """`sihub contracts check` asks Great Expectations itself whether each raw expectation can
    be made; the error names the file, the expectation and what is wrong, and exits 1."""
    own = tmp_path / "project"
    for part in ("data_contracts", "sql", "reference", "governance"):
        shutil.copytree(REPO / part, own / part, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = write(own / "data_contracts", expecting(type_, kwargs))
    env = {**os.environ, "SIHUB_PROJECT": str(own), "COLUMNS": "200"}
    result = subprocess.run([SIHUB, "contracts", "check"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1, result.stderr
    errors = " ".join(result.stderr.split()).split("error: ")[1:]  # the terminal may wrap a line
    assert errors and all(e.startswith(f"{path}: expectations[0] ({type_}): ") for e in errors), errors
    assert any(named in e for e in errors)


def test_file_must_sit_at_partner_and_dataset(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "health/sightings.yaml")
    with pytest.raises(ContractError, match=r"partner/dataset: file must be data_contracts/police/sightings.yaml"):
        load_contract(path)


def test_invalid_yaml_is_one_clear_line_naming_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "partner: police\ndataset: sightings\ncolumns: {a: {source: A}\ntitle: Sightings\n")
    with pytest.raises(ContractError) as err:
        load_contract(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: not valid YAML at line 4, column 1: ")
    assert "begun at line 3, column 10" in message  # where the unclosed mapping opened


def test_cli_contracts_check_passes_on_the_repository() -> None:
    sihub = Path(sys.executable).parent / "sihub"
    result = subprocess.run([str(sihub), "contracts", "check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "38 data contracts are valid; 15 are named by a data-sharing agreement" in result.stderr
    assert "dormant" in result.stderr and "childrens_services/cin_cp_plans" in result.stderr


def test_every_repository_contract_reads_as_the_pure_python_parser_reads_it() -> None:
    """Contracts are parsed with libyaml where PyYAML has it (for speed): each must come out
    exactly as PyYAML's own safe loader reads it."""
    paths = sorted(project().contracts.glob("*/*.yaml"))
    assert paths
    for path in paths:
        plain = Contract.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))
        assert load_contract(path) == plain, path.name
