"""The marker-threshold figure."""

from marrowflow.classify.cell_types import classify_cells
from marrowflow.classify.plots import plot_marker_thresholds

from test_classify import CHANNELS, SIMPLE, make_cells


def test_one_panel_per_marker_with_each_samples_cutoff(tmp_path):
    cells, _ = make_cells(n=200, samples=("s1", "s2"), brightness=(1.0, 2.0))
    typed, th = classify_cells(cells, SIMPLE, channel_names=CHANNELS)
    fig = plot_marker_thresholds(typed, th)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == sorted(th["feature"].unique())
    ax = next(a for a in panels if a.get_title() == "CD34")
    lines = sorted(line.get_xdata()[0] for line in ax.lines)
    expected = sorted(th[th.feature == "CD34"]["threshold"])
    assert lines == expected and ax.get_xscale() == "log"
    fig.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_empty_thresholds_still_make_a_figure():
    cells, _ = make_cells(n=20)
    _, th = classify_cells(cells, {"classes": []}, channel_names=CHANNELS)
    fig = plot_marker_thresholds(cells, th)
    assert len(fig.axes) == 1


def test_frame_normalised_cutoffs_are_drawn_on_normalised_values():
    cells, _ = make_cells(n=400, n_frames=8)
    cells["mean_CD34"] *= 0.7 ** cells["frame"]
    _, th = classify_cells(cells, {**SIMPLE, "frame_normalization": "median"}, channel_names=CHANNELS)
    fig = plot_marker_thresholds(cells, th)
    ax = next(a for a in fig.axes if a.get_title() == "CD34")
    assert ax.get_xlabel() == "value, frame-normalised"


def test_pooled_cutoff_drawn_once():
    cells, _ = make_cells(n=200, samples=("s1", "s2"), brightness=(1.0, 1.1))
    _, th = classify_cells(cells, {**SIMPLE, "threshold_scope": "all"}, channel_names=CHANNELS)
    assert set(th["sample"]) == {"all"}
    ax = next(a for a in plot_marker_thresholds(cells, th).axes if a.get_title() == "CD41")
    assert len(ax.lines) == 1
