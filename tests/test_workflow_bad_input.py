"""Bad inputs stop the run before any job (what headers show) or only their own sample (with --keep-going),
with errors that name the file (more bad files: test_hostile_files.py)."""

import numpy as np
import pytest
import tifffile

from workflow_helpers import run_snakemake, write_project

pytestmark = pytest.mark.slow


def _movie(path, n_channels, frames=3, size=64):
    yy, xx = np.mgrid[:size, :size]
    frame = np.zeros((n_channels, size, size), np.uint16)
    for cy, cx in [(16, 16), (40, 44)]:
        frame[:, (yy - cy) ** 2 + (xx - cx) ** 2 < 36] = 800
    tifffile.imwrite(path, np.stack([frame + 100] * frames), ome=True, metadata={"axes": "TCYX"})


def test_bad_movies_stop_the_run_before_any_job_listing_each(tmp_path):
    """What a movie's header shows (unreadable, truncated, wrong channel count) is found at planning."""
    (tmp_path / "data").mkdir()
    _movie(tmp_path / "data" / "good movie é.ome.tif", 5)
    _movie(tmp_path / "data" / "two_channels.ome.tif", 2)
    (tmp_path / "data" / "notes.tif").write_text("this is not an image")
    whole = (tmp_path / "data" / "good movie é.ome.tif").read_bytes()
    (tmp_path / "data" / "truncated.ome.tif").write_bytes(whole[:len(whole) // 2])
    rows = [{"sample": "good", "path": "data/good movie é.ome.tif"},
            {"sample": "wrongchannels", "path": "data/two_channels.ome.tif"},
            {"sample": "notatiff", "path": "data/notes.tif"},
            {"sample": "truncated", "path": "data/truncated.ome.tif"}]
    image = {"axes": None, "pixel_size_um": 0.65, "time_step_h": 0.5, "z_step_um": None}
    project = write_project(tmp_path, rows, config_updates={"demo": {}, "image": image})
    result = run_snakemake(project, "--keep-going")
    assert result.returncode != 0
    err = result.stderr
    assert "3 problem(s) in 3 sample(s)" in err
    assert "sample notatiff (data/notes.tif): data/notes.tif" in err
    assert "sample wrongchannels (data/two_channels.ome.tif): data/two_channels.ome.tif: expected 5 channels" in err
    assert "sample truncated (data/truncated.ome.tif): data/truncated.ome.tif" in err
    assert "sample good (" not in err
    assert not (project / "results").exists() and not (project / "logs").exists()


def test_missing_path_stops_before_any_job(tmp_path):
    project = write_project(tmp_path, [{"sample": "a", "path": "data/nope.tif"}], config_updates={"demo": {}})
    result = run_snakemake(project)
    assert result.returncode != 0
    assert "line 2 (sample 'a'): path 'data/nope.tif' does not exist" in result.stderr
    assert not (project / "results").exists()


def test_config_error_stops_before_any_job(tmp_path):
    project = write_project(tmp_path, [], config_updates={"demo": {}, "tracking": {"max_distance": 5}})
    result = run_snakemake(project)
    assert result.returncode != 0
    assert "unknown key(s) 'max_distance' at tracking" in result.stderr
