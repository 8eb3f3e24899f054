"""Shared fixtures: one `small` synthetic partnership per test session, and a pseudonymisation
key in the environment (as a deployment would set it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from pipelines.refresh import RefreshOutcome, run_refresh
from sihub.synthetic.generate import GenerationResult, generate

TEST_KEY = "test-only-pseudonymisation-key-0123456789abcdef"
os.environ.setdefault("SIHUB_PSEUDONYM_KEY", TEST_KEY)


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    """The synthetic extracts at `small` scale, seed 1, in a temporary SIHUB_HOME."""
    home: Path = tmp_path_factory.mktemp("sihub_home")
    return generate("small", seed=1, out=home / "landing")


@pytest.fixture(scope="session")
def home(small: GenerationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("refresh_home")
    shutil.copytree(small.out, home / "landing")
    shutil.copytree(small.out.parent / "reference", home / "reference")
    return home


@pytest.fixture(scope="session")
def instance() -> DagsterInstance:
    return DagsterInstance.ephemeral()


@pytest.fixture(scope="session")
def first_run(home: Path, instance: DagsterInstance) -> RefreshOutcome:
    outcome = run_refresh(home, instance=instance)
    assert outcome.success, outcome.reason
    return outcome


@pytest.fixture(scope="session")
def manifest(small: GenerationResult) -> pd.DataFrame:
    m = pd.read_csv(small.truth / "defects.csv", dtype=str, keep_default_na=False)
    return m.assign(row=m["row"].astype(int))
