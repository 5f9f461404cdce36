"""Across-sample summary: every sample's counts in one table, and counts per condition over time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from marrowflow.io.checks import warn_if_no_cells
from marrowflow.report.figures import mark_no_cells

COUNT_COLUMNS = ["sample", "frame", "time_h", "cell_type", "n"]


def combine_counts(tables: Sequence[pd.DataFrame], conditions: Mapping[str, str]) -> pd.DataFrame:
    """Concatenate per-sample `counts.csv` tables and add each sample's `condition`."""
    if not tables:
        return pd.DataFrame(columns=["condition", *COUNT_COLUMNS])
    for table in tables:
        if not table["n"].sum():
            sample = table["sample"].iloc[0] if len(table) else "a sample"
            warn_if_no_cells(0, f"summary, {sample}", "its counts are empty")
    combined = pd.concat([t[COUNT_COLUMNS] for t in tables], ignore_index=True)
    unknown = sorted(set(combined["sample"]) - set(conditions))
    if unknown:
        raise ValueError(f"samples {unknown} have no condition")
    combined.insert(0, "condition", combined["sample"].map(conditions))
    return combined.sort_values(["condition", "sample", "frame", "cell_type"], kind="stable").reset_index(drop=True)


def condition_means(combined: pd.DataFrame) -> pd.DataFrame:
    """Mean, min and max count per condition, time point and type across that condition's samples."""
    time_col = "time_h" if combined["time_h"].notna().all() else "frame"
    grouped = combined.groupby(["condition", "cell_type", time_col])["n"]
    out = grouped.agg(mean="mean", low="min", high="max", n_samples="count").reset_index()
    return out.rename(columns={time_col: "time"})


def plot_counts_by_condition(combined: pd.DataFrame) -> Figure:
    """One panel per cell type: count over time, one line per condition (band = sample range)."""
    stats = condition_means(combined)
    types = sorted(stats["cell_type"].unique()) or ["(no cells)"]
    ncols = min(3, len(types))
    nrows = int(np.ceil(len(types) / ncols))
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, cell_type in zip(axes.flat, types):
        for condition, sub in stats[stats["cell_type"] == cell_type].groupby("condition"):
            line, = ax.plot(sub["time"], sub["mean"], label=condition)
            ax.fill_between(sub["time"], sub["low"], sub["high"], color=line.get_color(), alpha=0.2)
        ax.set_title(cell_type)
        ax.set_ylabel("cells")
    if not combined["n"].sum():
        mark_no_cells(axes.flat[0])
    for ax in axes.flat[len(types):]:
        ax.set_visible(False)
    xlabel = "time (h)" if combined["time_h"].notna().all() else "frame"
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, title="condition", loc="upper right")
    fig.suptitle("Cells per type over time, by condition")
    fig.tight_layout()
    return fig
