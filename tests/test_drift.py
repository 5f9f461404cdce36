"""Stage drift: phase cross-correlation restores a known shift; the report figure."""

import numpy as np
import pandas as pd
from scipy import ndimage

from marrowflow.report.drift_plot import plot_drift
from marrowflow.track.drift import drift_array, estimate_drift
from marrowflow.track.linking import track_cells


def _blobs(shape=(96, 96), seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros(shape)
    pts = rng.integers(10, shape[0] - 10, (25, 2))
    img[pts[:, 0], pts[:, 1]] = 1000.0
    return ndimage.gaussian_filter(img, 2.0) + rng.normal(0, 0.5, shape)


def test_estimate_drift_restores_a_known_shift():
    base = _blobs()
    steps = [(0, 0), (3, -2), (1, 4), (-2, 0)]
    total = np.cumsum(steps, axis=0)
    frames = [ndimage.shift(base, s, order=1, mode="nearest") for s in total]
    drift = estimate_drift(frames)
    assert drift["frame"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(drift[["dy", "dx"]].to_numpy(), total, atol=0.3)
    np.testing.assert_allclose(drift_array(drift, 4), drift[["dy", "dx"]].to_numpy())


def test_drift_removed_before_linking():
    # two cells 12 px apart; the stage moves 10 px right per frame: without the correction the
    # left cell's nearest next position is the right cell's old place
    rows, drift = [], []
    for t in range(4):
        for label, x in ((1, 20.0), (2, 32.0)):
            rows.append({"frame": t, "label": label, "y": 50.0, "x": x + 10.0 * t, "area_px": 30.0})
        drift.append({"frame": t, "dy": 0.0, "dx": 10.0 * t})
    cells, drift = pd.DataFrame(rows), pd.DataFrame(drift)
    params = {"max_distance_px": 11.0, "divisions": False, "gap_closing_frames": 0}
    tracks = track_cells(cells, params, drift=drift)
    assert tracks.groupby("track_id")["label"].nunique().max() == 1
    assert tracks["track_id"].nunique() == 2
    np.testing.assert_array_equal(tracks["x"], cells["x"])  # the output keeps measured positions
    assert track_cells(cells, params)["track_id"].nunique() > 2


def test_plot_drift_draws_each_axis():
    fig = plot_drift(pd.DataFrame({"frame": [0, 1], "dy": [0.0, 1.0], "dx": [0.0, -1.0], "step_error": 0.0}))
    assert [line.get_label() for line in fig.axes[0].lines] == ["y", "x"]
