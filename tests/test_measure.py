"""Tests of per-object measurements on small arrays with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk, ellipse
from skimage.filters import gaussian
from skimage.measure import label, regionprops_table

from marrowflow.classify.thresholds import compute_thresholds
from marrowflow.errors import ConfigError, InputError
from marrowflow.measure.cells import BackgroundParams, MeasureParams, measure_columns, measure_frame, measure_movie
from marrowflow.synthetic import OrganoidParams, simulate_organoid

CH = ["nuclei", "CD34"]


def _disk_frame():
    labels = np.zeros((64, 80), np.uint32)
    rr, cc = disk((30, 40), 10)
    labels[rr, cc] = 7
    image = np.zeros((2, 64, 80), np.float32)
    image[0][labels == 7] = 200.0
    image[0][labels == 0] = 5.0
    image[1] = 3.0
    return labels, image, len(rr)


def test_disk_area_centroid_intensity():
    labels, image, n_px = _disk_frame()
    labels_before, image_before = labels.copy(), image.copy()
    df = measure_frame(labels, image, channel_names=CH, frame=4, time_h=2.0, pixel_size_um=0.5)
    np.testing.assert_array_equal(labels, labels_before)  # inputs untouched
    np.testing.assert_array_equal(image, image_before)
    assert list(df.columns) == list(measure_columns(CH))
    row = df.iloc[0]
    assert (row["frame"], row["time_h"], row["label"]) == (4, 2.0, 7)
    assert (row["y"], row["x"]) == pytest.approx((30.0, 40.0))
    assert row["area_px"] == n_px and n_px == pytest.approx(np.pi * 10**2, rel=0.03)
    assert row["area_um2"] == pytest.approx(n_px * 0.25)
    # local background (5 around the disk; 3 everywhere in CD34) is subtracted and reported
    assert row["mean_nuclei"] == pytest.approx(195.0) and row["bg_nuclei"] == pytest.approx(5.0)
    assert row["mean_CD34"] == pytest.approx(0.0, abs=1e-9) and row["bg_CD34"] == pytest.approx(3.0)
    assert row["eccentricity"] < 0.05
    assert row["major_axis_px"] == pytest.approx(20.0, abs=1.0)
    assert 0.9 < row["solidity"] <= 1.0


def test_ellipse_eccentricity_and_unknown_pixel_size():
    labels = np.zeros((80, 80), np.uint16)
    rr, cc = ellipse(40, 40, 10, 20)  # semi-axes 10 (y) and 20 (x)
    labels[rr, cc] = 1
    df = measure_frame(labels, np.ones((1, 80, 80)), channel_names=["a"], frame=0, time_h=None)
    assert df["eccentricity"].item() == pytest.approx(np.sqrt(1 - (10 / 20) ** 2), abs=0.02)
    assert df["major_axis_px"].item() == pytest.approx(40.0, abs=1.5)
    assert np.isnan(df["area_um2"].item()) and np.isnan(df["time_h"].item())


@pytest.mark.parametrize("shape", [(96, 96), (16, 48, 48)])
def test_matches_regionprops(shape):
    rng = np.random.default_rng(0)
    labels = label(gaussian(rng.random(shape), 2) > 0.52).astype(np.uint32)
    image = rng.random((2,) + shape)
    df = measure_frame(labels, image, channel_names=CH, frame=0, time_h=0.0, params={"background": "none"})
    props = ["label", "area", "centroid", "axis_major_length", "intensity_mean"]
    props += ["eccentricity", "solidity"] if len(shape) == 2 else []
    ref = regionprops_table(labels, intensity_image=np.moveaxis(image, 0, -1), properties=props)
    assert len(df) == len(ref["label"]) > 5
    np.testing.assert_array_equal(df["label"], ref["label"])
    np.testing.assert_array_equal(df["area_px"], ref["area"])
    axes = ["z", "y", "x"][3 - len(shape):]
    for i, axis in enumerate(axes):
        np.testing.assert_allclose(df[axis], ref[f"centroid-{i}"])
    np.testing.assert_allclose(df["major_axis_px"], ref["axis_major_length"], atol=1e-9)
    np.testing.assert_allclose(df["mean_CD34"], ref["intensity_mean-1"])  # background none: raw means
    assert (df["bg_CD34"] == 0).all() and (df["bg_nuclei"] == 0).all()
    if len(shape) == 2:
        np.testing.assert_allclose(df["eccentricity"], ref["eccentricity"], atol=1e-9)
        np.testing.assert_allclose(df["solidity"], ref["solidity"])


def test_3d_cube():
    labels = np.zeros((10, 32, 32), np.uint32)
    labels[2:6, 10:20, 4:12] = 3
    labels[8, 30, 30] = 5  # one voxel: no convex hull, solidity 1
    image = np.stack([np.full(labels.shape, 9.0), (labels == 3) * 4.0])
    df = measure_frame(labels, image, channel_names=CH, frame=1, time_h=0.5, pixel_size_um=0.5, z_step_um=2.0)
    assert list(df.columns) == list(measure_columns(CH, ndim=3))
    cube = df.set_index("label").loc[3]
    assert (cube["z"], cube["y"], cube["x"]) == pytest.approx((3.5, 14.5, 7.5))
    assert cube["area_px"] == 4 * 10 * 8
    assert cube["volume_um3"] == pytest.approx(320 * 0.25 * 2.0)
    assert cube["mean_CD34"] == pytest.approx(4.0) and cube["bg_CD34"] == pytest.approx(0.0)
    assert cube["mean_nuclei"] == pytest.approx(0.0, abs=1e-9) and cube["bg_nuclei"] == pytest.approx(9.0)
    assert cube["solidity"] == pytest.approx(1.0)
    assert df["eccentricity"].isna().all()
    assert df.set_index("label").loc[5, "solidity"] == 1.0


@pytest.mark.parametrize("ndim", [2, 3])
def test_empty_frame_has_columns_and_dtypes(ndim):
    shape = (8, 8) if ndim == 2 else (3, 8, 8)
    labels, image = np.zeros(shape, np.uint32), np.ones((2,) + shape)
    df = measure_frame(labels, image, channel_names=CH, frame=0, time_h=0.0)
    assert len(df) == 0
    assert df.dtypes.astype(str).to_dict() == measure_columns(CH, ndim)


def test_bad_inputs_raise_input_error():
    labels, image, _ = _disk_frame()
    with pytest.raises(InputError, match="channel"):
        measure_frame(labels, image, channel_names=["a"], frame=0, time_h=0.0)
    with pytest.raises(InputError, match="match the labels"):
        measure_frame(labels[:-1], image, channel_names=CH, frame=0, time_h=0.0)


def test_measure_movie_streams_and_sorts():
    labels, image, _ = _disk_frame()
    two = labels.copy()
    two[2:6, 2:6] = 2
    label_frames = [two, np.zeros_like(labels), labels]
    consumed = []

    def movie():
        for t in range(3):
            consumed.append(t)
            yield image

    df = measure_movie(movie(), iter(label_frames), channel_names=CH, time_step_h=0.5, pixel_size_um=1.0)
    assert consumed == [0, 1, 2]
    assert df[["frame", "label"]].values.tolist() == [[0, 2], [0, 7], [2, 7]]
    np.testing.assert_allclose(df["time_h"], [0.0, 0.0, 1.0])
    assert df.dtypes.astype(str).to_dict() == measure_columns(CH)


def test_measure_movie_length_mismatch_and_empty():
    labels, image, _ = _disk_frame()
    with pytest.raises(InputError, match="labels has more frames"):
        measure_movie([image], [labels, labels], channel_names=CH, time_step_h=1.0)
    empty = measure_movie([], [], channel_names=CH, time_step_h=1.0)
    assert isinstance(empty, pd.DataFrame) and len(empty) == 0
    assert list(empty.columns) == list(measure_columns(CH))


def _cells_on_gradient(shape, centres, *, signal=100.0, radius=6, seed=0):
    """Balls/disks of equal true signal on a background rising from 50 to 250 along the last axis
    (and 30 more along Z in 3D), blurred like a microscope (Gaussian PSF), with Poisson noise."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape)
    labels = np.zeros(shape, np.uint32)
    for i, c in enumerate(centres, start=1):
        d2 = sum((g - ci) ** 2 for g, ci in zip(grid, c))
        labels[d2 <= radius**2] = i
    bg = 50.0 + 200.0 * grid[-1] / (shape[-1] - 1) + (30.0 * grid[0] / (shape[0] - 1) if len(shape) == 3 else 0.0)
    cells = gaussian((labels > 0) * signal, sigma=1.0, preserve_range=True)
    marker = rng.poisson(bg + cells).astype(np.float64)
    empty = rng.poisson(bg).astype(np.float64)  # a channel no cell expresses
    return labels, np.stack([marker, empty])


