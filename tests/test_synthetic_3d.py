"""The 3D synthetic organoid (`ndim: 3`): CTC-valid truth, the movie's axes and voxel size, and a
small 3D sample end to end through the workflow with per-type counts against the truth."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from ctc_metrics.metrics import valid
from ctc_metrics.utils.filesystem import parse_masks, read_tracking_file

from marrowflow.errors import ConfigError
from marrowflow.io import open_movie
from marrowflow.synthetic import OrganoidParams, simulate_organoid, write_synthetic
from marrowflow.track.ctc import check_ctc

from workflow_helpers import REPO_ROOT, run_snakemake, write_project

# The shipped demo's 3D sample (config.yaml demo.spheroid, parameters chosen on seed 12; it runs
# seed 13): busy enough for divisions, exits and every type within 14 frames. The marker rise
# (0.5 h) is shorter than a frame, so few cells are caught between a gate's cutoff and the true
# switch at half level.
SPHEROID = yaml.safe_load((REPO_ROOT / "config.yaml").read_text())["demo"]["spheroid"]
PARAMS = OrganoidParams.from_config(SPHEROID)


@pytest.fixture(scope="module")
def sim():
    return simulate_organoid(PARAMS)


@pytest.fixture(scope="module")
def written(sim, tmp_path_factory):
    root = tmp_path_factory.mktemp("spheroid")
    write_synthetic(sim, root / "movie.ome.tif", root / "GT")
    return root


def test_stack_shapes_and_anisotropy(sim):
    assert sim.movie.shape == (14, 5, 16, 96, 96) and sim.movie.dtype == np.uint16
    assert sim.labels.shape == (14, 16, 96, 96)
    assert sim.z_step_um == pytest.approx(0.65 * 4)
    assert list(sim.truth.columns[:5]) == ["frame", "label", "z", "y", "x"]
    # every nucleus spans several planes but fewer than in y (z step 4x the pixel size)
    t = 7
    for lab in np.unique(sim.labels[t])[1:6]:
        zz, yy, _ = np.nonzero(sim.labels[t] == lab)
        assert 2 <= np.ptp(zz) + 1 < np.ptp(yy) + 1


def test_lineage_model_runs_in_3d(sim):
    ct = sim.cell_truth
    causes = ct["end_cause"].value_counts()
    assert causes.get("divided", 0) >= 5 and causes.get("left_field", 0) >= 1
    assert set(sim.cell_types["cell_type"]) == {"progenitor", "erythroid", "myeloid", "megakaryocyte"}
    for t, frame in enumerate(sim.labels):
        alive = set(sim.tracks.query(f"begin <= {t} and end >= {t}")["label"])
        assert set(np.unique(frame)) - {0} == alive == set(sim.cell_types.query("frame == @t")["label"])


def test_signal_falls_with_depth(sim):
    nuclei, lab = sim.movie[:, 0].astype(float), sim.labels
    per_plane = [nuclei[:, z][lab[:, z] > 0].mean() for z in (2, 13) if (lab[:, z] > 0).any()]
    assert per_plane[1] < 0.85 * per_plane[0]


def test_truth_is_valid_ctc(sim, written):
    check_ctc(sim.tracks)
    tra = written / "GT" / "TRA"
    tracks = read_tracking_file(str(tra / "man_track.txt"))
    masks = parse_masks(str(tra))
    present = [np.unique(tifffile.imread(m)) for m in masks]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker warns on each broken rule
        assert valid(masks, tracks, present) == 1
    seg = sorted(p.name for p in (written / "GT" / "SEG").glob("man_seg*.tif"))
    assert seg == [f"man_seg{t:03d}.tif" for t in (0, 3, 6, 9, 12, 13)]
    assert np.array_equal(tifffile.imread(written / "GT" / "SEG" / "man_seg006.tif"), sim.labels[6])
    assert len(pd.read_csv(written / "GT" / "cell_truth.csv")) == len(sim.tracks)


def test_movie_reads_back_with_axes_and_voxel_size(sim, written):
    with open_movie(written / "movie.ome.tif") as movie:
        meta = movie.metadata
        assert meta.axes == "TCZYX" and meta.shape_zyx == (16, 96, 96) and meta.n_frames == 14
        assert meta.pixel_size_um == pytest.approx(0.65) and meta.z_step_um == pytest.approx(2.6)
        assert meta.channel_names == sim.channel_names
        np.testing.assert_array_equal(movie.read_frame(5), sim.movie[5])


def test_3d_parameters_are_checked():
    with pytest.raises(ConfigError, match="ndim"):
        OrganoidParams.from_config({"ndim": 4}, where="demo.x")
    with pytest.raises(ConfigError, match="z_anisotropy"):
        OrganoidParams.from_config({"ndim": 3, "z_anisotropy": 0.5}, where="demo.x")


@pytest.mark.slow
def test_3d_sample_end_to_end_counts_within_5_percent_of_truth(tmp_path):
    """The shipped demo's 3D sample, its row as the shipped sample sheet has it."""
    row = pd.read_csv(REPO_ROOT / "samples.tsv", sep="\t", dtype=str).set_index("sample", drop=False).loc["spheroid"]
    project = write_project(tmp_path, [row.to_dict()], config_updates={"demo": {"spheroid": SPHEROID}})
    result = run_snakemake(project, "results/spheroid/evaluation.json", "results/spheroid/counts.csv")
    assert result.returncode == 0, result.stderr[-4000:]
    out = project / "results" / "spheroid"
    assert tifffile.imread(out / "labels.tif").shape == (14, 16, 96, 96)
    cells = pd.read_parquet(out / "cells.parquet")
    # volumes in µm³: voxel count x (0.65 µm)² x 2.6 µm
    np.testing.assert_allclose(cells["volume_um3"], cells["area_px"] * 0.65 ** 2 * 2.6)
    counts = pd.read_csv(out / "counts.csv")
    truth = pd.read_csv(project / "resources" / "demo" / "spheroid" / "GT" / "counts.csv")
    merged = truth.merge(counts, on=["frame", "cell_type"], how="left", suffixes=("_true", "")).fillna({"n": 0})
    checked = 0
    for cell_type, g in merged.groupby("cell_type"):
        if g["n_true"].sum() >= 30:
            error = (g["n"] - g["n_true"]).abs().sum() / g["n_true"].sum()
            assert error <= 0.05, (cell_type, error)
            checked += 1
    assert checked >= 3
    ctc = json.loads((out / "evaluation.json").read_text())["ctc"]
    assert ctc["SEG"] >= 0.85 and ctc["TRA"] >= 0.98


