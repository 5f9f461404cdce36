"""Tests of the synthetic organoid generator and its Cell Tracking Challenge ground truth."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

from marrowflow.errors import ConfigError
from marrowflow.measure.cells import measure_frame
from marrowflow.synthetic import (
    CELL_TYPES,
    LINEAGE_MARKER,
    OrganoidParams,
    simulate_organoid,
    true_counts,
    write_synthetic,
)

# Small and busy: fast cycles and high commitment rates so that divisions and type switches occur.
SMALL = OrganoidParams(
    seed=3, n_frames=16, size=(128, 128), n_founders=6, cycle_time_h=3.0,
    differentiation_rate_per_h={"erythroid": 0.3, "myeloid": 0.3, "megakaryocyte": 0.3},
    marker_rise_h=1.0,
)


@pytest.fixture(scope="module")
def sim():
    return simulate_organoid(SMALL)


@pytest.fixture(scope="module")
def written(sim, tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic(sim, root / "movie.ome.tif", root / "GT")
    return root


def test_same_seed_gives_identical_movie(sim):
    again = simulate_organoid(SMALL)
    np.testing.assert_array_equal(sim.movie, again.movie)
    np.testing.assert_array_equal(sim.labels, again.labels)
    pd.testing.assert_frame_equal(sim.tracks, again.tracks)
    pd.testing.assert_frame_equal(sim.cell_types, again.cell_types)
    other = simulate_organoid(SMALL, seed=4)
    assert not np.array_equal(sim.movie, other.movie)


def test_shapes_and_types(sim):
    assert sim.movie.shape == (16, 5, 128, 128) and sim.movie.dtype == np.uint16
    assert sim.labels.shape == (16, 128, 128) and sim.labels.dtype == np.uint32
    assert sim.channel_names == ["nuclei", "CD34", "CD235a", "MPO", "CD41"]
    assert set(sim.cell_types["cell_type"]) <= set(CELL_TYPES)


def test_labels_match_tracks_and_types(sim):
    for t, frame in enumerate(sim.labels):
        present = set(np.unique(frame)) - {0}
        alive = set(sim.tracks.query(f"begin <= {t} and end >= {t}")["label"])
        typed = set(sim.cell_types.query("frame == @t")["label"])
        assert present == alive == typed, t


def test_divisions_follow_ctc_convention(sim):
    tracks = sim.tracks.set_index("label")
    daughters = tracks[tracks["parent"] > 0]
    assert len(daughters) >= 4  # the parameters make cells divide within the movie
    for parent, group in daughters.groupby("parent"):
        assert len(group) == 2
        assert (group["begin"] == tracks.loc[parent, "end"] + 1).all()
        t = group["begin"].iloc[0]
        ys, xs = [np.argwhere(sim.labels[t] == lab).mean(axis=0) for lab in group.index]
        assert np.hypot(*(ys - xs)) < 4 * SMALL.radius_px  # born next to each other


def test_nuclei_never_touch_and_stay_inside(sim):
    lab = sim.labels
    for a, b in ((lab[:, 1:, :], lab[:, :-1, :]), (lab[:, :, 1:], lab[:, :, :-1])):
        assert not np.any((a > 0) & (b > 0) & (a != b))
    border = np.concatenate([lab[:, 0, :], lab[:, -1, :], lab[:, :, 0], lab[:, :, -1]], axis=1)
    assert not border.any()


def _ancestry_types(sim) -> list[list[str]]:
    """Type sequence along every root-to-leaf path of the lineage trees."""
    types = sim.cell_types.sort_values("frame").groupby("label")["cell_type"].apply(list)
    parent = sim.tracks.set_index("label")["parent"]
    leaves = set(sim.tracks["label"]) - set(sim.tracks["parent"])
    paths = []
    for leaf in leaves:
        chain, lab = [], leaf
        while lab:
            chain = types[lab] + chain
            lab = parent[lab]
        paths.append(chain)
    return paths


def test_types_are_one_way_and_inherited(sim):
    switched = 0
    for path in _ancestry_types(sim):
        lineages = [t for t in path if t != "progenitor"]
        assert len(set(lineages)) <= 1  # never two lineages along a path
        if lineages:  # once committed-and-visible, never progenitor again
            first = path.index(lineages[0])
            assert all(t != "progenitor" for t in path[first:])
            switched += first > 0
    assert switched >= 1


def test_true_type_switches_when_lineage_marker_passes_half(sim):
    truth = sim.truth[sim.truth["fate"] != "progenitor"]
    level = np.array([r[f"level_{LINEAGE_MARKER[r['fate']]}"] for _, r in truth.iterrows()])
    assert ((truth["cell_type"] != "progenitor").to_numpy() == (level >= 0.5)).all()
    assert (truth["cell_type"] == "progenitor").any() and (truth["cell_type"] != "progenitor").any()


def test_types_are_observable_in_the_markers(sim):
    """Measured on the image: each lineage's marker is brighter in that lineage than in progenitors."""
    tables = [
        measure_frame(sim.labels[t], sim.movie[t], channel_names=sim.channel_names, frame=t, time_h=0.0)
        for t in range(sim.movie.shape[0])
    ]
    cells = pd.concat(tables).merge(sim.cell_types, on=["frame", "label"])
    means = cells.groupby("cell_type")[[f"mean_{m}" for m in ("CD34", *LINEAGE_MARKER.values())]].mean()
    assert set(means.index) == set(CELL_TYPES)
    for lineage, marker in LINEAGE_MARKER.items():
        assert means.loc[lineage, f"mean_{marker}"] > 2 * means.loc["progenitor", f"mean_{marker}"]
        assert means.loc[lineage, "mean_CD34"] < means.loc["progenitor", "mean_CD34"]


