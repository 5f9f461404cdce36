"""Tests between conditions over replicates: a two-sided permutation test of the difference of
means (`scipy.stats.permutation_test`, exact whenever the relabellings number at most
`n_resamples`), Holm-corrected over the family of tests of one measure.

Holm's step-down correction is written here (ten lines) because scipy has only the
Benjamini-Hochberg/Yekutieli FDR adjustment and statsmodels is not a dependency. With n1 and n2
replicates a permutation test cannot give a p-value below 1 / C(n1 + n2, n1) per side: 3 against 3
organoids never reach 0.05 (smallest two-sided p 0.1); the table gives that floor as `min_p`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from math import comb

import numpy as np
import pandas as pd

TEST_COLUMNS = ["condition_a", "condition_b", "n_a", "n_b", "mean_a", "mean_b", "difference",
                "p_value", "min_p", "p_holm", "note"]


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def permutation_pvalue(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                       n_resamples: int = 9999, seed: int = 0) -> float:
    """Two-sided permutation p-value of mean(a) - mean(b) (exact for small groups, else seeded)."""
    from scipy import stats  # here, not at import: scipy.stats takes ~0.5 s to load, and every
    # uncertainty job imports marrowflow.stats but only the summary tests

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    res = stats.permutation_test((a, b), _mean_difference, permutation_type="independent",
                                 alternative="two-sided", n_resamples=n_resamples, vectorized=True,
                                 rng=np.random.default_rng(seed))
    return float(res.pvalue)


def min_pvalue(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value a permutation test of n_a against n_b values can give."""
    return min(1.0, 2.0 / comb(n_a + n_b, n_a))


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else np.array([])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def condition_tests(table: pd.DataFrame, value: str, by: Sequence[str], *,
                    n_resamples: int = 9999, seed: int = 0) -> pd.DataFrame:
    """Every pair of conditions, per group `by`: the permutation test of `value`'s replicate means.

    `table`: one row per replicate and group (columns condition, replicate, *by, value); rows of
    one replicate are averaged first. A condition with fewer than 2 replicates is not tested (a
    note says so). `p_holm` adjusts over all tests of the table (one family per measure).
    """
    per_rep = table.groupby(["condition", *by, "replicate"], sort=True, dropna=False)[value].mean().reset_index()
    conditions = sorted(per_rep["condition"].unique())
    rows = []
    for key, sub in per_rep.groupby(list(by), sort=True, dropna=False) if by else [((), per_rep)]:
        key = key if isinstance(key, tuple) else (key,)
        for ca, cb in combinations(conditions, 2):
            a = sub.loc[sub["condition"] == ca, value].dropna().to_numpy(dtype=float)
            b = sub.loc[sub["condition"] == cb, value].dropna().to_numpy(dtype=float)
            if min(len(a), len(b)) < 2:
                p, floor = np.nan, np.nan
                note = "fewer than 2 replicates in a condition: no test"
            else:
                p, floor = permutation_pvalue(a, b, n_resamples=n_resamples, seed=seed), min_pvalue(len(a), len(b))
                note = "" if floor < 0.05 else f"{len(a)} vs {len(b)} replicates cannot reach p < 0.05"
            rows.append((*key, ca, cb, len(a), len(b), _safe_mean(a), _safe_mean(b),
                         _safe_mean(a) - _safe_mean(b), p, floor, note))
    out = pd.DataFrame(rows, columns=[*by, *[c for c in TEST_COLUMNS if c != "p_holm"]])
    out.insert(out.columns.get_loc("note"), "p_holm", holm(out["p_value"].to_numpy()) if len(out) else [])
    return out


def _safe_mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else np.nan
