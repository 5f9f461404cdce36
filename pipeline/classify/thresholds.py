"""Automatic per-feature thresholds (Otsu or a two-component Gaussian mixture) and per-frame
intensity normalisation against photobleaching.

Thresholds of marker intensities are found on a log scale (``log(x)``; when some values are <= 0,
``log(x - min + delta)`` with ``delta`` 1% of the 1st-99th percentile range) and reported back in
the feature's own units. Keyword defaults are those of the config's `classification` section (the
schema's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.filters import threshold_otsu

from marrowflow.errors import ConfigError
from marrowflow.schema import section_defaults

_DEFAULTS = section_defaults("classification")
METHODS = ("otsu", "gmm")
UNIMODAL_Z = 4.0  # robust SDs above the median: the cut of a marker without a bright population
THRESHOLD_COLUMNS = ["sample", "feature", "threshold", "method", "n_cells"]


def _log_transform(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Return (log values, shift, delta) with log values = log(values - shift + delta)."""
    if values.min() > 0:
        return np.log(values), 0.0, 0.0
    lo, hi = np.percentile(values, [1, 99])
    shift = float(values.min())
    delta = max(0.01 * float(hi - lo), 1e-12)
    return np.log(values - shift + delta), shift, delta


def _gmm_cut(values: np.ndarray, seed: int) -> float:
    """Point between the two means of a 2-component Gaussian mixture where the posteriors cross."""
    from sklearn.mixture import GaussianMixture  # here, not at import: scikit-learn takes ~0.7 s to load

    gmm = GaussianMixture(n_components=2, random_state=seed).fit(values[:, None])
    means = np.sort(gmm.means_.ravel())
    if np.isclose(means[0], means[1]):
        return threshold_otsu(values)
    grid = np.linspace(means[0], means[1], 512)
    post = gmm.predict_proba(grid[:, None])
    high = int(np.argmax(gmm.means_.ravel()))
    above = np.nonzero(post[:, high] >= 0.5)[0]
    return float(grid[above[0]]) if len(above) else float(means.mean())


def separation(values: np.ndarray, cut: float) -> float:
    """Ashman's D of the two groups a cut makes: sqrt(2) |mean1 - mean2| / sqrt(var1 + var2).

    Two groups with D > 2 are cleanly separated; a split through a single population gives
    about 2 or less (a single Gaussian split at its mean: 2.1).
    """
    low, high = values[values <= cut], values[values > cut]
    if len(low) < 2 or len(high) < 2:
        return 0.0
    spread = np.sqrt(low.var() + high.var())
    return float(np.sqrt(2) * abs(high.mean() - low.mean()) / spread) if spread > 0 else float("inf")


def fold_change(values: np.ndarray, cut: float) -> float:
    """Mean of the values above `cut` over the mean of those at or below it (inf when the dim
    side's mean is not positive, e.g. background-corrected negatives)."""
    low, high = values[values <= cut], values[values > cut]
    if len(low) == 0 or len(high) == 0:
        return 0.0
    return float(high.mean() / low.mean()) if low.mean() > 0 else float("inf")


def auto_threshold_info(values: np.ndarray, method: str = _DEFAULTS["threshold_method"], *,
                        log: bool = _DEFAULTS["threshold_log"], seed: int = 0,
                        min_separation: float = _DEFAULTS["min_separation"],
                        min_fold_change: float = _DEFAULTS["min_fold_change"]) -> tuple[float, str]:
    """(cutoff, how it was found) separating the dim and the bright cells of one feature.

    `method` is "otsu" or "gmm" (two-component Gaussian mixture, cut where the posteriors cross).
    With `log`, the cut is searched on log intensity and returned in the input's units. When the
    two sides of the cut are not separated by at least `min_separation` (Ashman's D, see
    `separation`), or the bright side is less than `min_fold_change` times as bright as the dim
    side (in the input's units: a flat spread of one population is well separated by Ashman's D
    but not by brightness), the values hold one population, not two: the cut becomes its upper
    fence, median + 4 robust SD (only outliers far above are positive), and the method reads
    "<method>-unimodal". NaNs are ignored; returns NaN when fewer than two distinct values remain.
    """
    if method not in METHODS:
        raise ConfigError(f"classification.threshold_method is {method!r}; allowed: {', '.join(METHODS)}")
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(np.unique(x)) < 2:
        return float("nan"), method
    if log:
        lx, shift, delta = _log_transform(x)
    else:
        lx, shift, delta = x, 0.0, 0.0
    cut = threshold_otsu(lx) if method == "otsu" else _gmm_cut(lx, seed)
    label = method
    cut_in_units = float(np.exp(cut) + shift - delta) if log else float(cut)
    if separation(lx, cut) < min_separation or fold_change(x, cut_in_units) < min_fold_change:
        med = np.median(lx)
        cut = med + UNIMODAL_Z * 1.4826 * np.median(np.abs(lx - med))
        label = f"{method}-unimodal"
    return (float(np.exp(cut) + shift - delta) if log else float(cut)), label


