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


TINY_SPHEROID = {"ndim": 3, "seed": 13, "n_frames": 12, "size": [64, 64], "z_slices": 12, "n_founders": 10,
                 "cycle_time_h": 4.0, "seg_every_frames": 3}


@pytest.fixture(scope="session")
def tiny_spheroid_project(tmp_path_factory) -> Path:
    """A project folder where the whole workflow has run on a tiny 3D organoid, sample `spheroid`
    (12 frames of 12 x 64 x 64 voxels, z step 4x the pixel size; read only)."""
    from workflow_helpers import run_snakemake, write_project

    row = {"sample": "spheroid", "path": "resources/demo/spheroid/movie.ome.tif", "condition": "control",
           "ground_truth": "resources/demo/spheroid/GT"}
    project = write_project(tmp_path_factory.mktemp("tiny_spheroid"), [row],
                            config_updates={"demo": {"spheroid": TINY_SPHEROID}})
    result = run_snakemake(project)
    assert result.returncode == 0, result.stderr[-4000:]
    return project
