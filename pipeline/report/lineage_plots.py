"""Figures of lineage results: counts over time, lineage trees, production rates.

Every function takes tables and returns a `matplotlib.figure.Figure` built without pyplot (no
backend is chosen or switched); saving is the caller's job (`marrowflow.report.save_figure`).
Types are coloured by `marrowflow.report.palette`, as in the napari plugin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from marrowflow.lineage import track_summary, tree_layout
from marrowflow.report.figures import mark_no_cells
from marrowflow.report.palette import UNKNOWN_COLOUR, type_colours, type_order

__all__ = ["draw_lineage_trees", "plot_counts_over_time", "plot_lineage_trees", "plot_production_rates"]


def _time_axis(table: pd.DataFrame) -> tuple[str, str]:
    if "time_h" in table.columns and table["time_h"].notna().all() and len(table):
        return "time_h", "time (h)"
    return "frame", "frame"


def plot_counts_over_time(counts: pd.DataFrame, classes: Sequence[str] | None = None) -> Figure:
    """Stacked areas of cells per type over time, one panel per sample (`count_types` table)."""
    samples = list(dict.fromkeys(counts["sample"])) if "sample" in counts.columns else [""]
    samples = samples or [""]
    types = type_order(counts["cell_type"], classes) if len(counts) else []
    colours = type_colours(types)
    xcol, xlabel = _time_axis(counts)
    fig = Figure(figsize=(7, 2.8 * len(samples) + 0.6))
    axes = fig.subplots(len(samples), 1, squeeze=False, sharex=True)
    for ax, sample in zip(axes[:, 0], samples):
        rows = counts[counts["sample"] == sample] if "sample" in counts.columns else counts
        wide = rows.pivot_table(index=xcol, columns="cell_type", values="n", aggfunc="sum", fill_value=0)
        wide = wide.reindex(columns=[t for t in types if t in wide.columns])
        if not len(wide) or not wide.to_numpy().any():
            mark_no_cells(ax)
        else:
            ax.stackplot(wide.index.to_numpy(), wide.to_numpy().T, labels=list(wide.columns),
                         colors=[colours[t] for t in wide.columns], alpha=0.9)
        ax.set_ylabel("cells")
        ax.set_title(str(sample) or "counts per type", fontsize=10)
        ax.margins(x=0)
    axes[-1, 0].set_xlabel(xlabel)
    handles = [Rectangle((0, 0), 1, 1, color=colours[t]) for t in types]
    if handles:
        fig.legend(handles, types, loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    return fig


END_SYMBOLS = {"died": ("X", "death"), "left_field": (">", "left the field"), "lost": ("o", "lost")}
"""Marker and legend text of the track ends drawn on the trees (`cell_events` end causes)."""


def draw_lineage_trees(ax: Axes, tracks: pd.DataFrame, layout: pd.DataFrame, colours: Mapping[str, str], *,
                       time: str = "frame", selected: int | None = None, marker_size: float = 6,
                       events: pd.DataFrame | None = None, onset_markers: Mapping[str, str] | None = None) -> None:
    """Draw the trees of `layout` (`marrowflow.lineage.tree_layout` rows) on `ax`, time (column
    `time` of `tracks`, the cells) to the right: each track a row of squares, one per cell,
    coloured by its type in that frame; grey connectors from mother to daughters, dotted for a
    track continued after a gap (a parent with one child); the `selected` track on a dark line.
    With `events` (`cell_events` rows): a bar in the lineage's colour at each marker onset of
    `onset_markers` (lineage -> marker) and a black symbol at each death, exit or lost end
    (`END_SYMBOLS`)."""
    y = layout.set_index("track_id")["y"]
    pts = tracks[tracks["track_id"].isin(y.index)].sort_values(["track_id", "frame"], kind="stable")
    for tid, g in pts.groupby("track_id", sort=True):
        xs, ys = g[time].to_numpy(float), np.full(len(g), y[tid])
        cols = [colours.get(str(t), UNKNOWN_COLOUR) for t in g["cell_type"]] if "cell_type" in g else "k"
        ax.scatter(xs, ys, c=cols, s=marker_size, marker="s", linewidths=0)
        ax.plot(xs, ys, color="0.15" if tid == selected else "0.85", lw=2.5 if tid == selected else 0.6, zorder=0)
    ends = pts.groupby("track_id")[time].agg(["min", "max"])
    n_children = layout["parent_track_id"].value_counts()
    links = layout.loc[layout["parent_track_id"].isin(y.index), ["track_id", "parent_track_id"]]
    for child, parent in links.to_numpy():
        ax.plot([ends.at[parent, "max"], ends.at[child, "min"]], [y[parent], y[child]],
                "-" if n_children[parent] >= 2 else ":", color="0.5", lw=0.8, zorder=0)
    if events is not None:
        _draw_events(ax, events[events["track_id"].isin(y.index)], y, colours, time, onset_markers or {},
                     marker_size)


def _draw_events(ax: Axes, events: pd.DataFrame, y: pd.Series, colours: Mapping[str, str], time: str,
                 onset_markers: Mapping[str, str], marker_size: float) -> None:
    rows = y.loc[events["track_id"]].to_numpy(float)
    for lineage, marker in onset_markers.items():
        at = events[f"onset_{marker}_h" if time == "time_h" else f"onset_{marker}_subframe"].to_numpy(float)
        ok = np.isfinite(at)
        ax.scatter(at[ok], rows[ok], marker="|", s=marker_size * 12, linewidths=1.6,
                   color=colours.get(lineage, UNKNOWN_COLOUR), zorder=3)
    end = events["end_h" if time == "time_h" else "end"].to_numpy(float)
    for cause, (symbol, _) in END_SYMBOLS.items():
        hit = (events["end_cause"] == cause).to_numpy()
        ax.scatter(end[hit], rows[hit], marker=symbol, s=marker_size * 5, color="k", linewidths=0, zorder=4)


def plot_lineage_trees(tracks: pd.DataFrame, classes: Sequence[str] | None = None, *,
                       max_lineages: int = 12, sample: str | None = None, events: pd.DataFrame | None = None,
                       onset_markers: Mapping[str, str] | None = None) -> Figure:
    """The largest lineage trees (most tracks) of one sample, drawn by `draw_lineage_trees`
    one below the other (labelled L<lineage_id>), with a legend of the types (and, with
    `events`, of the onset bars and end symbols)."""
    rows = tracks
    if "sample" in tracks.columns and tracks["sample"].nunique() > 1:
        rows = tracks[tracks["sample"] == (sample if sample is not None else tracks["sample"].iloc[0])]
    fig = Figure(figsize=(8, 6))
    ax = fig.add_subplot()
    if len(rows) == 0:
        ax.set_title("lineage trees", fontsize=10)
        mark_no_cells(ax)
        return fig
    s = track_summary(rows)
    keep = s.groupby("lineage_id").size().sort_values(ascending=False, kind="stable").index[:max_lineages]
    layout = tree_layout(s[s["lineage_id"].isin(keep)])
    xcol, xlabel = _time_axis(rows)
    types = type_order(rows["cell_type"], classes) if "cell_type" in rows.columns else []
    colours = type_colours(types)
    if events is not None and "sample" in events.columns and "sample" in rows.columns:
        events = events[events["sample"].isin(rows["sample"].unique())]
    draw_lineage_trees(ax, rows, layout, colours, time=xcol, events=events, onset_markers=onset_markers)
    ticks = layout.groupby("lineage_id")["y"].mean()
    ax.set_yticks(ticks.to_numpy(), [f"L{lid}" for lid in ticks.index], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(f"lineage trees (largest {len(keep)} of {s['lineage_id'].nunique()})", fontsize=10)
    handles = [Line2D([], [], marker="s", ls="", color=colours[t]) for t in types]
    names = list(types)
    if events is not None:
        handles += [Line2D([], [], marker="|", ls="", color="0.3", markersize=8)]
        names += ["marker onset"]
        handles += [Line2D([], [], marker=m, ls="", color="k") for m, _ in END_SYMBOLS.values()]
        names += [text for _, text in END_SYMBOLS.values()]
    if handles:
        ax.legend(handles, names, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
    types = [t for t in type_order(table["cell_type"], classes) if t in set(table["cell_type"])]
    conditions = list(dict.fromkeys(table["condition"]))
    colours = matplotlib.colormaps["Set2"].colors
    width = 0.8 / max(len(conditions), 1)
    fig = Figure(figsize=(1.2 + 1.3 * max(len(types), 1), 3.6))
    ax = fig.add_subplot()
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
    if not np.isfinite(table["rate_per_h"].to_numpy(float)).any():
        mark_no_cells(ax, "no rates (no cells, or one frame only)")
    ax.set_ylabel("new cells per hour")
    ax.set_title("production rate per type", fontsize=10)
    ax.legend(fontsize=8, frameon=False, title="condition", title_fontsize=8)
    fig.tight_layout()
    return fig
