"""Shared fixtures: the repository root and the real data folder (../shared/data)."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public microscopy with ground truth; the tests that use it fail if it is absent."""
    assert SHARED_DATA.is_dir(), f"real data expected at {SHARED_DATA} (see DEVELOPERS.md)"
    return SHARED_DATA
