"""The report's stage-drift figure: cumulative drift per axis over the frames."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from marrowflow.report.figures import mark_no_cells

__all__ = ["plot_drift"]


def plot_drift(drift: pd.DataFrame) -> Figure:
    """Cumulative stage drift (pixels) per axis against the frame (a `drift.csv` table)."""
    fig = Figure(figsize=(5, 3))
    ax = fig.add_subplot()
    axes = [c for c in ("dz", "dy", "dx") if c in drift.columns]
    if len(drift) == 0 or not axes:
        mark_no_cells(ax, "no frames")
    for col in axes:
        ax.plot(drift["frame"], drift[col], label=col[1:])
    ax.set_xlabel("frame")
    ax.set_ylabel("drift since frame 0 (px)")
    ax.set_title("stage drift")
    if axes and len(drift):
        ax.legend(frameon=False)
    return fig
