"""The command line as an analyst meets it: exit codes and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

SIHUB = str(Path(sys.executable).parent / "sihub")


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIHUB_HOME": str(home), "COLUMNS": "120"}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run([SIHUB, *args], capture_output=True, text=True, env=env, check=False, timeout=300)


def test_refresh_with_empty_landing_publishes_empty_outputs(tmp_path: Path) -> None:
    result = run(tmp_path, "refresh")
    assert result.returncode == 0, result.stderr
    assert "No new deliveries" in result.stderr
    assert (tmp_path / "published" / "metrics.duckdb").exists()
    assert (tmp_path / "published" / "run_summary.json").exists()


def test_reports_an_earlier_version_left_in_published_move_to_the_data_team(tmp_path: Path) -> None:
    """Data Docs and alerts (exact row counts) were written into published/ before: an upgraded
    home's refresh moves them out of the tier's folder, keeping them."""
    old_page = tmp_path / "published" / "data_quality" / "run-0" / "police__missing_episodes.html"
    old_alert = tmp_path / "published" / "alerts" / "held-police-missing_episodes-0.json"
    for path, text in ((old_page, "<p>1 of 4 rows quarantined</p>"), (old_alert, '{"reason": "1 of 4 rows"}')):
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
    assert run(tmp_path, "refresh").returncode == 0
    assert not (tmp_path / "published" / "data_quality").exists() and not (tmp_path / "published" / "alerts").exists()
    operations = tmp_path / "operations"
    assert (operations / "data_quality" / "run-0" / old_page.name).read_text(
        encoding="utf-8"
    ) == "<p>1 of 4 rows quarantined</p>"
    assert (operations / "alerts" / old_alert.name).exists()
    summary = json.loads((operations / "run_summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "success" and summary["datasets"] == []


def test_refresh_that_cannot_publish_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "warehouse").write_text("not a folder")
    result = run(tmp_path, "refresh")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not publish" in errors[0]
    assert not (tmp_path / "published" / "metrics.duckdb").exists()


def test_help_speaks_to_an_analyst() -> None:
    result = subprocess.run([SIHUB, "--help"], capture_output=True, text=True, check=True)
    for command in ("generate", "refresh", "demo", "contracts"):
        assert command in result.stdout


def test_sihub_quarantine_lists_rules_counts_and_places_never_values(tmp_path: Path) -> None:
    """A newcomer asks why rows were quarantined without querying the personal zone."""
    import duckdb

    from sihub.core.contracts import load_contracts
    from sihub.intake.readers import load_raw
    from sihub.validation.conform import conform

    contract = next(c for c in load_contracts() if c.key == "police/missing_episodes")
    header = ",".join(c.source for c in contract.columns.values())
    good = "MP1,NP1,Ann,Quayle,2012-01-02,Female,NR1 1AA,2024-03-01 10:00,,"
    rows = [
        good,
        good.replace("MP1", "MP2").replace("2012-01-02", "2012-02-31"),  # no such date
        good.replace("MP1", "MP3").replace("Female", "Girl"),  # not an allowed code
        good.replace("MP1", "MP4").replace("2012-01-02", "02/01/2012"),  # another date format
        good.replace("MP1", "MP5") + ",one field too many",
    ]
    path = tmp_path / "episodes.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    (tmp_path / "warehouse").mkdir()
    with duckdb.connect(str(tmp_path / "warehouse" / "personal.duckdb")) as con:
        load_raw(con, contract, path, "_raw")
        conform(con, contract, "_raw", "ab" * 32, path.name, "run")
    env = {**os.environ, "SIHUB_HOME": str(tmp_path), "COLUMNS": "200"}
    out = subprocess.run([SIHUB, "quarantine", "police/missing_episodes"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = out.stderr + out.stdout
    assert "type:date_of_birth" in text and "allowed:sex" in text and "unreadable_row" in text
    assert "row 2 (line 3)" in text and "row 4 (line 5)" in text and "row 5 (line 6)" in text
    counts = {
        cells[1]: cells[2] for line in text.splitlines() if len(cells := [c.strip() for c in line.split("│")]) > 4
    }
    assert (counts["type:date_of_birth"], counts["allowed:sex"], counts["unreadable_row"]) == ("2", "1", "1")
    for value in ("Quayle", "2012-02-31", "Girl", "02/01/2012", "NR1 1AA"):
        assert value not in text


def test_the_refresh_table_keeps_every_name_whole_in_80_columns() -> None:
    """County-scale counts and the longest names: nothing cut to `childrens_service…`."""
    from rich.console import Console

    from pipelines.cli import summary_table

    names = [
        ("childrens_services", "contacts"),
        ("childrens_services", "annex_a_list_11"),
        ("police", "domestic_abuse_incidents"),
        ("health", "safeguarding_referrals"),
    ]
    summary = {
        "datasets": [
            {"partner": p, "dataset": d, "files": [{"status": "loaded"}] * 60, "rows_in": 2_830_000,
             "rows_loaded": 2_817_655, "rows_quarantined": 12_345}
            for p, d in names
        ]
    }  # fmt: skip
    console = Console(width=80, record=True)
    console.print(summary_table(summary))
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    for partner, dataset in names:
        assert partner in text and f" {dataset} " in text
    assert "2,817,655" in text and "12,345" in text


def test_a_broken_contract_stops_the_refresh_with_one_line_and_an_alert(tmp_path: Path) -> None:
    """No traceback for a newcomer's YAML slip: one line naming the file and where, an alert,
    and `sihub contracts check` warns of an agreement naming a dataset with no contract."""
    import shutil

    import yaml

    repo = Path(__file__).resolve().parents[1]
    own = tmp_path / "project"
    for part in ("data_contracts", "sql", "reference", "governance"):
        shutil.copytree(repo / part, own / part, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copy(repo / "dagster.yaml", own / "dagster.yaml")
    broken = own / "data_contracts" / "police" / "missing_episodes.yaml"
    broken.write_text(broken.read_text().replace("columns:", "columns: {", 1))
    register = yaml.safe_load((own / "governance" / "agreements.yaml").read_text())
    register["agreements"][0]["datasets"].append("camhs_referals")
    (own / "governance" / "agreements.yaml").write_text(yaml.safe_dump(register))
    home = tmp_path / "home"
    env = {**os.environ, "SIHUB_HOME": str(home), "COLUMNS": "120", "SIHUB_PROJECT": str(own)}
    env.pop("DAGSTER_HOME", None)
    result = subprocess.run([SIHUB, "refresh"], capture_output=True, text=True, env=env, check=False, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "missing_episodes.yaml" in error and "line" in error and "sihub contracts check" in error
    assert list((home / "operations" / "alerts").glob("*.json"))
    broken.write_text(broken.read_text().replace("columns: {", "columns:", 1))
    check = subprocess.run([SIHUB, "contracts", "check"], capture_output=True, text=True, env=env, check=False)
    assert check.returncode == 0
    assert "names childrens_services/camhs_referals, which has no contract" in check.stderr.replace("\n", " ")
