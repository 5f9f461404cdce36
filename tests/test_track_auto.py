"""`tracking.method: auto`: the crowding measure on hand-made positions, and the method it picks
on a sparse and on a dense synthetic colony (with and without the masks' overlaps)."""

import logging

import numpy as np
import pandas as pd
import pytest

from marrowflow.measure.cells import measure_frame
from marrowflow.synthetic_colony import ColonyParams, make_colony
from marrowflow.track.auto import auto_method, crowding
from marrowflow.track.costs import movie_overlaps
from marrowflow.track.linking import TrackingParams, chosen_method, track_cells


def test_crowding_on_hand_made_positions():
    # frame 0: a touching pair (10.5 apart, radii 5 + 5: 1.05 x the sum) and a far cell;
    # frame 1: a small cell whose nearest centre (6 away, radii 2 + 2: 1.5x) does not touch it,
    # but a big one further away (12.5 away, radii 2 + 10: 1.04x) does; and a lone cell in frame 2
    frame = np.array([0, 0, 0, 1, 1, 1, 2])
    pos = np.array([[0, 0], [0, 10.5], [100, 100], [0, 0], [0, 6], [12.5, 0], [5, 5]], dtype=float)
    radius = np.array([5, 5, 5, 2, 2, 10, 4], dtype=float)
    # close: the pair (2), the small cell 3 (to the big one) and the big one itself (to cell 3);
    # not: the far cell, cell 4 (1.5x from cell 3, 13.9 / 12 = 1.16x from the big one), the lone cell
    assert crowding(frame, pos, radius) == pytest.approx(4 / 7)
    assert crowding(frame, pos, radius, ratio=1.0) == pytest.approx(0.0)
    assert crowding(frame, pos, radius, ratio=2.0) == pytest.approx(5 / 7)
    assert crowding(np.zeros(0, int), np.zeros((0, 2)), np.zeros(0)) == 0.0
    assert auto_method(frame, pos, radius, 0.5) == ("motile", pytest.approx(4 / 7))
    assert auto_method(frame, pos, radius, 0.6)[0] == "sparse_lap"
    assert auto_method(frame, pos, None, 0.5) == ("sparse_lap", None)


def _colony(spacing: float, spread: float, seed: int):
    col = make_colony(ColonyParams(n_frames=8, size=(128, 128), n_founders=5, founder_spread=spread,
                                   cycle_time_frames=5.0, cell_radius_px=5.0, spacing=spacing, seed=seed))
    cells = pd.concat([measure_frame(lab, img[None], channel_names=["nuclei"], frame=t, time_h=float(t),
                                     pixel_size_um=None)
                       for t, (lab, img) in enumerate(zip(col.labels, col.images))], ignore_index=True)
    return cells, movie_overlaps(col.labels)


def test_auto_picks_sparse_lap_on_a_sparse_colony_and_motile_on_a_dense_one(caplog):
    cfg = {"max_distance_px": 15.0}  # method: the schema default, auto
    assert TrackingParams(max_distance_px=1.0).method == "auto"
    sparse, sparse_ov = _colony(spacing=1.3, spread=0.8, seed=2)
    dense, dense_ov = _colony(spacing=0.85, spread=0.2, seed=2)
    assert chosen_method(sparse, cfg) == "sparse_lap"
    assert chosen_method(dense, cfg) == "motile"
    assert chosen_method(dense, {**cfg, "method": "laptrack"}) == "laptrack"
    with caplog.at_level(logging.INFO, logger="marrowflow.track.linking"):
        tracks = track_cells(dense, cfg, overlaps=dense_ov)
    info = tracks.attrs["tracking"]
    assert info["method_requested"] == "auto" and info["method"] == "motile" and info["crowding"] > 0.9
    assert "using motile" in caplog.text
    # the same table tracked by motile directly gives the same tracks
    pd.testing.assert_frame_equal(tracks, track_cells(dense, {**cfg, "method": "motile"}, overlaps=dense_ov),
                                  check_flags=False)
    low = track_cells(sparse, cfg, overlaps=sparse_ov)
    assert low.attrs["tracking"]["method"] == "sparse_lap" and low.attrs["tracking"]["crowding"] < 0.1


def test_auto_without_overlaps_or_areas_keeps_sparse_lap(caplog):
    cfg = {"max_distance_px": 15.0, "method": "auto"}
    dense, overlaps = _colony(spacing=0.85, spread=0.2, seed=3)
    # a cut above the colony's crowding (0.92) keeps sparse_lap even with overlaps
    high = track_cells(dense, {**cfg, "auto_crowding": 1.0}, overlaps=overlaps)
    assert high.attrs["tracking"]["method"] == "sparse_lap" and high.attrs["tracking"]["crowding"] < 1.0
    with caplog.at_level(logging.WARNING, logger="marrowflow.track.linking"):
        tracks = track_cells(dense, cfg)
    assert tracks.attrs["tracking"]["method"] == "sparse_lap" and tracks.attrs["tracking"]["crowding"] > 0.9
    assert "no mask overlaps" in caplog.text
    no_area = track_cells(dense.drop(columns="area_px"), cfg)
    assert no_area.attrs["tracking"] == {"method_requested": "auto", "method": "sparse_lap", "crowding": None}
