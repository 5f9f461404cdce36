"""Across-sample summary: every sample's counts in one table; per condition, estimates over
replicate organoids with bootstrap intervals and permutation tests between conditions
(`marrowflow.stats`); counts per condition over time with their interval bands.

A sample is one field of one organoid: the sample sheet's `replicate` names the organoid (default:
the sample itself), so several fields of one organoid are averaged into one replicate value and
the intervals are over organoids, never over cells or fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from marrowflow.io.checks import warn_if_no_cells
from marrowflow.report.figures import mark_no_cells
from marrowflow.report.palette import type_order
from marrowflow.stats import UncertaintyParams, condition_tests, replicate_estimates

COUNT_COLUMNS = ["sample", "frame", "time_h", "cell_type", "n"]
DESIGN_COLUMNS = ["condition", "replicate", "batch"]
VALUE_COLUMNS = ["condition", "replicate", "measure", "cell_type", "time", "value"]
TESTED = ("final_count", "production_rate")


def combine_counts(tables: Sequence[pd.DataFrame], conditions: Mapping[str, str], *,
                   replicates: Mapping[str, str] | None = None,
                   batches: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Concatenate per-sample `counts.csv` tables and add each sample's `condition`, `replicate`
    (default: the sample's name) and `batch` (default: empty)."""
    if not tables:
        return pd.DataFrame(columns=[*DESIGN_COLUMNS, *COUNT_COLUMNS])
    for table in tables:
        if not table["n"].sum():
            sample = table["sample"].iloc[0] if len(table) else "a sample"
            warn_if_no_cells(0, f"summary, {sample}", "its counts are empty")
    combined = pd.concat([t[COUNT_COLUMNS] for t in tables], ignore_index=True)
    unknown = sorted(set(combined["sample"]) - set(conditions))
    if unknown:
        raise ValueError(f"samples {unknown} have no condition")
    combined.insert(0, "condition", combined["sample"].map(conditions))
    replicate = combined["sample"].map(replicates or {}).fillna("")
    combined.insert(1, "replicate", replicate.where(replicate != "", combined["sample"]))
    combined.insert(2, "batch", combined["sample"].map(batches or {}).fillna(""))
    return combined.sort_values(["condition", "sample", "frame", "cell_type"], kind="stable").reset_index(drop=True)


def _time_column(combined: pd.DataFrame) -> str:
    return "time_h" if combined["time_h"].notna().all() else "frame"


