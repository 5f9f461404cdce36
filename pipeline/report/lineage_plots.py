"""Figures of lineage results (matplotlib, Agg): counts over time, lineage trees, production rates.

Every function takes tables and returns a `matplotlib.figure.Figure`; saving is the caller's job
(`pipeline.figures.save_figure`). Colours per cell type are stable: the types in the order given
(or found), `unknown` always grey.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from marrowflow.contract import UNKNOWN  # noqa: E402
from marrowflow.lineage.tables import track_summary  # noqa: E402

__all__ = ["type_colours", "plot_counts_over_time", "plot_lineage_trees", "plot_production_rates"]


def type_colours(types: Sequence[str]) -> dict[str, tuple]:
    """A colour per type: tab10 in order, `unknown` grey."""
    palette = plt.get_cmap("tab10").colors
    named = [t for t in dict.fromkeys(types) if t != UNKNOWN]
    colours = {t: palette[i % len(palette)] for i, t in enumerate(named)}
    colours[UNKNOWN] = (0.6, 0.6, 0.6)
    return colours


def _type_order(values: pd.Series, classes: Sequence[str] | None) -> list[str]:
    found = list(dict.fromkeys(values.astype(str)))
    if classes:
        return list(dict.fromkeys(list(classes) + [UNKNOWN] + sorted(found)))
    return sorted(t for t in found if t != UNKNOWN) + ([UNKNOWN] if UNKNOWN in found else [])


def _time_axis(table: pd.DataFrame) -> tuple[str, str]:
    if "time_h" in table.columns and table["time_h"].notna().all() and len(table):
        return "time_h", "time (h)"
    return "frame", "frame"


def plot_counts_over_time(counts: pd.DataFrame, classes: Sequence[str] | None = None) -> Figure:
    """Stacked areas of cells per type over time, one panel per sample (`count_types` table)."""
    samples = list(dict.fromkeys(counts["sample"])) if "sample" in counts.columns else [""]
    types = _type_order(counts["cell_type"], classes) if len(counts) else []
    colours = type_colours(types)
    xcol, xlabel = _time_axis(counts)
    fig, axes = plt.subplots(len(samples), 1, figsize=(7, 2.8 * len(samples) + 0.6), squeeze=False, sharex=True)
    for ax, sample in zip(axes[:, 0], samples):
        rows = counts[counts["sample"] == sample] if "sample" in counts.columns else counts
        wide = rows.pivot_table(index=xcol, columns="cell_type", values="n", aggfunc="sum", fill_value=0)
        wide = wide.reindex(columns=[t for t in types if t in wide.columns])
        if len(wide):
            ax.stackplot(wide.index.to_numpy(), wide.to_numpy().T, labels=list(wide.columns),
                         colors=[colours[t] for t in wide.columns], alpha=0.9)
        ax.set_ylabel("cells")
        ax.set_title(str(sample) or "counts per type", fontsize=10)
        ax.margins(x=0)
    axes[-1, 0].set_xlabel(xlabel)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[t]) for t in types]
    if handles:
        fig.legend(handles, types, loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    return fig


def _leaf_layout(s: pd.DataFrame) -> dict[int, float]:
    """y position per track: leaves in depth-first order, parents centred over their children."""
    children = s.groupby("parent_track_id")["track_id"].apply(list).to_dict()
    y: dict[int, float] = {}
    counter = [0.0]

    def place(tid: int) -> float:
        kids = sorted(children.get(tid, []))
        if not kids:
            y[tid] = counter[0]
            counter[0] += 1
        else:
            y[tid] = float(np.mean([place(k) for k in kids]))
        return y[tid]

    for root in sorted(s.loc[s["parent_track_id"] == 0, "track_id"]):
        place(root)
    return y


def plot_lineage_trees(tracks: pd.DataFrame, classes: Sequence[str] | None = None, *,
                       max_lineages: int = 12, sample: str | None = None) -> Figure:
    """The largest lineage trees (most tracks) of one sample: time to the right, one line per
    track coloured by its type in each frame, grey connectors from mother to daughters (dotted
    for a gap-closed continuation)."""
    rows = tracks
    if "sample" in tracks.columns and tracks["sample"].nunique() > 1:
        rows = tracks[tracks["sample"] == (sample if sample is not None else tracks["sample"].iloc[0])]
    fig, ax = plt.subplots(figsize=(8, 6))
    if len(rows) == 0:
        ax.set_title("no tracks")
        return fig
    s = track_summary(rows)
    keep = s.groupby("lineage_id").size().sort_values(ascending=False, kind="stable").index[:max_lineages]
    xcol, xlabel = _time_axis(rows)
    has_type = "cell_type" in rows.columns
    types = _type_order(rows["cell_type"], classes) if has_type else []
    colours = type_colours(types)
    offset = 0.0
    ticks, tick_labels = [], []
    for lid in sorted(keep):
        sub = s[s["lineage_id"] == lid]
        y = {k: v + offset for k, v in _leaf_layout(sub).items()}
        pts = rows[rows["track_id"].isin(sub["track_id"])].sort_values(["track_id", "frame"])
        for tid, g in pts.groupby("track_id"):
            xs = g[xcol].to_numpy(float)
            cols = [colours.get(str(t), (0, 0, 0)) for t in g["cell_type"]] if has_type else ["k"] * len(g)
            ax.scatter(xs, np.full(len(xs), y[tid]), c=cols, s=6, marker="s", linewidths=0)
            ax.plot(xs, np.full(len(xs), y[tid]), color="0.85", lw=0.6, zorder=0)
        ends = pts.groupby("track_id")[xcol].agg(["min", "max"])
        for _, row in sub[sub["parent_track_id"] > 0].iterrows():
            par = row["parent_track_id"]
            style = "-" if sub.set_index("track_id").at[par, "divides"] else ":"
            ax.plot([ends.at[par, "max"], ends.at[row["track_id"], "min"]], [y[par], y[row["track_id"]]],
                    style, color="0.5", lw=0.8, zorder=0)
        ticks.append(np.mean(list(y.values())))
        tick_labels.append(f"L{lid}")
        offset = max(y.values()) + 1.5
    ax.set_yticks(ticks, tick_labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(f"lineage trees (largest {len(keep)} of {s['lineage_id'].nunique()})", fontsize=10)
    if types:
        ax.legend([Line2D([], [], marker="s", ls="", color=colours[t]) for t in types], types,
                  fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_production_rates(rates: pd.DataFrame | Sequence[pd.DataFrame],
                          classes: Sequence[str] | None = None) -> Figure:
    """New cells per hour of each type, one bar per condition (mean over its samples, each
    sample a dot). Input: `production_rates` tables with a `condition` column (one table or
    several, e.g. one per sample)."""
    table = rates if isinstance(rates, pd.DataFrame) else pd.concat(list(rates), ignore_index=True)
    if "condition" not in table.columns:
        table = table.assign(condition="all")
    types = [t for t in _type_order(table["cell_type"], classes) if t in set(table["cell_type"])]
    conditions = list(dict.fromkeys(table["condition"]))
    colours = plt.get_cmap("Set2").colors
    width = 0.8 / max(len(conditions), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 1.3 * max(len(types), 1), 3.6))
    x = np.arange(len(types))
    for i, cond in enumerate(conditions):
        rows = table[table["condition"] == cond]
        per_type = rows.groupby("cell_type")["rate_per_h"]
        means = per_type.mean().reindex(types)
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, means.to_numpy(), width=width * 0.9, color=colours[i % len(colours)], label=str(cond))
        for j, t in enumerate(types):
            vals = rows.loc[rows["cell_type"] == t, "rate_per_h"].to_numpy(float)
            ax.scatter(np.full(len(vals), pos[j]), vals, color="k", s=8, zorder=3)
    ax.set_xticks(x, types, rotation=20, ha="right")
    ax.set_ylabel("new cells per hour")
    ax.set_title("production rate per type", fontsize=10)
    ax.legend(fontsize=8, frameon=False, title="condition", title_fontsize=8)
    fig.tight_layout()
    return fig
