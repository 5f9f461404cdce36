"""Figures of the per-cell lineage measures: fate by generation, sister-pair symmetry.

Like `marrowflow.report.lineage_plots`: tables in, a `matplotlib.figure.Figure` out (no pyplot);
types coloured by `marrowflow.report.palette`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from marrowflow.report.figures import mark_no_cells
from marrowflow.report.palette import type_colours, type_order

__all__ = ["plot_fate_by_generation", "plot_sister_pairs"]


def plot_fate_by_generation(table: pd.DataFrame, classes: Sequence[str] | None = None) -> Figure:
    """Stacked bars of the fraction of each type per generation, one panel per sample
    (`fate_by_generation` table), the number of cells above each bar."""
    samples = list(dict.fromkeys(table["sample"])) or [""]
    types = type_order(table["cell_type"], classes) if len(table) else []
    colours = type_colours(types)
    fig = Figure(figsize=(6, 2.6 * len(samples) + 0.6))
    axes = fig.subplots(len(samples), 1, squeeze=False)
    for ax, sample in zip(axes[:, 0], samples):
        rows = table[table["sample"] == sample]
        wide = rows.pivot_table(index="generation", columns="cell_type", values="fraction", fill_value=0.0)
        n_cells = rows.groupby("generation")["n_cells"].first()
        ax.set_title(f"{sample} fate by generation".strip(), fontsize=10)
        ax.set_ylabel("fraction of cells")
        if not len(wide) or not n_cells.sum():
            mark_no_cells(ax)
            continue
        bottom = np.zeros(len(wide))
        x = wide.index.to_numpy()
        for t in [t for t in types if t in wide.columns]:
            ax.bar(x, wide[t].to_numpy(), bottom=bottom, color=colours[t], width=0.8)
            bottom += wide[t].to_numpy()
        for gen, n in n_cells.items():
            ax.text(gen, 1.01, str(int(n)), ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, 1.12)
        ax.set_xticks(x)
    axes[-1, 0].set_xlabel("generation (divisions since the founder; n cells above)")
    if types:
        fig.legend([Rectangle((0, 0), 1, 1, color=colours[t]) for t in types], types, loc="upper right",
                   fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    return fig


def plot_sister_pairs(pairs: pd.DataFrame, onset_markers: Mapping[str, str] | None = None,
                      classes: Sequence[str] | None = None) -> Figure:
    """Sister-pair symmetry (`sister_pairs` table): cycle time of one sister against the other's
    (same final type filled, different open), and the onset time from birth of each marker of
    `onset_markers` (lineage -> marker), in the lineage's colour (type order from `classes`)."""
    onset_markers = dict(onset_markers or {})
    fig = Figure(figsize=(8, 3.8))
    ax_cycle, ax_onset = fig.subplots(1, 2)
    for ax, title in ((ax_cycle, "cycle time (h)"), (ax_onset, "marker onset after birth (h)")):
        ax.set_title(f"sisters: {title}", fontsize=10)
        ax.set_xlabel("sister a")
        ax.set_ylabel("sister b")
    both = pairs.dropna(subset=["cycle_h_a", "cycle_h_b"])
    if len(both):
        same = both["same_fate"].to_numpy(bool)
        ax_cycle.scatter(both["cycle_h_a"][same], both["cycle_h_b"][same], s=14, color="0.2", label="same fate")
        ax_cycle.scatter(both["cycle_h_a"][~same], both["cycle_h_b"][~same], s=14, facecolors="none",
                         edgecolors="0.2", label="different fate")
        ax_cycle.legend(fontsize=7, frameon=False)
        _diagonal(ax_cycle, both[["cycle_h_a", "cycle_h_b"]].to_numpy(float))
    else:
        mark_no_cells(ax_cycle, "no pair of complete cycles")
    colours = type_colours(type_order(onset_markers, classes))
    drawn = []
    for lineage, m in onset_markers.items():
        cols = [f"onset_{m}_a_h", f"onset_{m}_b_h"]
        if not set(cols) <= set(pairs.columns):
            continue
        xy = pairs[cols].dropna().to_numpy(float)
        if len(xy):
            ax_onset.scatter(xy[:, 0], xy[:, 1], s=14, color=colours[lineage], label=f"{lineage} ({m})")
            drawn.append(xy)
    if drawn:
        _diagonal(ax_onset, np.vstack(drawn))
        ax_onset.legend(fontsize=7, frameon=False)
    else:
        mark_no_cells(ax_onset, "no pair with both onsets")
    fig.tight_layout()
    return fig


def _diagonal(ax, xy: np.ndarray) -> None:
    lo, hi = float(np.nanmin(xy)), float(np.nanmax(xy))
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls="--", zorder=0)
