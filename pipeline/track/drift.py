"""Stage drift: how far the whole field of view moved between consecutive frames.

`skimage.registration.phase_cross_correlation` of consecutive frames of the nuclear channel
gives each step (sub-pixel, `upsample_factor` 10); the drift of frame t is the sum of the steps
up to t (0 at frame 0). Tracking subtracts it from the positions (and moves the masks back by
the step before counting overlaps, `marrowflow.track.costs.movie_overlaps`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from skimage.registration import phase_cross_correlation

__all__ = ["drift_array", "estimate_drift"]

AXES = ("z", "y", "x")


def estimate_drift(frames: Iterable[np.ndarray], *, upsample_factor: int = 10) -> pd.DataFrame:
    """Cumulative drift per frame of a movie of one channel ([Z], Y, X frames, read one at a
    time): columns frame, d[z], dy, dx (pixels, the content's shift from frame 0), step_error
    (phase cross-correlation's error of the step into this frame; 0 at frame 0)."""
    rows, prev, total = [], None, None
    for t, frame in enumerate(frames):
        cur = np.asarray(frame, dtype=np.float32)
        if prev is None:
            total, err = np.zeros(cur.ndim), 0.0
        else:
            if cur.shape != prev.shape:
                raise ValueError(f"estimate_drift: frame {t} has shape {cur.shape}, frame {t - 1} {prev.shape}")
            if cur.std() == 0 or prev.std() == 0:  # an empty frame carries no position
                step, err = np.zeros(cur.ndim), 1.0
            else:
                shift, err, _ = phase_cross_correlation(prev, cur, upsample_factor=upsample_factor,
                                                        normalization=None)
                step = -np.asarray(shift, dtype=np.float64)  # shift registers cur onto prev
            total = total + step
        prev = cur
        axes = AXES[-cur.ndim:]
        rows.append({"frame": t, **{f"d{a}": float(v) for a, v in zip(axes, total)}, "step_error": float(err)})
    cols = ["frame", "dy", "dx", "step_error"]
    return pd.DataFrame(rows) if rows else pd.DataFrame({c: pd.Series(dtype=float) for c in cols})


def drift_array(drift: pd.DataFrame, n_frames: int) -> np.ndarray:
    """(n_frames, ndim) cumulative drift in the axis order of the frames (for overlaps)."""
    cols = [f"d{a}" for a in AXES if f"d{a}" in drift.columns]
    table = drift.set_index("frame")[cols].reindex(np.arange(n_frames))
    if table.isna().any().any():
        raise ValueError(f"drift table covers frames {drift['frame'].min()}..{drift['frame'].max()}, "
                         f"the movie has {n_frames}; re-estimate the drift")
    return table.to_numpy(np.float64)
