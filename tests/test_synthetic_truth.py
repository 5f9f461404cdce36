"""The synthetic generator's per-cell truth (GT/cell_truth.csv): onsets, deaths, exits, family."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest

from marrowflow.errors import ConfigError
from marrowflow.synthetic import LINEAGE_MARKER, LINEAGES, OrganoidParams, simulate_organoid, write_synthetic

DEATHS = {"progenitor": 0.06, "erythroid": 0.06, "myeloid": 0.06, "megakaryocyte": 0.06}
BUSY = OrganoidParams(seed=21, n_frames=24, size=(128, 128), n_founders=10, cells_leave_field=True,
                      motility_px=2.5, cycle_time_h=4.0, death_rate_per_h=DEATHS,
                      differentiation_rate_per_h={k: 0.08 for k in LINEAGES})


@pytest.fixture(scope="module")
def busy():
    return simulate_organoid(BUSY)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def test_without_death_rates_the_movie_is_the_one_from_before_deaths_existed():
    """SHA-256 of arrays made by the generator before cell death was added (same parameters)."""
    p = OrganoidParams(seed=7, n_frames=8, size=(96, 96), n_founders=5, cells_leave_field=True, motility_px=2.0)
    sim = simulate_organoid(p)
    assert _sha(sim.movie) == "e60614883f3e285629062170c82fa653156a9c1f9f92cefbdc55afb96ad6cc1e"
    assert _sha(sim.labels) == "4034838b662f42d32e2cb599e24f27168b73c74ac5c82a55189e946c95e0b3cd"
    zero = simulate_organoid(OrganoidParams(**{**p.to_dict(), "death_rate_per_h": dict.fromkeys(DEATHS, 0.0)}))
    np.testing.assert_array_equal(zero.movie, sim.movie)
    assert "died" not in set(sim.cell_truth["end_cause"]) and sim.cell_truth["apoptosis_frame"].isna().all()


def test_cell_truth_family_matches_the_tracks(busy):
    ct = busy.cell_truth.set_index("label")
    tracks = busy.tracks.set_index("label")
    assert list(ct.index) == list(tracks.index)
    assert (ct[["begin", "end", "parent"]] == tracks[["begin", "end", "parent"]]).all().all()
    for lab, row in ct.iterrows():
        if row["parent"]:
            assert row["generation"] == ct.at[row["parent"], "generation"] + 1
            assert row["founder"] == ct.at[row["parent"], "founder"]
        else:
            assert row["generation"] == 0 and row["founder"] == lab
        if row["sister"]:
            assert ct.at[row["sister"], "sister"] == lab and ct.at[row["sister"], "parent"] == row["parent"]
    assert (ct["sister"] > 0).sum() >= 10
    assert (ct["end_cause"] == "divided").sum() == ct.loc[ct["parent"] > 0, "parent"].nunique()


def test_end_causes_deaths_and_exits(busy):
    ct = busy.cell_truth
    causes = ct["end_cause"].value_counts()
    assert causes.get("died", 0) >= 3 and causes.get("left_field", 0) >= 3
    assert set(causes.index) <= {"divided", "died", "left_field", "covered", "end_of_movie"}
    dead = ct[ct["end_cause"] == "died"]
    assert (dead["end"] == dead["apoptosis_frame"] + BUSY.death_frames - 1).all()
    truth = busy.truth.set_index(["label", "frame"])
    h, w = BUSY.size
    for _, row in ct[ct["end_cause"] == "left_field"].iterrows():
        y, x = truth.loc[(row["label"], row["end"]), ["y", "x"]]
        assert min(y, x, h - 1 - y, w - 1 - x) < 2 * BUSY.radius_px


def test_a_dying_nucleus_shrinks_and_brightens(busy):
    dead = busy.cell_truth[(busy.cell_truth["end_cause"] == "died")
                           & (busy.cell_truth["apoptosis_frame"] > busy.cell_truth["begin"])]
    assert len(dead)
    for _, row in dead.iterrows():
        before, last = int(row["apoptosis_frame"]) - 1, int(row["end"])
        area = [(busy.labels[t] == row["label"]).sum() for t in (before, last)]
        bright = [busy.movie[t, 0][busy.labels[t] == row["label"]].mean() for t in (before, last)]
        assert area[1] < 0.6 * area[0] and bright[1] > 1.15 * bright[0]


def test_onsets_are_the_start_of_the_marker_rise_and_the_type_switch_follows(busy):
    ct = busy.cell_truth.set_index("label")
    truth = busy.truth.set_index(["label", "frame"])
    checked = 0
    for lineage, marker in LINEAGE_MARKER.items():
        col = f"onset_{marker}_frame"
        assert ct.loc[ct["fate"] != lineage, col].isna().all()
        mine = ct[(ct["fate"] == lineage) & ct[col].notna()]
        for lab, row in mine.iterrows():
            onset = int(row[col])
            if row["begin"] <= onset < row["end"]:
                assert truth.at[(lab, onset), f"level_{marker}"] == 0
                assert truth.at[(lab, onset + 1), f"level_{marker}"] > 0
                checked += 1
            switch = math.ceil(row["type_switch_frame"])
            typed = busy.cell_types[(busy.cell_types["label"] == lab) & (busy.cell_types["cell_type"] == lineage)]
            if row["begin"] < switch <= row["end"]:
                assert typed["frame"].min() == switch
    assert checked >= 3


def test_cell_truth_is_written_with_the_ground_truth(busy, tmp_path):
    write_synthetic(busy, tmp_path / "movie.ome.tif", tmp_path / "GT")
    back = pd.read_csv(tmp_path / "GT" / "cell_truth.csv")
    pd.testing.assert_frame_equal(back, busy.cell_truth, check_dtype=False)


def test_death_parameters_are_checked():
    with pytest.raises(ConfigError, match="death_rate_per_h"):
        OrganoidParams.from_config({"death_rate_per_h": {"neutrophil": 0.1}}, where="demo.x")
    with pytest.raises(ConfigError, match="death_frames"):
        OrganoidParams.from_config({"death_frames": 0}, where="demo.x")