def test_true_counts_complete_with_zeros(sim):
    counts = true_counts(sim.cell_types, sim.time_step_h, n_frames=20)
    assert list(counts.columns) == ["frame", "time_h", "cell_type", "n"]
    assert len(counts) == 20 * 4
    assert set(counts["cell_type"]) == set(CELL_TYPES)
    per_frame = counts.groupby("frame")["n"].sum()
    np.testing.assert_array_equal(per_frame[:16], sim.cell_types.groupby("frame").size())
    assert (per_frame[16:] == 0).all()
    np.testing.assert_allclose(counts["time_h"], counts["frame"] * 0.5)
    assert counts.query("frame == 0 and cell_type == 'progenitor'")["n"].item() == SMALL.n_founders


def test_cells_leaving_the_field_end_their_tracks():
    params = OrganoidParams(seed=5, n_frames=12, size=(64, 64), n_founders=5, motility_px=6.0,
                            cycle_time_h=100.0, cells_leave_field=True)
    sim = simulate_organoid(params)
    assert (sim.tracks["end"] < params.n_frames - 1).any()
    for t, frame in enumerate(sim.labels):
        assert set(np.unique(frame)) - {0} == set(sim.tracks.query(f"begin <= {t} and end >= {t}")["label"])


def test_overcrowded_field_keeps_ground_truth_consistent():
    params = OrganoidParams(seed=1, n_frames=10, size=(64, 64), n_founders=60, min_gap_px=0.0,
                            cycle_time_h=2.0)
    sim = simulate_organoid(params)
    for t, frame in enumerate(sim.labels):
        assert set(np.unique(frame)) - {0} == set(sim.tracks.query(f"begin <= {t} and end >= {t}")["label"])
    assert len(sim.tracks) > 60


def test_from_config_names_unknown_key_and_bad_value():
    with pytest.raises(ConfigError, match=r"demo\.control.*'sizee'"):
        OrganoidParams.from_config({"sizee": 3}, where="demo.control")
    with pytest.raises(ConfigError, match="n_frames"):
        OrganoidParams.from_config({"n_frames": 0})
    with pytest.raises(ConfigError, match="differentiation_rate_per_h"):
        OrganoidParams.from_config({"differentiation_rate_per_h": {"neutrophil": 0.1}})
    p = OrganoidParams.from_config({"size": 96, "seed": 7})
    assert p.size == (96, 96) and p.seed == 7
    assert OrganoidParams.from_config(p.to_dict()) == p


def test_ome_tiff_round_trip(sim, written):
    with tifffile.TiffFile(written / "movie.ome.tif") as tif:
        assert tif.is_ome
        series = tif.series[0]
        assert series.axes == "TCYX"
        np.testing.assert_array_equal(series.asarray(), sim.movie)
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    assert pixels["PhysicalSizeX"] == pixels["PhysicalSizeY"] == pytest.approx(0.65)
    assert pixels["TimeIncrement"] == pytest.approx(0.5) and pixels["TimeIncrementUnit"] == "h"
    assert [c["Name"] for c in pixels["Channel"]] == sim.channel_names


def test_ground_truth_files(sim, written):
    gt = written / "GT"
    track_txt = np.loadtxt(gt / "TRA" / "man_track.txt", dtype=np.int64, ndmin=2)
    np.testing.assert_array_equal(track_txt, sim.tracks[["label", "begin", "end", "parent"]].to_numpy())
    for t in (0, 15):
        tra = tifffile.imread(gt / "TRA" / f"man_track{t:03d}.tif")
        seg = tifffile.imread(gt / "SEG" / f"man_seg{t:03d}.tif")
        assert tra.dtype == seg.dtype == np.uint16
        np.testing.assert_array_equal(tra, sim.labels[t])
        np.testing.assert_array_equal(seg, sim.labels[t])
    pd.testing.assert_frame_equal(pd.read_csv(gt / "cell_types.csv"), sim.cell_types)
    counts = pd.read_csv(gt / "counts.csv")
    assert counts["n"].sum() == len(sim.cell_types)
    leftovers = [p.name for p in written.rglob(".*")]
    assert leftovers == []  # atomic writes leave no temporary files


def test_rewriting_shorter_movie_removes_stale_masks(sim, tmp_path):
    write_synthetic(sim, tmp_path / "movie.ome.tif", tmp_path / "GT")
    short = simulate_organoid(dataclasses.replace(SMALL, n_frames=4))
    write_synthetic(short, tmp_path / "movie.ome.tif", tmp_path / "GT")
    assert len(list((tmp_path / "GT" / "TRA").glob("man_track*.tif"))) == 4
    assert len(list((tmp_path / "GT" / "SEG").glob("man_seg*.tif"))) == 4


def test_ctc_metrics_accept_ground_truth(written, tmp_path):
    from ctc_metrics import evaluate_sequence

    res = tmp_path / "RES"
    res.mkdir()
    for mask in sorted((written / "GT" / "TRA").glob("man_track*.tif")):
        shutil.copy(mask, res / mask.name.replace("man_track", "mask"))
    shutil.copy(written / "GT" / "TRA" / "man_track.txt", res / "res_track.txt")
    result = evaluate_sequence(str(res), str(written / "GT"), metrics=["SEG", "DET", "TRA", "BC"], threads=1)
    assert result["TRA"] == 1.0 and result["SEG"] == 1.0 and result["DET"] == 1.0
    assert result["BC(0)"] == 1.0
