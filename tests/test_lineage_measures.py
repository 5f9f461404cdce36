"""Lineage measures (marrowflow.lineage.measures) and their figures, on a synthetic organoid's true
tracks with deaths and exits, and on a hand-made table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marrowflow.lineage import (
    cell_events,
    clone_output,
    commitment_times,
    count_types_per_lineage,
    death_exit_rates,
    fate_by_generation,
    sister_pairs,
)
from marrowflow.synthetic import LINEAGE_MARKER, LINEAGES, OrganoidParams, simulate_organoid

TYPES = ["progenitor", *LINEAGES]


@pytest.fixture(scope="module")
def organoid():
    """True tracks, types and positions of a small busy organoid, with measured intensities."""
    from marrowflow.classify.thresholds import compute_thresholds
    from marrowflow.measure.cells import measure_movie

    p = OrganoidParams(seed=41, n_frames=24, size=(128, 128), n_founders=10, cells_leave_field=True,
                       motility_px=2.0, cycle_time_h=4.0, differentiation_rate_per_h={k: 0.1 for k in LINEAGES},
                       death_rate_per_h={k: 0.05 for k in TYPES})
    sim = simulate_organoid(p)
    cells = measure_movie(iter(sim.movie), iter(sim.labels), channel_names=sim.channel_names,
                          time_step_h=sim.time_step_h, pixel_size_um=sim.pixel_size_um)
    cells = cells.merge(sim.cell_types, on=["frame", "label"])
    ctc = sim.tracks.rename(columns={"label": "track_id", "parent": "parent_track_id"})
    tracks = cells.merge(ctc[["track_id", "parent_track_id"]], left_on="label", right_on="track_id")
    markers = list(LINEAGE_MARKER.values())
    thresholds = compute_thresholds(cells[[f"mean_{m}" for m in markers]].set_axis(markers, axis=1), markers)
    events = cell_events(tracks, thresholds, field_shape=p.size, n_frames=p.n_frames, nuclear_channel="nuclei",
                         markers=dict(LINEAGE_MARKER))
    return sim, tracks, events


def test_fate_by_generation_counts_every_cell_once(organoid):
    sim, _, events = organoid
    fates = fate_by_generation(events, TYPES)
    assert list(fates.columns) == ["sample", "generation", "cell_type", "n", "n_cells", "fraction"]
    per_gen = fates.groupby("generation")
    np.testing.assert_allclose(per_gen["fraction"].sum(), 1.0)
    assert per_gen["n"].sum().sum() == events["cell_id"].nunique()
    assert set(fates["cell_type"]) == {*TYPES, "unknown"}
    assert fates["generation"].max() >= 2


def test_sister_pairs_are_the_true_sisters(organoid):
    sim, _, events = organoid
    pairs = sister_pairs(events)
    truth = sim.cell_truth.set_index("label")
    assert len(pairs) >= 8
    assert (truth.loc[pairs["cell_a"], "sister"].to_numpy() == pairs["cell_b"].to_numpy()).all()
    assert (truth.loc[pairs["cell_a"], "parent"].to_numpy() == pairs["mother_track_id"].to_numpy()).all()
    np.testing.assert_allclose(pairs["cycle_diff_h"], pairs["cycle_h_b"] - pairs["cycle_h_a"])
    assert pairs["same_fate"].to_numpy().dtype == bool
    for m in LINEAGE_MARKER.values():
        assert {f"onset_{m}_a_h", f"onset_{m}_b_h", f"onset_{m}_diff_h"} <= set(pairs.columns)
    assert pairs["cycle_h_a"].notna().sum() >= 3


def test_clone_output_alive_and_produced(organoid):
    _, tracks, _ = organoid
    out = clone_output(tracks, TYPES)
    alive = count_types_per_lineage(tracks, TYPES)
    assert list(out.columns) == ["sample", "lineage_id", "frame", "time_h", "cell_type", "n_alive", "n_produced"]
    np.testing.assert_array_equal(out["n_alive"], alive["n"])
    assert (out["n_produced"] >= out["n_alive"]).all()
    assert (out.groupby(["lineage_id", "cell_type"])["n_produced"].diff().dropna() >= 0).all()
    assert out.loc[out["cell_type"].isin(LINEAGES), "n_produced"].max() > 0


def test_death_exit_rates_per_type(organoid):
    sim, tracks, events = organoid
    rates = death_exit_rates(events, tracks, TYPES)
    assert list(rates.columns) == ["sample", "cell_type", "cell_hours", "deaths", "exits", "lost",
                                   "death_rate_per_h", "exit_rate_per_h", "lost_rate_per_h"]
    assert rates["deaths"].sum() == (events["end_cause"] == "died").sum() >= 3
    assert rates["exits"].sum() == (events["end_cause"] == "left_field").sum() >= 1
    assert rates["cell_hours"].sum() == pytest.approx(len(tracks) * sim.time_step_h)
    row = rates.set_index("cell_type").loc["progenitor"]
    assert row["death_rate_per_h"] == pytest.approx(row["deaths"] / row["cell_hours"])


def test_commitment_times_one_row_per_cell_with_an_onset(organoid):
    _, _, events = organoid
    times = commitment_times(events, dict(LINEAGE_MARKER))
    assert list(times.columns) == ["sample", "lineage", "marker", "cell_id", "generation", "onset_h",
                                   "onset_from_birth_h"]
    n = sum(int(events.groupby("cell_id")[f"onset_{m}_h"].min().notna().sum()) for m in LINEAGE_MARKER.values())
    assert len(times) == n >= 5
    # an onset seen at a daughter's first frame (against her mother's last) lies within the frame before
    assert (times["onset_from_birth_h"] >= -0.5).all()
    assert (times["onset_h"] >= times["onset_from_birth_h"]).all()


def test_hand_made_fates_and_sisters():
    ev = pd.DataFrame({
        "sample": "s", "track_id": [1, 2, 3, 4], "cell_id": [1, 2, 3, 4], "lineage_id": 1,
        "mother_track_id": [0, 1, 1, 0], "sister_track_id": [0, 3, 2, 0], "generation": [0, 1, 1, 0],
        "begin": [0, 4, 4, 0], "end": [3, 9, 9, 9], "birth_h": [0, 2, 2, 0.0], "end_cause": "end_of_movie",
        "cycle_h": [np.nan, 3.0, 4.5, np.nan], "cycle_frames": [np.nan, 6, 9, np.nan],
        "last_type": ["progenitor", "erythroid", "progenitor", "progenitor"],
        "onset_M_h": [np.nan, 3.0, np.nan, np.nan], "onset_M_subframe": [np.nan, 6.0, np.nan, np.nan],
    })
    fates = fate_by_generation(ev, ["progenitor", "erythroid"]).set_index(["generation", "cell_type"])
    assert fates.at[(0, "progenitor"), "fraction"] == 1.0
    assert fates.at[(1, "erythroid"), "fraction"] == 0.5 and fates.at[(1, "unknown"), "n"] == 0
    pairs = sister_pairs(ev)
    assert len(pairs) == 1 and pairs.iloc[0][["cell_a", "cell_b"]].tolist() == [2, 3]
    assert pairs.iloc[0]["cycle_diff_h"] == 1.5 and not pairs.iloc[0]["same_fate"]
    assert pairs.iloc[0]["onset_M_a_h"] == 1.0 and np.isnan(pairs.iloc[0]["onset_M_diff_h"])
    assert commitment_times(ev, {"lin": "M"})[["cell_id", "onset_from_birth_h"]].values.tolist() == [[2, 1.0]]


def test_figures_are_written(organoid, tmp_path):
    from matplotlib.figure import Figure

    from marrowflow.report import plot_fate_by_generation, plot_lineage_trees, plot_sister_pairs, save_figure

    _, tracks, events = organoid
    trees = plot_lineage_trees(tracks, TYPES, events=events, onset_markers=dict(LINEAGE_MARKER), max_lineages=50)
    figures = {"trees": trees, "fates": plot_fate_by_generation(fate_by_generation(events, TYPES), TYPES),
               "sisters": plot_sister_pairs(sister_pairs(events), dict(LINEAGE_MARKER), TYPES)}
    for name, fig in figures.items():
        assert isinstance(fig, Figure)
        save_figure(fig, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one onset bar per timed onset, one end symbol per death / exit / loss
    offsets = [len(c.get_offsets()) for c in trees.axes[0].collections]
    n_onsets = sum(int(events[f"onset_{m}_subframe"].notna().sum()) for m in LINEAGE_MARKER.values())
    n_ends = int(events["end_cause"].isin(["died", "left_field", "lost"]).sum())
    assert offsets[-6:] == [
        *(int(events[f"onset_{m}_subframe"].notna().sum()) for m in LINEAGE_MARKER.values()),
        *(int((events["end_cause"] == c).sum()) for c in ("died", "left_field", "lost"))]
    assert n_onsets >= 5 and n_ends >= 3


def test_an_empty_movie_gives_empty_typed_tables_and_figures():
    import io

    from marrowflow.report import plot_fate_by_generation, plot_sister_pairs

    cols = {"frame": np.int64, "time_h": float, "track_id": np.int64, "parent_track_id": np.int64, "y": float,
            "x": float, "area_px": np.int64, "mean_nuclei": float, "mean_M": float, "cell_type": object}
    tracks = pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    ev = cell_events(tracks, pd.DataFrame(columns=["feature", "threshold", "method"]), field_shape=(32, 32),
                     n_frames=3, nuclear_channel="nuclei", markers={"lin": "M"})
    fates, pairs = fate_by_generation(ev, ["p"]), sister_pairs(ev)
    assert len(fates) == len(pairs) == len(clone_output(tracks, ["p"])) == len(commitment_times(ev, {"lin": "M"})) == 0
    assert "onset_M_diff_h" in pairs.columns
    assert death_exit_rates(ev, tracks, ["p"])["deaths"].sum() == 0
    for fig in (plot_fate_by_generation(fates, ["p"]), plot_sister_pairs(pairs, {"lin": "M"})):
        fig.savefig(io.BytesIO(), format="png")
        assert any(t.get_text().startswith("no ") for ax in fig.axes for t in ax.texts)
