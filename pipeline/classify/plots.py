"""Figure: each gated feature's distribution with the threshold used (per sample); a matplotlib
`Figure` built without pyplot (no backend switch)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from marrowflow.classify.cell_types import FRAME_NORM_SUFFIX, resolve_features
from marrowflow.classify.thresholds import normalize_per_frame


def plot_marker_thresholds(cells: pd.DataFrame, thresholds: pd.DataFrame) -> Figure:
    """One panel per feature of `thresholds`: histogram (log x axis when positive) per sample,
    with a dashed line at each sample's threshold and its method in the legend. Features whose
    cutoffs were found on frame-normalised values are shown normalised the same way."""
    names = list(dict.fromkeys(thresholds["feature"])) if len(thresholds) else []
    n = max(len(names), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    features = resolve_features(cells, names)
    groups = cells["sample"].astype(str) if "sample" in cells.columns else pd.Series("all", index=cells.index)
    normed = sorted(set(thresholds.loc[thresholds["method"].astype(str).str.endswith(FRAME_NORM_SUFFIX), "feature"])
                    & set(features.columns)) if len(thresholds) else []
    if normed and "frame" in cells.columns:
        features = normalize_per_frame(features, normed, cells["frame"], groups)
    for ax, name in zip(axes.ravel(), names):
        ax.set_title(name)
        if name not in features.columns:
            ax.text(0.5, 0.5, "not in this table", ha="center", va="center", transform=ax.transAxes)
            continue
        x_all = features[name].to_numpy(dtype=float)
        finite = x_all[np.isfinite(x_all)]
        if finite.size == 0:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
            continue
        log = finite.min() > 0
        bins = np.geomspace(finite.min(), finite.max(), 60) if log and finite.max() > finite.min() else 60
        rows_t = thresholds[thresholds["feature"] == name]
        for i, (group, idx) in enumerate(groups.groupby(groups, sort=True).groups.items()):
            color = f"C{i % 10}"
            x = features.loc[idx, name].to_numpy(dtype=float)
            ax.hist(x[np.isfinite(x)], bins=bins, histtype="step", color=color, label=str(group))
            for t in rows_t[rows_t["sample"].astype(str) == str(group)].itertuples(index=False):
                ax.axvline(t.threshold, color=color, ls="--", label=f"{t.method}: {t.threshold:.3g}")
        pooled = ~rows_t["sample"].astype(str).isin(set(groups.astype(str)))  # e.g. threshold_scope: all
        for t in rows_t[pooled].itertuples(index=False):
            ax.axvline(t.threshold, color="k", ls="--", label=f"{t.sample}, {t.method}: {t.threshold:.3g}")
        if log:
            ax.set_xscale("log")
        ax.set_xlabel("value, frame-normalised" if name in normed else "value")
        ax.set_ylabel("cells")
        ax.legend(fontsize="x-small")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    if not len(cells):
        axes[0, 0].text(0.5, 0.5, "no cells", ha="center", va="center", transform=axes[0, 0].transAxes)
    elif not names:
        axes[0, 0].text(0.5, 0.5, "no thresholds (no gated features)", ha="center", va="center")
    fig.tight_layout()
    return fig
