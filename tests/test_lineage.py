"""Lineage statistics on a hand-made tree, and on the synthetic organoid against its truth."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.errors import InputError
from marrowflow.lineage.tables import (
    cell_cycles,
    count_types,
    count_types_per_lineage,
    fate_map,
    lineage_table,
    production_rates,
    track_summary,
)

CLASSES = ["progenitor", "erythroid", "myeloid"]


def hand_made_tree() -> pd.DataFrame:
    """Founder 1 (frames 0-2) divides into 2 (3-5) and 3 (3-4); 3 is lost one frame and seen
    again as 4 (6-7, CTC gap continuation); 2 divides into 5 and 6 (6-7). Founder 7 sits
    through frames 0-7. Time step 0.5 h."""
    rows = []

    def add(tid, parent, frames, types):
        for f, ty in zip(frames, types):
            rows.append({"sample": "s1", "frame": f, "time_h": f * 0.5, "label": len(rows) + 1,
                         "track_id": tid, "parent_track_id": parent, "cell_type": ty})

    add(1, 0, [0, 1, 2], ["progenitor"] * 3)
    add(2, 1, [3, 4, 5], ["progenitor"] * 3)
    add(3, 1, [3, 4], ["progenitor", "erythroid"])
    add(4, 3, [6, 7], ["erythroid"] * 2)
    add(5, 2, [6, 7], ["myeloid"] * 2)
    add(6, 2, [6, 7], ["progenitor", "myeloid"])
    add(7, 0, range(8), ["progenitor"] * 8)
    return pd.DataFrame(rows)


def test_track_summary_generations_and_gap_continuation():
    s = track_summary(hand_made_tree()).set_index("track_id")
    assert s["lineage_id"].tolist() == [1, 1, 1, 1, 1, 1, 2]
    assert s["generation"].tolist() == [0, 1, 1, 1, 2, 2, 0]   # the gap does not add a generation
    assert s["divides"].tolist() == [True, True, False, False, False, False, False]
    assert s["born"].tolist() == [False, True, True, False, True, True, False]
    assert s.loc[4, "cell_id"] == 3                            # track 4 is cell 3 seen again


def test_lineage_table_on_hand_made_tree():
    lt = lineage_table(hand_made_tree(), CLASSES).set_index("lineage_id")
    one = lt.loc[1]
    assert (one["founder_track_id"], one["n_tracks"], one["n_divisions"], one["max_generation"]) == (1, 6, 2, 2)
    assert one["mean_cycle_h"] == pytest.approx(1.5)           # cell 2: frames 3-5
    assert one["hours"] == pytest.approx(4.0)
    assert one["divisions_per_h"] == pytest.approx(0.5)
    assert one["births_per_h"] == pytest.approx(1.0)           # 4 daughters in 4 h
    assert one["divisions_per_cell_h"] == pytest.approx(2 / 7)  # 14 cell-frames of 0.5 h
    assert (one["n_final"], one["final_progenitor"], one["final_erythroid"], one["final_myeloid"]) == (3, 0, 1, 2)
    two = lt.loc[2]
    assert (two["n_divisions"], two["n_final"], two["final_progenitor"]) == (0, 1, 1)
    assert np.isnan(two["mean_cycle_h"])
    cycles = cell_cycles(hand_made_tree())
    assert cycles[["cell_id", "begin", "end", "cycle_frames"]].values.tolist() == [[2, 3, 5, 3]]


def test_fate_map_and_production_rates_on_hand_made_tree():
    fm = fate_map(hand_made_tree(), CLASSES).set_index("lineage_id")
    assert fm.loc[1, ["frac_progenitor", "frac_erythroid", "frac_myeloid", "frac_unknown"]].tolist() == \
        pytest.approx([0, 1 / 3, 2 / 3, 0])
    assert fm.loc[2, "frac_progenitor"] == 1.0
    pr = production_rates(hand_made_tree(), CLASSES).set_index("cell_type")
    # births: 2, 3, 6 progenitor and 5 myeloid; differentiations: 3 -> erythroid, 6 -> myeloid
    assert pr["births"].to_dict() == {"progenitor": 3, "erythroid": 0, "myeloid": 1, "unknown": 0}
    assert pr["differentiations"].to_dict() == {"progenitor": 0, "erythroid": 1, "myeloid": 1, "unknown": 0}
    assert pr.loc["myeloid", "rate_per_h"] == pytest.approx(2 / 3.5)
    per = production_rates(hand_made_tree(), CLASSES, per_lineage=True)
    assert per.groupby("cell_type")["new_cells"].sum().to_dict() == pr["new_cells"].to_dict()
    assert len(per) == 2 * 4


def test_counts_include_every_class_and_zeros():
    counts = count_types(hand_made_tree(), CLASSES)
    assert list(counts.columns) == ["sample", "frame", "time_h", "cell_type", "n"]
    assert len(counts) == 8 * 4
    assert counts.groupby("frame")["n"].sum().tolist() == [2, 2, 2, 3, 3, 2, 4, 4]
    last = counts[counts.frame == 7].set_index("cell_type")["n"].to_dict()
    assert last == {"progenitor": 1, "erythroid": 1, "myeloid": 2, "unknown": 0}
    per = count_types_per_lineage(hand_made_tree(), CLASSES)
    assert list(per.columns) == ["sample", "lineage_id", "frame", "time_h", "cell_type", "n"]
    assert per["n"].sum() == counts["n"].sum()
    summed = per.groupby(["frame", "cell_type"])["n"].sum()
    assert summed.reindex(counts.set_index(["frame", "cell_type"]).index).tolist() == counts["n"].tolist()
    # two samples are counted separately
    two = pd.concat([hand_made_tree(), hand_made_tree().assign(sample="s2")])
    assert count_types(two, CLASSES).groupby("sample")["n"].sum().tolist() == [counts["n"].sum()] * 2
    with pytest.raises(InputError, match="cell_type"):
        count_types(hand_made_tree().drop(columns="cell_type"), CLASSES)


SYN_CLASSES = ["progenitor", "erythroid", "myeloid", "megakaryocyte"]


@pytest.fixture(scope="module")
def organoid():
    """The synthetic organoid (30 frames) and its true tracks as a tracks table."""
    from marrowflow.synthetic import OrganoidParams, simulate_organoid

    sim = simulate_organoid(OrganoidParams(n_frames=30), seed=1)
    truth = sim.cell_types.merge(sim.truth[["frame", "label", "y", "x"]], on=["frame", "label"])
    truth["time_h"] = truth["frame"] * sim.time_step_h
    truth["track_id"] = truth["label"]
    truth["parent_track_id"] = truth["label"].map(sim.tracks.set_index("label")["parent"])
    return sim, truth


def _measured(sim, labels_per_frame, types_by_overlap: bool) -> pd.DataFrame:
    from marrowflow.measure.cells import measure_frame

    rows = []
    for t, lab in enumerate(labels_per_frame):
        m = measure_frame(lab, sim.movie[t], channel_names=sim.channel_names, frame=t,
                          time_h=t * sim.time_step_h, pixel_size_um=sim.pixel_size_um)
        truth_type = sim.cell_types[sim.cell_types.frame == t].set_index("label")["cell_type"]
        if types_by_overlap:   # the true type of the ground-truth cell under most of the object
            gt = sim.labels[t]
            best = [np.bincount(gt[lab == k][gt[lab == k] > 0], minlength=1).argmax() for k in m["label"]]
            m["cell_type"] = [truth_type.get(g, "unknown") for g in best]
        else:
            m["cell_type"] = m["label"].map(truth_type)
        rows.append(m)
    return pd.concat(rows, ignore_index=True)


def _compare_with_truth(ours: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Production rates per type within 10 %; per founder progenitor, the same progeny count and
    fractions per type within 0.10 (founders matched by their first position)."""
    assert track_summary(ours)["divides"].sum() == track_summary(truth)["divides"].sum() > 10
    rate_ours = production_rates(ours, SYN_CLASSES).set_index("cell_type")["rate_per_h"]
    rate_true = production_rates(truth, SYN_CLASSES).set_index("cell_type")["rate_per_h"]
    assert rate_true[SYN_CLASSES].gt(0).all()
    assert np.allclose(rate_ours[SYN_CLASSES], rate_true[SYN_CLASSES], rtol=0.10)

    def fates(tracks):
        fm = fate_map(tracks, SYN_CLASSES, founder_types=["progenitor"])
        first = tracks.sort_values("frame").groupby("track_id")[["frame", "y", "x"]].first()
        return fm.join(first, on="founder_track_id").reset_index(drop=True)

    fate_ours, fate_true = fates(ours), fates(truth)
    assert len(fate_true) >= 5
    matched = []
    for _, true in fate_true.iterrows():   # the founder of ours that starts where the true one does
        here = fate_ours[(fate_ours["frame"] == true["frame"])]
        dist = np.hypot(here["y"] - true["y"], here["x"] - true["x"])
        assert len(here) and dist.min() < 3, f"no founder near {true[['frame', 'y', 'x']].tolist()}"
        mine = here.loc[dist.idxmin()]
        matched.append(dist.idxmin())
        assert mine["n_final"] == true["n_final"]
        for c in SYN_CLASSES:
            assert abs(np.nan_to_num(mine[f"frac_{c}"]) - np.nan_to_num(true[f"frac_{c}"])) <= 0.10, c
    # founders of ours without a true one (fragments of over-segmented cells) leave no progeny
    assert (fate_ours.drop(index=matched)["n_final"] == 0).all()