def test_same_signal_on_bright_and_dark_background_measures_the_same():
    centres = [(y, x) for y in (40, 128, 216) for x in (20, 70, 128, 186, 236)]
    labels, image = _cells_on_gradient((256, 256), centres)
    raw = measure_frame(labels, image, channel_names=CH, frame=0, time_h=0.0, params={"background": "none"})
    df = measure_frame(labels, image, channel_names=CH, frame=0, time_h=0.0)
    assert raw["mean_nuclei"].max() - raw["mean_nuclei"].min() > 150  # the background dominates raw means
    dark, bright = df.loc[df["x"].idxmin()], df.loc[df["x"].idxmax()]
    assert bright["bg_nuclei"] - dark["bg_nuclei"] > 150
    assert bright["mean_nuclei"] == pytest.approx(dark["mean_nuclei"], abs=4.0)
    # every cell: true mean inside the mask (blur loses a little at the edge) within a few counts
    assert df["mean_nuclei"].std() < 2.5 and 80 < df["mean_nuclei"].mean() < 100
    assert df["mean_CD34"].abs().max() < 5.0  # no signal: about 0 after correction, on every background
    np.testing.assert_allclose(df["bg_nuclei"], 50 + 200 * df["x"] / 255, atol=3.0)
    np.testing.assert_allclose(df["mean_nuclei"] + df["bg_nuclei"], raw["mean_nuclei"])  # corrected = raw - bg


