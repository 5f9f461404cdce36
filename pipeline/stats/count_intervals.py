"""Intervals of each per-type count per frame from the calls' own scores.

Each cell's call is right with probability `call_probability` (from `type_score`: a gate's
support s in 0..1 is a margin, 0 at the threshold, so p = (1 + s) / 2; a model's or a track
vote's score is already a share, used as it is; a reviewed type is certain). A wrong call is
spread evenly over the other types (the scores say nothing about which). The count of a type is
then a sum of independent Bernoullis, a Poisson-binomial variable, whose exact central interval
is given. The scores are not calibrated probabilities: the audit (`marrowflow.review.audit`)
measures the real error rates. The Poisson-binomial PMF is computed here by convolution because
`scipy.stats.poisson_binom` fails above 62 probabilities (numpy's ufunc operand limit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from marrowflow.contract import UNKNOWN

INTERVAL_COLUMNS = ["sample", "frame", "time_h", "cell_type", "n", "expected", "ci_low", "ci_high"]
MARGIN_SOURCES = ("rule",)


def call_probability(cells: pd.DataFrame) -> np.ndarray:
    """Probability that each cell's `cell_type` is right, from `type_score` and `type_source`."""
    score = np.nan_to_num(cells["type_score"].to_numpy(dtype=float), nan=0.0).clip(0.0, 1.0)
    source = (cells["type_source"] if "type_source" in cells.columns
              else pd.Series("rule", index=cells.index)).astype(str).to_numpy()
    p = np.where(np.isin(source, MARGIN_SOURCES), (1.0 + score) / 2.0, score)
    return np.where(source == "review", 1.0, p)


def poisson_binomial_pmf(p: np.ndarray) -> np.ndarray:
    """P(sum of independent Bernoulli(p_i) = k) for k = 0..len(p)."""
    pmf = np.zeros(len(p) + 1)
    pmf[0] = 1.0
    for i, pi in enumerate(np.asarray(p, dtype=float), start=1):
        pmf[1:i + 1] = pmf[1:i + 1] * (1.0 - pi) + pmf[:i] * pi
        pmf[0] *= 1.0 - pi
    return pmf


def poisson_binomial_interval(p: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[int, int]:
    """Central interval [low, high] of a Poisson-binomial count (each tail at most (1-conf)/2)."""
    cdf = np.cumsum(poisson_binomial_pmf(np.asarray(p, dtype=float)))
    tail = (1.0 - confidence) / 2.0
    low = int(np.searchsorted(cdf, tail, side="right"))
    high = int(np.searchsorted(cdf, 1.0 - tail - 1e-12, side="left"))
    return low, min(high, len(cdf) - 1)


def count_intervals(cells: pd.DataFrame, classes: Sequence[str], *, confidence: float = 0.95) -> pd.DataFrame:
    """Per sample, frame and type: the called count `n`, the `expected` true count and its interval.

    `cells`: one row per cell with sample, frame, [time_h,] cell_type, type_score[, type_source]
    (tracks.parquet or cells_typed.parquet). Types: `classes`, `unknown`, then any other called
    type; every type appears in every frame (zeros included).
    """
    columns = INTERVAL_COLUMNS
    if cells.empty:
        return pd.DataFrame(columns=columns)
    if "sample" not in cells.columns:
        cells = cells.assign(sample="")
    called = cells["cell_type"].astype(str)
    types = list(dict.fromkeys([*map(str, classes), UNKNOWN, *sorted(called.unique())]))
    spread = 1.0 / max(len(types) - 1, 1)
    prob = call_probability(cells)
    time = cells["time_h"] if "time_h" in cells.columns else pd.Series(np.nan, index=cells.index)
    rows = []
    for (sample, frame), idx in cells.groupby(["sample", "frame"], sort=True).indices.items():
        calls, p = called.to_numpy()[idx], prob[idx]
        t = float(time.to_numpy()[idx][0])
        for cell_type in types:
            mine = calls == cell_type
            pk = np.where(mine, p, (1.0 - p) * spread)
            low, high = poisson_binomial_interval(pk, confidence)
            rows.append((sample, int(frame), t, cell_type, int(mine.sum()), float(pk.sum()), low, high))
    return pd.DataFrame(rows, columns=columns)
