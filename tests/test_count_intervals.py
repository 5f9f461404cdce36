"""Count intervals from the calls' own scores (marrowflow.stats.count_intervals) and the
`uncertainty` parameters."""

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from marrowflow.schema import section_defaults
from marrowflow.stats import UncertaintyParams, call_probability, count_intervals, poisson_binomial_interval
from marrowflow.stats.count_intervals import poisson_binomial_pmf

TYPES = ["progenitor", "erythroid", "myeloid", "unknown"]


def test_poisson_binomial_matches_the_binomial_for_equal_probabilities():
    pmf = poisson_binomial_pmf(np.full(80, 0.3))
    np.testing.assert_allclose(pmf, stats.binom(80, 0.3).pmf(np.arange(81)), atol=1e-12)
    assert poisson_binomial_interval(np.full(80, 0.3)) == tuple(stats.binom(80, 0.3).ppf([0.025, 0.975]).astype(int))
    assert poisson_binomial_interval(np.ones(7)) == (7, 7)
    assert poisson_binomial_interval([]) == (0, 0)


def test_call_probability_by_source():
    cells = pd.DataFrame({"type_score": [0.0, 0.6, 0.7, 0.2, np.nan],
                          "type_source": ["rule", "rule", "model", "review", "track-vote"]})
    np.testing.assert_allclose(call_probability(cells), [0.5, 0.8, 0.7, 1.0, 0.0])


def _called_cells(seed, n_frames=40, per_frame=120):
    """Calls with scores that mean what the intervals assume: a call is right with probability p
    (a model's score), else the cell is one of the other types, evenly."""
    rng = np.random.default_rng(seed)
    n = n_frames * per_frame
    called = rng.choice(len(TYPES), n, p=[0.5, 0.2, 0.2, 0.1])
    p = rng.uniform(0.6, 1.0, n)
    wrong = rng.random(n) > p
    true = np.where(wrong, (called + rng.integers(1, len(TYPES), n)) % len(TYPES), called)
    return pd.DataFrame({"sample": "s", "frame": np.repeat(np.arange(n_frames), per_frame),
                         "time_h": np.repeat(np.arange(n_frames) * 0.5, per_frame),
                         "cell_type": np.array(TYPES)[called], "type_score": p, "type_source": "model",
                         "true_type": np.array(TYPES)[true]})


def test_intervals_cover_the_true_counts():
    cells = _called_cells(0)
    out = count_intervals(cells, TYPES[:3])
    assert list(out["cell_type"].unique()) == TYPES and len(out) == 40 * len(TYPES)
    truth = cells.groupby(["frame", "true_type"]).size()
    true_n = np.array([truth.get((f, t), 0) for f, t in zip(out["frame"], out["cell_type"])])
    covered = (out["ci_low"] <= true_n) & (true_n <= out["ci_high"])
    assert covered.mean() >= 0.9
    assert (out["ci_low"] <= out["expected"]).all() and (out["expected"] <= out["ci_high"]).all()
    called = cells.groupby(["frame", "cell_type"]).size()
    assert out["n"].tolist() == [called.get((f, t), 0) for f, t in zip(out["frame"], out["cell_type"])]


def test_certain_calls_give_exact_counts_and_empty_input_an_empty_table():
    cells = pd.DataFrame({"sample": "s", "frame": [0, 0, 1], "time_h": [0.0, 0.0, 0.5],
                          "cell_type": ["erythroid", "myeloid", "erythroid"], "type_score": 1.0,
                          "type_source": "review"})
    out = count_intervals(cells, ["erythroid", "myeloid"]).set_index(["frame", "cell_type"])
    assert (out["ci_low"] == out["n"]).all() and (out["ci_high"] == out["n"]).all()
    assert out.loc[(1, "myeloid"), "n"] == 0
    assert count_intervals(cells.iloc[:0], ["erythroid"]).empty


def test_uncertainty_params_take_the_schema_defaults():
    defaults = section_defaults("uncertainty")
    assert {f.name: getattr(UncertaintyParams(), f.name) for f in dataclasses.fields(UncertaintyParams)} == defaults
    assert UncertaintyParams.from_config({"seed": 4}).seed == 4