def test_3d_background_varies_along_z_and_x():
    centres = [(z, y, x) for z in (6, 18) for y in (16, 48) for x in (10, 32, 54)]
    labels, image = _cells_on_gradient((24, 64, 64), centres, radius=4)
    cfg = {"background_block_px": 16, "background_margin_px": 2}
    df = measure_frame(labels, image, channel_names=CH, frame=0, time_h=0.0, params=cfg)
    assert list(df.columns) == list(measure_columns(CH, ndim=3)) and len(df) == len(centres)
    expected_bg = 50 + 200 * df["x"] / 63 + 30 * df["z"] / 23
    np.testing.assert_allclose(df["bg_nuclei"], expected_bg, atol=6.0)
    assert df["mean_nuclei"].max() - df["mean_nuclei"].min() < 10.0
    assert df["mean_CD34"].abs().max() < 5.0


def test_background_params_from_config_units_and_errors():
    p = BackgroundParams.from_config({"background_block_um": 40.0, "background_margin_um": 2.0},
                                     ndim=3, pixel_size_um=0.5, z_step_um=2.0)
    assert p.local and p.bin_px == (1, 4, 4) and p.block_bins == (20, 20, 20)
    p = BackgroundParams.from_config({"background_block_px": 30, "background_margin_px": 3})  # no pixel size
    assert p.bin_px == (3, 3) and p.block_bins == (10, 10)
    assert not BackgroundParams.from_config({"background": "none"}).local
    with pytest.raises(ConfigError, match="measure.background"):
        BackgroundParams.from_config({"background": "rolling_ball"})
    with pytest.raises(ConfigError, match="background_block_um"):
        BackgroundParams.from_config({"background_block_um": -1})
    with pytest.raises(ConfigError, match="measure: unknown key"):
        MeasureParams.from_config({"background_block": 20})
    as_object = BackgroundParams.from_config(MeasureParams(background_block_px=30), ndim=2)
    assert as_object == BackgroundParams.from_config({"background_block_px": 30}, ndim=2)


def test_crowded_frame_falls_back_to_frame_background_or_none():
    labels = np.zeros((40, 40), np.uint32)
    labels[:, :30] = 1  # one block-sized object covers most of the frame
    image = np.stack([np.where(labels > 0, 60.0, 10.0)])
    df = measure_frame(labels, image, channel_names=["a"], frame=0, time_h=0.0,
                       params={"background_block_px": 40, "background_margin_px": 2})
    assert df["bg_a"].item() == pytest.approx(10.0) and df["mean_a"].item() == pytest.approx(50.0)
    full = np.ones((8, 8), np.uint32)
    with pytest.warns(RuntimeWarning, match="no background"):
        df = measure_frame(full, np.full((1, 8, 8), 7.0), channel_names=["a"], frame=0, time_h=0.0)
    assert df["mean_a"].item() == 7.0 and df["bg_a"].item() == 0.0


def test_unexpressed_marker_has_no_positive_cells_after_correction():
    """The synthetic organoid's uneven background alone made the CD41 threshold split the cells
    (seen with the brightness guard of the thresholds off, min_fold_change=1)."""
    params = OrganoidParams(seed=3, n_frames=4, size=(192, 192), n_founders=25,
                            differentiation_rate_per_h={"erythroid": 0.0, "myeloid": 0.0, "megakaryocyte": 0.0})
    sim = simulate_organoid(params)
    tables = {mode: pd.concat([measure_frame(sim.labels[t], sim.movie[t], channel_names=sim.channel_names,
                                             frame=t, time_h=0.0, pixel_size_um=sim.pixel_size_um,
                                             params={"background": mode}) for t in range(params.n_frames)])
              for mode in ("none", "local")}
    positives = {}
    for mode, cells in tables.items():
        thr = compute_thresholds(cells.rename(columns={"mean_CD41": "CD41"}), ["CD41"],
                                 min_fold_change=1.0).threshold.item()
        positives[mode] = int((cells["mean_CD41"] > thr).sum())
    assert positives["local"] == 0 < positives["none"]