def auto_threshold(values: np.ndarray, method: str = _DEFAULTS["threshold_method"], *,
                   log: bool = _DEFAULTS["threshold_log"], seed: int = 0,
                   min_separation: float = _DEFAULTS["min_separation"],
                   min_fold_change: float = _DEFAULTS["min_fold_change"]) -> float:
    """The cutoff of `auto_threshold_info` alone."""
    return auto_threshold_info(values, method, log=log, seed=seed, min_separation=min_separation,
                               min_fold_change=min_fold_change)[0]


def compute_thresholds(features: pd.DataFrame, names: list[str], *, method: str = _DEFAULTS["threshold_method"],
                       groups: pd.Series | None = None, manual: dict[str, float] | None = None,
                       log: bool = _DEFAULTS["threshold_log"], min_cells: int = _DEFAULTS["min_cells_for_threshold"],
                       min_separation: float = _DEFAULTS["min_separation"],
                       min_fold_change: float = _DEFAULTS["min_fold_change"], seed: int = 0) -> pd.DataFrame:
    """Threshold of each feature in `names`, per group of rows (e.g. per sample).

    `features` holds one column per feature name; `groups` labels each row's group (None: one
    group called "all"). `manual` cutoffs win over automatic ones (method "manual"). A group with
    fewer than `min_cells` finite values gets the threshold of all rows pooled
    (method "<method>-pooled"). See `auto_threshold_info` for `min_separation` and
    `min_fold_change`. Returns columns sample, feature, threshold, method, n_cells.
    """
    manual = manual or {}
    groups = pd.Series("all", index=features.index) if groups is None else groups
    rows = []
    for name in names:
        pooled = None
        for group, idx in groups.groupby(groups, sort=True).groups.items():
            x = features.loc[idx, name].to_numpy(dtype=float)
            n = int(np.isfinite(x).sum())
            if name in manual:
                rows.append((group, name, float(manual[name]), "manual", n))
                continue
            if n >= min_cells:
                rows.append((group, name, *auto_threshold_info(x, method, log=log, seed=seed,
                                                               min_separation=min_separation,
                                                               min_fold_change=min_fold_change), n))
                continue
            if pooled is None:
                pooled = auto_threshold_info(features[name].to_numpy(dtype=float), method, log=log, seed=seed,
                                             min_separation=min_separation, min_fold_change=min_fold_change)
            rows.append((group, name, pooled[0], f"{pooled[1]}-pooled", n))
    return pd.DataFrame(rows, columns=THRESHOLD_COLUMNS)


def normalize_per_frame(features: pd.DataFrame, names: list[str], frames: pd.Series,
                        groups: pd.Series | None = None) -> pd.DataFrame:
    """Divide each feature by its per-frame median (within each group), times the group's median.

    Compensates a multiplicative intensity loss over time (photobleaching) while keeping the
    feature's units. Returns a new frame; the input is not modified.
    """
    out = features.copy()
    groups = pd.Series("all", index=features.index) if groups is None else groups
    for name in names:
        x = features[name].astype(float)
        frame_med = x.groupby([groups, frames]).transform("median")
        group_med = x.groupby(groups).transform("median")
        out[name] = x / frame_med.where(frame_med > 0) * group_med
    return out
