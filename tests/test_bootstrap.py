"""Bootstrap intervals of condition means over replicates (marrowflow.stats.bootstrap)."""

import numpy as np
import pandas as pd

from marrowflow.stats import bootstrap_mean, replicate_estimates
from marrowflow.stats.bootstrap import FEW_REPLICATES, expanded_level

# a cheap model of replicate-level values with known truth: each organoid's expected count is
# log-normal around the condition's level (organoid-to-organoid variation), its count Poisson
LEVELS = {"control": 40.0, "epo": 70.0}
SIGMA = 0.3


def _replicates(rng, n):
    rows = []
    for condition, level in LEVELS.items():
        lam = level * np.exp(SIGMA * rng.standard_normal(n))
        rows += [dict(condition=condition, replicate=f"{condition}-{i}", value=float(v))
                 for i, v in enumerate(rng.poisson(lam))]
    return pd.DataFrame(rows)


def test_interval_covers_the_true_condition_means_in_90_percent_of_50_repeats():
    truth = {c: level * np.exp(SIGMA ** 2 / 2) for c, level in LEVELS.items()}  # log-normal mean
    hits = []
    for seed in range(50):
        est = replicate_estimates(_replicates(np.random.default_rng(seed), 8), "value", [], n_resamples=2000,
                                  seed=seed)
        hits += [(row.ci_low <= truth[row.condition] <= row.ci_high) for row in est.itertuples()]
    assert len(hits) == 100
    assert np.mean(hits) >= 0.90


def test_one_replicate_gives_no_interval_and_says_so():
    table = pd.DataFrame({"condition": ["a", "b", "b"], "replicate": ["a1", "b1", "b2"], "value": [3.0, 1.0, 5.0]})
    est = replicate_estimates(table, "value", []).set_index("condition")
    assert est.loc["a", "n_replicates"] == 1 and est.loc["a", "estimate"] == 3.0
    assert np.isnan(est.loc["a", "ci_low"]) and np.isnan(est.loc["a", "ci_high"])
    assert est.loc["a", "note"] == "one replicate: no interval"
    assert est.loc["b", "ci_low"] >= 1.0 and est.loc["b", "ci_high"] <= 5.0
    assert "too narrow" in est.loc["b", "note"]  # 2 < FEW_REPLICATES


def test_fields_of_one_organoid_count_once():
    table = pd.DataFrame({"condition": ["a"] * 3, "replicate": ["o1", "o1", "o2"], "value": [2.0, 4.0, 7.0]})
    row = replicate_estimates(table, "value", []).iloc[0]
    assert row["n_replicates"] == 2 and row["estimate"] == 5.0  # (3 + 7) / 2, not (2 + 4 + 7) / 3


def test_seeded_and_deterministic_and_expanded():
    x = [1.0, 4.0, 2.0, 8.0, 5.0]
    assert bootstrap_mean(x, seed=3) == bootstrap_mean(x, seed=3)
    ci = bootstrap_mean(x)
    assert ci.low < np.mean(x) < ci.high and ci.note == ""
    assert len(x) >= FEW_REPLICATES
    assert 0.95 < expanded_level(0.95, 5) < expanded_level(0.95, 3) < 1.0
    assert abs(expanded_level(0.95, 10_000) - 0.95) < 1e-3