def replicate_values(combined: pd.DataFrame, rates: pd.DataFrame | None = None) -> pd.DataFrame:
    """The per-replicate values the summary estimates and tests: `count` per type and time, the
    `final_count` per type (each sample's last frame) and the `production_rate` per type
    (rate_per_h of production_rates.csv). Columns condition, replicate, measure, cell_type,
    time (NaN for the last two), value; one row per sample (fields are averaged later)."""
    time_col = _time_column(combined)
    counts = combined.assign(measure="count", time=combined[time_col].astype(float), value=combined["n"].astype(float))
    last = combined[combined["frame"] == combined.groupby("sample")["frame"].transform("max")]
    final = last.assign(measure="final_count", time=np.nan, value=last["n"].astype(float))
    parts = [counts[VALUE_COLUMNS], final[VALUE_COLUMNS]]
    rates = None if rates is None else rates[rates["sample"].notna()]  # an empty movie's table has no sample
    if rates is not None and len(rates):
        design = combined.drop_duplicates("sample").set_index("sample")
        unknown = sorted(set(rates["sample"]) - set(design.index))
        if unknown:
            raise ValueError(f"production rates of samples {unknown} have no counts")
        rate = rates.assign(condition=rates["sample"].map(design["condition"]),
                            replicate=rates["sample"].map(design["replicate"]),
                            measure="production_rate", time=np.nan, value=rates["rate_per_h"].astype(float))
        parts.append(rate[VALUE_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def condition_estimates(values: pd.DataFrame, params: UncertaintyParams | None = None) -> pd.DataFrame:
    """Per measure, type, time and condition: the mean over replicates with its bootstrap
    interval (`stats.replicate_estimates`; one replicate: no interval, a note)."""
    params = params or UncertaintyParams()
    return replicate_estimates(values, "value", ["measure", "cell_type", "time"], confidence=params.confidence,
                               n_resamples=params.n_resamples, seed=params.seed)


def condition_test_table(values: pd.DataFrame, params: UncertaintyParams | None = None) -> pd.DataFrame:
    """Permutation tests between every pair of conditions of the final counts and the production
    rates per type; Holm-corrected within each measure (`stats.condition_tests`)."""
    params = params or UncertaintyParams()
    parts = []
    for measure in TESTED:
        sub = values[values["measure"] == measure]
        if sub.empty:
            continue
        tests = condition_tests(sub, "value", ["cell_type"], n_resamples=params.n_resamples, seed=params.seed)
        tests.insert(0, "measure", measure)
        parts.append(tests)
    if not parts:
        return pd.DataFrame(columns=["measure", "cell_type"])
    return pd.concat(parts, ignore_index=True)


def condition_means(combined: pd.DataFrame) -> pd.DataFrame:
    """Mean, min and max count per condition, time point and type across that condition's samples."""
    time_col = _time_column(combined)
    grouped = combined.groupby(["condition", "cell_type", time_col])["n"]
    out = grouped.agg(mean="mean", low="min", high="max", n_samples="count").reset_index()
    return out.rename(columns={time_col: "time"})


def plot_counts_by_condition(combined: pd.DataFrame, estimates: pd.DataFrame | None = None) -> Figure:
    """One panel per cell type: count over time, one line per condition (the mean over
    replicates), its band the bootstrap interval over replicates; a condition with one replicate
    is a dashed line without band. `estimates`: `condition_estimates` (computed when None)."""
    if estimates is None:
        estimates = condition_estimates(replicate_values(combined))
    stats = estimates[estimates["measure"] == "count"]
    types = sorted(stats["cell_type"].unique()) or ["(no cells)"]
    ncols = min(3, len(types))
    nrows = int(np.ceil(len(types) / ncols))
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, cell_type in zip(axes.flat, types):
        for condition, sub in stats[stats["cell_type"] == cell_type].groupby("condition"):
            n = int(sub["n_replicates"].max())
            line, = ax.plot(sub["time"], sub["estimate"], label=f"{condition} (n={n})",
                            linestyle="-" if n > 1 else "--")
            if n > 1:
                ax.fill_between(sub["time"], sub["ci_low"], sub["ci_high"], color=line.get_color(), alpha=0.2)
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
    fig.suptitle("Cells per type over time, by condition (band: 95 % bootstrap interval over replicates)")
    fig.tight_layout()
    return fig


def plot_condition_estimates(estimates: pd.DataFrame, classes: Sequence[str] | None = None) -> Figure:
    """Final counts and production rates per type (in the palette's order of `classes`): each
    condition's mean over replicates with its bootstrap interval as an error bar (one replicate:
    an open marker, no bar)."""
    panels = [("final_count", "cells at the last frame"), ("production_rate", "new cells per hour")]
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    conditions = sorted(estimates["condition"].unique())
    width = 0.8 / max(len(conditions), 1)
    for ax, (measure, ylabel) in zip(axes, panels):
        sub = estimates[estimates["measure"] == measure]
        types = type_order(sub["cell_type"].unique(), classes)
        for i, condition in enumerate(conditions):
            rows = sub[sub["condition"] == condition].set_index("cell_type").reindex(types)
            x = np.arange(len(types)) + (i - (len(conditions) - 1) / 2) * width
            y = rows["estimate"].to_numpy(dtype=float)
            err = np.vstack([y - rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float) - y])
            single = rows["n_replicates"].fillna(0).to_numpy() < 2
            bars = ax.errorbar(x[~single], y[~single], yerr=err[:, ~single], fmt="o", capsize=3, label=condition)
            ax.plot(x[single], y[single], "o", mfc="none", color=bars[0].get_color(),
                    label=None if (~single).any() else f"{condition} (one replicate)")
        ax.set_xticks(np.arange(len(types)), types, rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(measure.replace("_", " "))
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, title="condition", loc="center right")
    fig.suptitle("Per condition: mean over replicates, 95 % bootstrap interval")
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    return fig
