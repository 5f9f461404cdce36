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
    assert SHARED_DATA.is_dir(), f"real data expected at {SHARED_DATA} (../shared/data next to the repository)"
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_demo_project(tmp_path_factory) -> Path:
    """A project folder where the whole workflow has run on a tiny synthetic organoid (read only)."""
    from workflow_helpers import run_snakemake, tiny_demo_row, write_project

    project = write_project(tmp_path_factory.mktemp("tiny_demo"), [tiny_demo_row()])
    result = run_snakemake(project)
    assert result.returncode == 0, result.stderr[-4000:]
    return project
