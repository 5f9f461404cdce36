"""Bad inputs stop only their own sample (with --keep-going), with errors that name the file."""

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


def test_bad_samples_fail_alone_and_are_summarised(tmp_path):
    (tmp_path / "data").mkdir()
    _movie(tmp_path / "data" / "good movie é.ome.tif", 5)
    _movie(tmp_path / "data" / "two_channels.ome.tif", 2)
    (tmp_path / "data" / "notes.tif").write_text("this is not an image")
    rows = [{"sample": "good", "path": "data/good movie é.ome.tif"},
            {"sample": "wrongchannels", "path": "data/two_channels.ome.tif"},
            {"sample": "notatiff", "path": "data/notes.tif"}]
    image = {"axes": None, "pixel_size_um": 0.65, "time_step_h": 0.5, "z_step_um": None}
    project = write_project(tmp_path, rows, config_updates={"demo": {}, "image": image})
    result = run_snakemake(project, "--keep-going")
    assert result.returncode != 0
    assert (project / "results" / "good" / "counts.csv").is_file()
    assert (project / "results" / "good" / "provenance.json").is_file()
    err = result.stderr
    assert "2 step(s) failed" in err
    assert "sample notatiff, step ingest" in err and "notes.tif" in err
    assert "sample wrongchannels, step ingest" in err and "two_channels.ome.tif" in err
    assert "logs/ingest/wrongchannels.log" in err


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
