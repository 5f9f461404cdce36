"""The lineage tree of a track (layout as a table, drawing on a matplotlib Axes). No Qt."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def lineage_tree(tracks: pd.DataFrame, track_id: int) -> pd.DataFrame:
    """The tree holding `track_id`, from its founder: one row per track with `track_id, parent,
    begin, end, cell_type` (the type of its last cell), `generation` and `y` (leaves 0, 1, ...;
    a mother midway between her daughters). Empty when the track is unknown."""
    sub = tracks[tracks["track_id"] > 0]
    if track_id not in set(sub["track_id"]):
        return pd.DataFrame(columns=["track_id", "parent", "begin", "end", "cell_type", "generation", "y"])
    last = sub.sort_values("frame", kind="stable").groupby("track_id").tail(1).set_index("track_id")
    g = sub.groupby("track_id")
    info = pd.DataFrame({"parent": g["parent_track_id"].max(), "begin": g["frame"].min(), "end": g["frame"].max()})
    info["cell_type"] = last["cell_type"].astype(str) if "cell_type" in last else "unknown"
    root, seen = int(track_id), set()
    while int(info.at[root, "parent"]) in info.index and root not in seen:
        seen.add(root)
        root = int(info.at[root, "parent"])
    children: dict[int, list[int]] = {}
    for child, parent in info["parent"].items():
        children.setdefault(int(parent), []).append(int(child))
    rows, leaf = {}, [0]

    def visit(node: int, generation: int) -> float:
        kids = sorted(children.get(node, []), key=lambda k: (info.at[k, "begin"], k))
        ys = [visit(k, generation + 1) for k in kids if k not in rows]
        if ys:
            y = float(np.mean(ys))
        else:
            y, leaf[0] = float(leaf[0]), leaf[0] + 1
        rows[node] = (node, int(info.at[node, "parent"]), int(info.at[node, "begin"]), int(info.at[node, "end"]),
                      info.at[node, "cell_type"], generation, y)
        return y

    visit(root, 0)
    out = pd.DataFrame(list(rows.values()), columns=["track_id", "parent", "begin", "end", "cell_type",
                                                     "generation", "y"])
    return out.sort_values("y").reset_index(drop=True)


def draw_lineage(ax, tree: pd.DataFrame, *, selected: int | None = None,
                 colours: Mapping[str, str] | None = None, frame: int | None = None) -> None:
    """Draw `tree` (from `lineage_tree`) on `ax`: time to the right, one line per track coloured
    by type, divisions as vertical links, the selected track thicker, the current frame dashed."""
    ax.clear()
    colours = colours or {}
    if len(tree) == 0:
        ax.text(0.5, 0.5, "no track selected", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    by_id = tree.set_index("track_id")
    for row in tree.itertuples(index=False):
        width = 4 if row.track_id == selected else 2
        ax.plot([row.begin, row.end + 0.9], [row.y, row.y], color=colours.get(row.cell_type, "#808080"),
                lw=width, solid_capstyle="butt")
        ax.text(row.begin, row.y + 0.15, str(row.track_id), fontsize=7)
        if row.parent in by_id.index:
            mother = by_id.loc[row.parent]
            ax.plot([mother["end"] + 0.9, row.begin], [mother["y"], row.y], color="#606060", lw=1)
    if frame is not None:
        ax.axvline(frame, color="k", ls="--", lw=0.8)
    ax.set_xlabel("frame")
    ax.set_yticks([])
    ax.set_ylim(-0.7, tree["y"].max() + 0.7)
    ax.set_title(f"lineage of track {int(tree.iloc[0]['track_id']) if selected is None else selected}", fontsize=9)
