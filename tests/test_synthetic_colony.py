"""Tests of the dense-colony generator and its Cell Tracking Challenge truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from ctc_metrics.metrics import valid
from ctc_metrics.utils.filesystem import parse_masks, read_tracking_file
from scipy import ndimage

from marrowflow.errors import ConfigError
from marrowflow.synthetic_colony import (
    PRESETS,
    ColonyParams,
    colony_preset,
    make_colony,
    write_colony_ctc,
)
from marrowflow.track.ctc import check_ctc


@pytest.fixture(scope="module", params=["round", "rod"])
def dense(request):
    return make_colony(colony_preset("dense", shape=request.param))


def _alive(tracks, t):
    return set(tracks.loc[(tracks["begin"] <= t) & (tracks["end"] >= t), "label"].tolist())


def test_dense_preset_has_hundreds_of_divisions_on_50_frames(dense):
    assert dense.images.shape == dense.labels.shape == (50, 256, 256)
    assert dense.images.dtype == np.uint16 and dense.labels.dtype == np.uint32
    n_div = dense.tracks.groupby("parent").size().drop(0, errors="ignore")
    assert len(n_div) >= 200 and (n_div == 2).mean() > 0.95


def test_truth_is_valid_ctc_and_every_mask_is_present_and_connected(dense):
    check_ctc(dense.tracks)
    for t, frame in enumerate(dense.labels):
        present = set(np.unique(frame[frame > 0]).tolist())
        assert present == _alive(dense.tracks, t), t
        for lab, sl in enumerate(ndimage.find_objects(frame), start=1):
            if sl is not None:
                assert ndimage.label(frame[sl] == lab)[1] == 1, (t, lab)
    daughters = dense.tracks[dense.tracks["parent"] > 0]
    mothers = dense.tracks.set_index("label").loc[daughters["parent"]]
    assert (daughters["begin"].to_numpy() == mothers["end"].to_numpy() + 1).all()


def test_cells_touch_in_the_dense_preset_and_not_in_the_sparse_one(dense):
    def touching_share(frame):
        """Share of mask-border pixels whose other side is another cell (not background)."""
        pad = np.pad(frame, 1)
        centre = pad[1:-1, 1:-1]
        sides = [pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]]
        border = (centre > 0) & np.any([s != centre for s in sides], axis=0)
        contact = (centre > 0) & np.any([(s != centre) & (s > 0) for s in sides], axis=0)
        return contact.sum() / border.sum()

    assert touching_share(dense.labels[-1]) > 0.5
    sparse = make_colony(colony_preset("sparse", n_frames=20))
    assert touching_share(sparse.labels[-1]) < 0.05


def test_daughters_split_the_mothers_area(dense):
    tracks = dense.tracks.set_index("label")
    ratios = []
    for mother, kids in dense.tracks[dense.tracks["parent"] > 0].groupby("parent"):
        if len(kids) != 2:
            continue
        end = tracks.loc[mother, "end"]
        area_mother = (dense.labels[end] == mother).sum()
        area_kids = sum((dense.labels[end + 1] == k).sum() for k in kids["label"])
        ratios.append(area_kids / area_mother)
    ratios = np.array(ratios)
    assert len(ratios) >= 200
    assert 0.95 < np.median(ratios) < 1.1
    assert ((ratios > 0.75) & (ratios < 1.35)).mean() > 0.97


def test_rods_are_elongated_and_round_cells_are_not(dense):
    frame = dense.labels[-1]
    ratios = []
    for lab, sl in enumerate(ndimage.find_objects(frame), start=1):
        if sl is None:
            continue
        yy, xx = np.nonzero(frame[sl] == lab)
        if len(yy) < 10:
            continue
        ev = np.linalg.eigvalsh(np.cov(np.vstack([yy, xx])))
        ratios.append(np.sqrt(ev[1] / max(ev[0], 1e-9)))
    median = np.median(ratios)
    assert (median > 1.8) if dense.params.shape == "rod" else (median < 1.35)


def test_same_seed_same_colony_and_another_seed_another():
    p = ColonyParams(n_frames=8, size=(96, 96), n_founders=3, seed=5)
    a, b = make_colony(p), make_colony(p)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert a.tracks.equals(b.tracks)
    c = make_colony(ColonyParams(n_frames=8, size=(96, 96), n_founders=3, seed=6))
    assert not np.array_equal(a.labels, c.labels)


def test_constant_drift_shifts_the_field_and_random_drift_is_recorded():
    base = dict(n_frames=10, size=(128, 128), n_founders=3, seed=2)
    still = make_colony(ColonyParams(**base))
    moved = make_colony(ColonyParams(**base, drift_px_per_frame=(2, -1)))
    assert np.array_equal(moved.drift[:, 0], 2.0 * np.arange(10))
    t = 9
    shifted = np.roll(still.labels[t], (2 * t, -t), axis=(0, 1))
    assert (shifted == moved.labels[t]).mean() > 0.999
    walk = make_colony(ColonyParams(**base, drift_px_per_frame=1.5))
    steps = np.diff(walk.drift, axis=0)
    assert 0.8 < steps.std() < 2.5 and not np.allclose(steps, steps[0])


def test_written_ctc_folder_passes_the_py_ctcmetrics_checker(tmp_path):
    colony = make_colony(colony_preset("medium", n_frames=12))
    images = write_colony_ctc(colony, tmp_path)
    assert images == tmp_path / "01"
    assert len(list(images.glob("t*.tif"))) == 12
    assert np.array_equal(tifffile.imread(images / "t011.tif"), colony.images[11])
    seg = tifffile.imread(tmp_path / "01_GT" / "SEG" / "man_seg005.tif")
    assert seg.dtype == np.uint16 and np.array_equal(seg, colony.labels[5])
    tra = tmp_path / "01_GT" / "TRA"
    tracks = read_tracking_file(str(tra / "man_track.txt"))
    assert np.array_equal(tracks, colony.tracks.to_numpy())
    masks = parse_masks(str(tra))
    present = [np.unique(tifffile.imread(m)) for m in masks]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker warns on each broken rule
        assert valid(masks, tracks, present) == 1
    # a shorter colony written over it leaves no stale frames behind
    write_colony_ctc(make_colony(colony_preset("medium", n_frames=5)), tmp_path)
    assert len(list(images.glob("t*.tif"))) == len(list(tra.glob("man_track*.tif"))) == 5


def test_presets_and_bad_parameters():
    assert set(PRESETS) == {"sparse", "medium", "dense"}
    assert colony_preset("dense", shape="rod", seed=4).shape == "rod"
    with pytest.raises(ConfigError, match="unknown colony preset"):
        colony_preset("crowded")
    with pytest.raises(ConfigError, match="shape"):
        ColonyParams(shape="square")
    with pytest.raises(ConfigError, match="expansion"):
        ColonyParams(expansion=0)
    with pytest.raises(ConfigError, match="drift_px_per_frame"):
        ColonyParams(drift_px_per_frame=(1, 2, 3))