def test_tracking_scales_z_by_the_z_step():
    """A step of 3 planes (7.8 µm at a 2.6 µm z step) is too far for max_distance 5 µm; the same
    step of 3 pixels in y (1.95 µm) links."""
    from marrowflow.track.linking import TrackingParams, _detections, track_cells

    cells = pd.DataFrame({"frame": [0, 1, 0, 1], "label": [1, 1, 2, 2], "z": [2.0, 5.0, 8.0, 8.0],
                          "y": [20.0, 20.0, 60.0, 63.0], "x": [20.0, 20.0, 60.0, 60.0], "area_px": [200] * 4})
    cfg = {"max_distance_um": 5.0, "max_speed_um_per_h": None, "divisions": False}
    tracks = track_cells(cells, cfg, pixel_size_um=0.65, time_step_h=0.5, z_step_um=2.6)
    ids = tracks.groupby("track_id")["frame"].count()
    assert sorted(ids.tolist()) == [1, 1, 2]
    det, _ = _detections(cells, TrackingParams.from_config(cfg, pixel_size_um=0.65, z_step_um=2.6))
    # the ball of 200 voxels of 1 x 1 x 4 pixel widths
    np.testing.assert_allclose(det.radius, np.cbrt(3 * 200 * 4 / (4 * np.pi)))