def test_synthetic_organoid_from_true_masks_matches_truth(organoid):
    """Tracking the cells measured from the true label images (true types, identities hidden)."""
    from marrowflow.track.linking import track_cells

    sim, truth = organoid
    cells = _measured(sim, sim.labels, types_by_overlap=False)
    rng = np.random.default_rng(0)   # the tracker must not see the true identities
    cells["label"] = cells.groupby("frame")["label"].transform(lambda s: rng.permutation(len(s)) + 1)
    _compare_with_truth(track_cells(cells, {}, pixel_size_um=sim.pixel_size_um, time_step_h=sim.time_step_h),
                        truth)


def test_synthetic_organoid_from_pipeline_segmentation_matches_truth(organoid):
    """Segmented by marrowflow.segment (classic, built-in parameters), true types by overlap."""
    from marrowflow.segment.segmenter import segment_frame
    from marrowflow.track.linking import track_cells

    sim, truth = organoid
    params = {"backend": "classic", "classic": {"preset": None}}
    labels = [segment_frame(sim.movie[t, 0], params, pixel_size_um=sim.pixel_size_um)
              for t in range(sim.movie.shape[0])]
    cells = _measured(sim, labels, types_by_overlap=True)
    _compare_with_truth(track_cells(cells, {}, pixel_size_um=sim.pixel_size_um, time_step_h=sim.time_step_h),
                        truth)


