"""The package runs when installed: the wheel built from this checkout, installed into a fresh
virtual environment (at the locked versions), runs `sihub demo` from another directory, with
the contracts, SQL, reference data and registers it ships."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).parents[1]


def uv() -> list[str]:
    """The uv the Makefile uses: on PATH, else as a module of this Python."""
    if found := shutil.which("uv"):
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, check=False)
    if probe.returncode:
        pytest.fail("uv is needed to build and install the package (make env installs it)")
    return [sys.executable, "-m", "uv"]


def run(*args: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def test_installed_package_runs_the_demo_from_another_directory(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "SIHUB_PROJECT")}
    dist, venv, elsewhere, home = (tmp_path / d for d in ("dist", "venv", "elsewhere", "home"))
    elsewhere.mkdir()
    run(*uv(), "build", "--wheel", "--out-dir", dist, REPO, cwd=REPO, env=clean)
    (wheel,) = dist.glob("sihub-*.whl")
    pins = run(*uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", cwd=REPO, env=clean)
    (tmp_path / "locked.txt").write_text(pins.stdout)
    run(*uv(), "venv", "--python", sys.executable, venv, cwd=elsewhere, env=clean)
    python = venv / "bin" / "python"
    run(*uv(), "pip", "install", "--python", python, "-r", tmp_path / "locked.txt", wheel, cwd=elsewhere, env=clean)

    env = {**clean, "SIHUB_HOME": str(home)}
    env.pop("SIHUB_PSEUDONYM_KEY", None)  # the demo makes its own key, as for a newcomer
    env.pop("DAGSTER_HOME", None)
    result = run(venv / "bin" / "sihub", "demo", "--scale", "small", cwd=elsewhere, env=env)

    installed = run(python, "-c", "import sihub.core.paths as p; print(p.project_dir())", cwd=elsewhere, env=env)
    assert Path(installed.stdout.strip()).is_relative_to(venv), "the installed copy must not read the checkout"
    summary = json.loads((home / "operations" / "run_summary.json").read_text())
    assert summary["status"] == "success", result.stderr[-2000:]
    register = yaml.safe_load((REPO / "governance" / "agreements.yaml").read_text(encoding="utf-8"))
    agreed = {f"{a['partner']}/{d}" for a in register["agreements"] for d in a["datasets"]}
    contracts = {
        p.relative_to(REPO / "data_contracts").with_suffix("").as_posix() for p in REPO.glob("data_contracts/*/*.yaml")
    }
    # every dataset the register names has run; the shipped statutory returns stay dormant
    assert {f"{d['partner']}/{d['dataset']}" for d in summary["datasets"]} == agreed & contracts
    assert summary["outputs"]["fact_metric_value"] > 0
    assert not (elsewhere / "data").exists() and not list(elsewhere.iterdir())  # nothing written where it ran
