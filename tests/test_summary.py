"""Across-sample summary tables and plots: counts, per-condition estimates over replicates with
bootstrap intervals, tests between conditions; the summary rule's tables on a tiny project."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.io import read_table
from marrowflow.report.summary import (
    combine_counts,
    condition_estimates,
    condition_means,
    condition_test_table,
    plot_condition_estimates,
    plot_counts_by_condition,
    replicate_values,
)


def _counts(sample, n_by_type, frames=3, step=0.5):
    rows = [dict(sample=sample, frame=f, time_h=f * step, cell_type=t, n=n + f)
            for f in range(frames) for t, n in n_by_type.items()]
    return pd.DataFrame(rows)


def test_combine_counts_adds_conditions_and_keeps_rows():
    tables = [_counts("a", {"erythroid": 1}), _counts("b", {"erythroid": 5}), _counts("c", {"erythroid": 2})]
    combined = combine_counts(tables, {"a": "control", "b": "epo", "c": "control"})
    assert len(combined) == 9
    assert combined.loc[combined["sample"] == "b", "condition"].unique().tolist() == ["epo"]
    assert list(combined.columns) == ["condition", "replicate", "batch", "sample", "frame", "time_h", "cell_type", "n"]
    assert combined["replicate"].tolist() == combined["sample"].tolist()  # default: each sample an organoid


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
    assert all(not ax.collections for ax in visible)  # one replicate per condition: no band


def _design():
    """Two conditions x three organoids; organoid c3 is imaged in two fields (samples)."""
    samples = {"a1": ("control", "c1"), "a2": ("control", "c2"), "a3": ("control", "c3"), "a3b": ("control", "c3"),
               "b1": ("epo", "e1"), "b2": ("epo", "e2"), "b3": ("epo", "e3")}
    tables = [_counts(s, {"erythroid": (10 if c == "epo" else 2) + i, "myeloid": 3})
              for i, (s, (c, _)) in enumerate(samples.items())]
    combined = combine_counts(tables, {s: c for s, (c, _) in samples.items()},
                              replicates={s: r for s, (_, r) in samples.items()}, batches={"b1": "day2"})
    rates = pd.DataFrame([dict(sample=s, cell_type=t,
                               rate_per_h=1.0 + i + (5 if c == "epo" and t == "erythroid" else 0))
                          for i, (s, (c, _)) in enumerate(samples.items()) for t in ("erythroid", "myeloid")])
    return combined, rates


def test_estimates_are_over_replicates_with_intervals():
    combined, rates = _design()
    assert combined.loc[combined["sample"] == "b1", "batch"].unique().tolist() == ["day2"]
    values = replicate_values(combined, rates)
    assert set(values["measure"]) == {"count", "final_count", "production_rate"}
    est = condition_estimates(values)
    final = est[(est["measure"] == "final_count") & (est["cell_type"] == "erythroid")].set_index("condition")
    assert final["n_replicates"].tolist() == [3, 3]  # a3 and a3b are one organoid
    assert final.loc["control", "estimate"] == pytest.approx((4 + 5 + (6 + 7) / 2) / 3)  # last frame: 2 + i + 2
    assert (final["ci_low"] <= final["estimate"]).all() and (final["estimate"] <= final["ci_high"]).all()
    assert final["note"].str.contains("too narrow").all()
    fig = plot_counts_by_condition(combined, est)
    assert all(ax.collections for ax in fig.axes if ax.get_visible())  # bands
    assert [ax.get_title() for ax in plot_condition_estimates(est).axes] == ["final count", "production rate"]


def test_condition_tests_cover_final_counts_and_rates_holm_per_measure():
    combined, rates = _design()
    tests = condition_test_table(replicate_values(combined, rates))
    assert set(zip(tests["measure"], tests["cell_type"])) == {(m, t) for m in ("final_count", "production_rate")
                                                              for t in ("erythroid", "myeloid")}
    ery = tests[(tests["measure"] == "final_count") & (tests["cell_type"] == "erythroid")].iloc[0]
    assert (ery["condition_a"], ery["condition_b"], ery["p_value"], ery["min_p"]) == ("control", "epo", 0.1, 0.1)
    assert ery["difference"] < 0 and "cannot reach" in ery["note"]


def test_summary_rule_tables_on_a_tiny_project(tiny_demo_project):
    """One sample (one replicate of one condition): estimates without interval, no test."""
    summary = tiny_demo_project / "results" / "summary"
    est = read_table(summary / "condition_estimates.csv")
    assert set(est["measure"]) == {"count", "final_count", "production_rate"}
    assert (est["n_replicates"] == 1).all() and est["ci_low"].isna().all() and est["ci_high"].isna().all()
    assert (est["note"] == "one replicate: no interval").all()
    tests = read_table(summary / "condition_tests.csv")
    assert tests.empty and {"measure", "cell_type"} <= set(tests.columns)
    assert (summary / "condition_estimates.png").stat().st_size > 0
    intervals = read_table(tiny_demo_project / "results" / "tiny" / "count_intervals.csv")
    counts = read_table(tiny_demo_project / "results" / "tiny" / "counts.csv")
    merged = counts.merge(intervals, on=["sample", "frame", "cell_type"], suffixes=("", "_called"))
    assert len(merged) == len(intervals) and (merged["n"] == merged["n_called"]).all()
    assert (intervals["ci_low"] <= intervals["ci_high"]).all()


def test_sample_sheet_replicate_defaults_to_the_sample_and_batch_is_kept(tmp_path):
    from marrowflow.workflow.samples import read_sample_sheet

    for name in ("a.tif", "b.tif", "c.tif"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "samples.tsv").write_text("sample\tpath\tcondition\treplicate\tbatch\n"
                                          "a\ta.tif\tctl\torg1\tday1\nb\tb.tif\tctl\torg1\t\nc\tc.tif\tepo\t\tday2\n")
    sheet = read_sample_sheet(tmp_path / "samples.tsv", {"channels": [{"name": "nuclei"}]}, base_dir=tmp_path)
    assert sheet["replicate"].tolist() == ["org1", "org1", "c"]
    assert sheet["batch"].tolist() == ["day1", "", "day2"]
