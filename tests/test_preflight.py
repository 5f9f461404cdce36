"""Planning-time checks of the movies' metadata (issue 23 item 8): problems stop the run before any job."""

import time

import numpy as np
import pandas as pd
import pytest
import tifffile

from marrowflow.errors import ConfigError
from marrowflow.workflow.config import load_config, validate_config
from marrowflow.workflow.preflight import check_samples, preflight_problems

from workflow_helpers import REPO_ROOT, run_snakemake, write_project

CHANNELS = "nuclei,CD34,CD235a,MPO,CD41"


def _config(**updates):
    config = load_config(REPO_ROOT / "config.yaml")
    config.update(updates)
    return validate_config(config)


def _movie(path, n_channels=5, frames=2, size=32, pixel_size=None):
    metadata = {"axes": "TCYX"}
    if pixel_size is not None:
        metadata.update(PhysicalSizeX=pixel_size, PhysicalSizeY=pixel_size)
    tifffile.imwrite(path, np.zeros((frames, n_channels, size, size), np.uint16), ome=True, metadata=metadata)
    return path


def _samples(**paths):
    return pd.DataFrame([{"sample": name, "path": str(path), "channels": CHANNELS} for name, path in paths.items()]
                        ).set_index("sample", drop=False)


def test_no_pixel_size_with_default_tracking_names_sample_file_and_fixes(tmp_path):
    movie = _movie(tmp_path / "nopix.ome.tif")
    with pytest.raises(ConfigError) as err:
        check_samples(_config(), _samples(nopix=movie))
    text = str(err.value)
    assert "sample nopix" in text and str(movie) in text
    assert "image.pixel_size_um" in text and "tracking.max_distance_px" in text
    assert "before any job" in text


def test_max_distance_px_or_pixel_size_is_fine(tmp_path):
    movie = _movie(tmp_path / "nopix.ome.tif")
    check_samples(_config(tracking={"max_distance_px": 8}), _samples(a=movie))
    check_samples(_config(image={"pixel_size_um": 0.5}), _samples(a=movie))
    check_samples(_config(), _samples(a=_movie(tmp_path / "pix.ome.tif", pixel_size=0.65)))


def test_every_problem_of_every_sample_is_listed(tmp_path):
    config = _config(segmentation={"channel": "nuclei", "classic": {"units": "um"}})
    two = _movie(tmp_path / "two.ome.tif", n_channels=2)
    (tmp_path / "notes.tif").write_text("not an image")
    samples = _samples(nopix=_movie(tmp_path / "nopix.ome.tif"), two=two, notatiff=tmp_path / "notes.tif",
                       fine=_movie(tmp_path / "fine.ome.tif", pixel_size=0.65))
    problems = preflight_problems(config, samples)
    by_sample = {s: [p.what for p in problems if p.sample == s] for s in samples.index}
    assert len(by_sample["nopix"]) == 2  # classic units um and tracking, both need the pixel size
    assert any("units is 'um'" in w for w in by_sample["nopix"]) and any("tracking" in w for w in by_sample["nopix"])
    assert len(by_sample["two"]) == 1 and "expected 5 channels" in by_sample["two"][0]
    assert len(by_sample["notatiff"]) == 1 and "notes.tif" in by_sample["notatiff"][0]
    assert by_sample["fine"] == []
    assert all(p.fix for p in problems)
    with pytest.raises(ConfigError, match="4 problem"):
        check_samples(config, samples)


def test_segmentation_channel_must_exist(tmp_path):
    movie = _movie(tmp_path / "m.ome.tif", n_channels=2, pixel_size=0.5)
    samples = pd.DataFrame([{"sample": "m", "path": str(movie), "channels": "CD34,MPO"}]).set_index("sample")
    problems = preflight_problems(_config(), samples)
    assert len(problems) == 1 and "'nuclei'" in problems[0].what and "segmentation.channel" in problems[0].fix


def test_generated_movies_are_skipped():
    samples = pd.DataFrame([{"sample": "d", "path": "resources/demo/d/movie.ome.tif", "channels": CHANNELS}]
                           ).set_index("sample")
    assert preflight_problems(_config(), samples, generated={"resources/demo/d/movie.ome.tif"}) == []


def test_headers_only_is_fast(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(100):
        tifffile.imwrite(folder / f"t{t:03d}.tif", np.zeros((5, 256, 256), np.uint16))
    config = _config(image={"axes": "CYX"})
    samples = _samples(frames=folder)
    start = time.perf_counter()
    assert [p.what for p in preflight_problems(config, samples)] == [
        p.what for p in preflight_problems(config, samples)]
    assert (time.perf_counter() - start) / 2 < 2.0


@pytest.mark.slow
def test_dry_run_stops_before_any_job(tmp_path):
    (tmp_path / "data").mkdir()
    _movie(tmp_path / "data" / "nopix.ome.tif")
    project = write_project(tmp_path, [{"sample": "nopix", "path": "data/nopix.ome.tif"}],
                            config_updates={"demo": {}})
    result = run_snakemake(project, "-n")
    assert result.returncode != 0
    assert "sample nopix (data/nopix.ome.tif)" in result.stderr
    assert "tracking.max_distance_px" in result.stderr
    assert "rule ingest" not in result.stdout + result.stderr  # nothing was planned
    assert not (project / "results").exists()
