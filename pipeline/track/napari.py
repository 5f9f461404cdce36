"""The napari Tracks layer's format: data rows [track_id, t, (z), y, x] and a parent graph."""

from __future__ import annotations

import numpy as np
import pandas as pd


def napari_tracks(tracks: pd.DataFrame) -> tuple[np.ndarray, dict[int, list[int]]]:
    """napari Tracks layer input: data rows [track_id, t, (z), y, x] in pixels (3D when the table
    has `z`) sorted by track and time, and the graph {child track: [parent track]} (only ids
    present in the data). Cells on no track (`track_id` 0) are left out."""
    axes = ["z", "y", "x"] if "z" in tracks.columns else ["y", "x"]
    sub = tracks[tracks["track_id"] > 0].sort_values(["track_id", "frame"], kind="stable")
    data = np.column_stack([sub["track_id"].to_numpy(np.float64), sub["frame"].to_numpy(np.float64),
                            sub[axes].to_numpy(np.float64)]) if len(sub) else np.zeros((0, 2 + len(axes)))
    present = set(sub["track_id"].unique().tolist())
    pairs = sub.groupby("track_id")["parent_track_id"].max()
    graph = {int(c): [int(par)] for c, par in pairs.items() if par > 0 and par in present}
    return data, graph
