"""The command line as an analyst meets it: exit codes and one-line errors."""

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
