"""Where each track of a lineage tree is drawn: the one tree layout of the report and the plugin."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["tree_layout"]


def tree_layout(summary: pd.DataFrame, *, gap: float = 1.5) -> pd.DataFrame:
    """`summary` (rows of `track_summary`, or any table with `track_id, parent_track_id, begin`
    for one sample, some trees or all) with a row position `y` per track, sorted by `y`.

    Trees lie one below the other in founder order (first frame, then track id), `gap` rows
    apart. Within a tree the leaves take consecutive rows depth first (daughters by first frame,
    then id) and each mother lies midway between her children, so a track continued after a gap
    shares the row of its continuation. A parent id that is not in `summary` counts as none.
    """
    s = summary.set_index("track_id")
    ids = set(s.index)
    parents = s["parent_track_id"]
    children: dict[int, list[int]] = {}
    for tid, parent in parents.items():
        if parent in ids:
            children.setdefault(parent, []).append(tid)

    def order(tracks: list[int]) -> list[int]:
        return sorted(tracks, key=lambda t: (s.at[t, "begin"], t))

    y: dict[int, float] = {}
    next_row = 0.0

    def place(tid: int) -> float:
        nonlocal next_row
        kids = order(children.get(tid, []))
        if kids:
            y[tid] = float(np.mean([place(k) for k in kids]))
        else:
            y[tid], next_row = next_row, next_row + 1
        return y[tid]

    for i, root in enumerate(order([t for t, p in parents.items() if p not in ids])):
        next_row += (gap - 1) if i else 0.0
        place(root)
    out = summary.assign(y=summary["track_id"].map(y).astype(float))
    return out.sort_values(["y", "track_id"], kind="stable").reset_index(drop=True)
