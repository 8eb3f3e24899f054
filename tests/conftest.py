"""Shared fixtures: one `small` synthetic partnership per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetic.generate import GenerationResult, generate


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    """The synthetic extracts at `small` scale, seed 1, in a temporary SIHUB_HOME."""
    home: Path = tmp_path_factory.mktemp("sihub_home")
    return generate("small", seed=1, out=home / "landing")