def test_plots_return_figures_with_one_artist_per_type_and_lineage():
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    from marrowflow.report.lineage_plots import (
        plot_counts_over_time,
        plot_lineage_trees,
        plot_production_rates,
    )

    tree = hand_made_tree()
    fig = plot_counts_over_time(count_types(tree, CLASSES), CLASSES)
    assert isinstance(fig, Figure)
    assert sum(isinstance(c, PolyCollection) for c in fig.axes[0].collections) == 4
    fig = plot_lineage_trees(tree, CLASSES)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["L1", "L2"]
    assert len(fig.axes[0].collections) == 7                      # one scatter per track
    rates = [production_rates(tree, CLASSES).assign(condition=c) for c in ("control", "epo")]
    fig = plot_production_rates(rates, CLASSES)
    assert len(fig.axes[0].patches) == 2 * 4
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    assert heights[-1] == pytest.approx(3 / 3.5)


def test_flickering_types_count_one_entry_per_cell():
    tree = hand_made_tree()
    flicker = tree.copy()
    # founder 7 flickers progenitor -> myeloid -> progenitor -> myeloid
    rows = flicker.index[flicker.track_id == 7]
    flicker.loc[rows, "cell_type"] = ["progenitor", "myeloid", "progenitor", "myeloid"] * 2
    pr = production_rates(flicker, CLASSES).set_index("cell_type")
    base = production_rates(tree, CLASSES).set_index("cell_type")
    assert pr.loc["myeloid", "differentiations"] == base.loc["myeloid", "differentiations"] + 1
    assert pr.loc["progenitor", "differentiations"] == 0
