"""Shared fixtures: one `small` synthetic partnership per test session, and a pseudonymisation
key in the environment (as a deployment would set it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetic.generate import GenerationResult, generate

TEST_KEY = "test-only-pseudonymisation-key-0123456789abcdef"
os.environ.setdefault("SIHUB_PSEUDONYM_KEY", TEST_KEY)


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    """The synthetic extracts at `small` scale, seed 1, in a temporary SIHUB_HOME."""
    home: Path = tmp_path_factory.mktemp("sihub_home")
    return generate("small", seed=1, out=home / "landing")
