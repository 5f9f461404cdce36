"""Across-sample summary tables and plot."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.report.summary import combine_counts, condition_means, plot_counts_by_condition


def _counts(sample, n_by_type, frames=3, step=0.5):
    rows = [dict(sample=sample, frame=f, time_h=f * step, cell_type=t, n=n + f)
            for f in range(frames) for t, n in n_by_type.items()]
    return pd.DataFrame(rows)


def test_combine_counts_adds_conditions_and_keeps_rows():
    tables = [_counts("a", {"erythroid": 1}), _counts("b", {"erythroid": 5}), _counts("c", {"erythroid": 2})]
    combined = combine_counts(tables, {"a": "control", "b": "epo", "c": "control"})
    assert len(combined) == 9
    assert combined.loc[combined["sample"] == "b", "condition"].unique().tolist() == ["epo"]
    assert list(combined.columns) == ["condition", "sample", "frame", "time_h", "cell_type", "n"]


def test_combine_counts_rejects_sample_without_condition():
    with pytest.raises(ValueError, match=r"\['x'\]"):
        combine_counts([_counts("x", {"myeloid": 1})], {})


def test_condition_means_over_samples():
    combined = combine_counts([_counts("a", {"erythroid": 1}), _counts("c", {"erythroid": 3})],
                              {"a": "control", "c": "control"})
    stats = condition_means(combined)
    first = stats[stats["time"] == 0].iloc[0]
    assert (first["mean"], first["low"], first["high"], first["n_samples"]) == (2, 1, 3, 2)


def test_condition_means_falls_back_to_frames_when_time_unknown():
    counts = _counts("a", {"myeloid": 1})
    counts["time_h"] = np.nan
    stats = condition_means(combine_counts([counts], {"a": "ctl"}))
    assert stats["time"].tolist() == [0, 1, 2]


def test_plot_has_a_panel_per_type_and_a_line_per_condition():
    tables = [_counts("a", {"erythroid": 1, "myeloid": 2}), _counts("b", {"erythroid": 4, "myeloid": 1})]
    combined = combine_counts(tables, {"a": "control", "b": "epo"})
    fig = plot_counts_by_condition(combined)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["erythroid", "myeloid"]
    assert all(len(ax.get_lines()) == 2 for ax in visible)
