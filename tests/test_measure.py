"""Tests of per-object measurements on small arrays with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk, ellipse
from skimage.filters import gaussian
from skimage.measure import label, regionprops_table

from pipeline.errors import InputError
from pipeline.measure import measure_columns, measure_frame, measure_movie

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
    assert row["mean_nuclei"] == pytest.approx(200.0) and row["mean_CD34"] == pytest.approx(3.0)
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
    df = measure_frame(labels, image, channel_names=CH, frame=0, time_h=0.0)
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
    np.testing.assert_allclose(df["mean_CD34"], ref["intensity_mean-1"])
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
    assert cube["mean_CD34"] == pytest.approx(4.0) and cube["mean_nuclei"] == pytest.approx(9.0)
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
