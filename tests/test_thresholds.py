"""Automatic thresholds (Otsu / Gaussian mixture on log intensity) and per-frame normalisation."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.classify.thresholds import (
    auto_threshold,
    auto_threshold_info,
    compute_thresholds,
    fold_change,
    normalize_per_frame,
    separation,
)
from marrowflow.errors import ConfigError


def _bimodal(rng, n_dim=300, n_bright=100, dim=100.0, bright=1000.0):
    return np.r_[rng.lognormal(np.log(dim), 0.25, n_dim), rng.lognormal(np.log(bright), 0.25, n_bright)]


@pytest.mark.parametrize("method", ["otsu", "gmm"])
def test_auto_threshold_separates_two_populations(method):
    x = _bimodal(np.random.default_rng(1))
    t = auto_threshold(x, method)
    assert 180 < t < 560
    # classification error against the known populations is small
    truth = np.r_[np.zeros(300, bool), np.ones(100, bool)]
    assert ((x > t) == truth).mean() > 0.99


def test_auto_threshold_degenerate_and_bad_method():
    assert np.isnan(auto_threshold(np.full(50, 3.0)))
    assert np.isnan(auto_threshold(np.array([np.nan, 1.0])))
    with pytest.raises(ConfigError, match="threshold_method"):
        auto_threshold(np.arange(10.0), "kmeans")


def test_thresholds_per_sample_manual_and_pooled():
    rng = np.random.default_rng(2)
    a = _bimodal(rng)
    b = 3 * _bimodal(rng)  # a brighter sample: its own cutoff
    feats = pd.DataFrame({"CD34": np.r_[a, b, [100.0] * 5], "MPO": np.r_[a, b, [100.0] * 5]})
    groups = pd.Series(["s1"] * len(a) + ["s2"] * len(b) + ["tiny"] * 5)
    th = compute_thresholds(feats, ["CD34", "MPO"], groups=groups, manual={"MPO": 42.0}, min_cells=20)
    assert list(th.columns) == ["sample", "feature", "threshold", "method", "n_cells"]
    cd34 = th[th.feature == "CD34"].set_index("sample")
    assert 2.0 < cd34.loc["s2", "threshold"] / cd34.loc["s1", "threshold"] < 4.5
    assert cd34.loc["tiny", "method"] == "otsu-pooled"
    assert (th[th.feature == "MPO"].threshold == 42.0).all()
    assert (th[th.feature == "MPO"].method == "manual").all()


def test_normalize_per_frame_removes_bleaching():
    rng = np.random.default_rng(3)
    frames = np.repeat(np.arange(10), 200)
    x = _bimodal(rng, 150, 50).tolist() * 10
    decay = 0.85 ** frames
    feats = pd.DataFrame({"CD34": np.asarray(x) * decay})
    norm = normalize_per_frame(feats, ["CD34"], pd.Series(frames))
    med = norm["CD34"].groupby(frames).median()
    assert med.max() / med.min() < 1.01
    assert feats["CD34"].groupby(frames).median().max() / feats["CD34"].groupby(frames).median().min() > 3
    assert not feats.equals(norm)  # input untouched, a new table returned


def test_one_population_gets_its_upper_fence_not_a_split():
    rng = np.random.default_rng(5)
    dim = rng.gamma(4.0, 30.0, 1000) + 60  # one skewed population (background-like), no bright cells
    t, how = auto_threshold_info(dim, "otsu")
    assert how == "otsu-unimodal"
    assert np.mean(dim > t) < 0.01
    assert separation(np.log(dim), np.log(auto_threshold(dim, "otsu", min_separation=0))) < 3.0
    th = compute_thresholds(pd.DataFrame({"CD41": dim}), ["CD41"], method="gmm")
    assert th["method"].iloc[0] == "gmm-unimodal"
    # a clear second population is split as usual, even a rare one (1% of the cells)
    assert auto_threshold_info(_bimodal(rng), "gmm")[1] == "gmm"
    rare = np.r_[rng.lognormal(np.log(120), 0.15, 990), rng.lognormal(np.log(700), 0.1, 10)]
    t, how = auto_threshold_info(rare, "otsu")
    assert how == "otsu" and (rare[-10:] > t).all() and np.sum(rare[:-10] > t) <= 3
    assert separation(np.log(_bimodal(rng)), np.log(300.0)) > 5


def test_flat_spread_of_one_population_is_not_split():
    """A marker no cell expresses: values spread evenly 17..37 (Ashman's D ~3.4 at the middle)
    but the bright half is only ~1.4x the dim half: no positives."""
    values = np.linspace(17, 37, 125)
    cut, how = auto_threshold_info(values, "otsu")
    assert how == "otsu-unimodal" and cut > values.max()
    assert fold_change(values, 27.0) < 2
    cut_without_guard, how = auto_threshold_info(values, "otsu", min_fold_change=1.0)
    assert how == "otsu" and cut_without_guard < values.max()


def test_bright_population_passes_the_fold_change_guard():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(25, 4, 110), rng.normal(300, 40, 15)])
    cut, how = auto_threshold_info(values, "otsu")
    assert how == "otsu" and values[:110].max() * 0.8 < cut < 250
    assert ((values > cut)[110:]).all() and (values > cut)[:110].mean() < 0.05
