"""The lineage panel: the selected track's tree drawn by the report's `draw_lineage_trees`, with
the panel's marks (track ids, the current frame). No Qt."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from matplotlib.axes import Axes

from marrowflow.report.lineage_plots import draw_lineage_trees


def draw_lineage(ax: Axes, tracks: pd.DataFrame, tree: pd.DataFrame, colours: Mapping[str, str], *,
                 selected: int | None = None, frame: int | None = None) -> None:
    """Draw `tree` (`ReviewSession.lineage` rows; the cells in `tracks`) on `ax`, founder on top:
    each cell coloured by its type, the selected track on a dark line, track ids, the current
    frame dashed."""
    ax.clear()
    if len(tree) == 0:
        ax.text(0.5, 0.5, "no track selected", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax.set_axis_on()
    draw_lineage_trees(ax, tracks, tree, colours, selected=selected, marker_size=14)
    for row in tree.itertuples(index=False):
        ax.text(row.begin, row.y - 0.25, str(row.track_id), fontsize=7)
    if frame is not None:
        ax.axvline(frame, color="k", ls="--", lw=0.8)
    ax.set_xlabel("frame")
    ax.set_yticks([])
    ax.set_ylim(tree["y"].max() + 0.7, -0.9)
    ax.set_title(f"lineage of track {selected}", fontsize=9)
