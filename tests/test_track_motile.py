"""The global tracker (method motile) on a small synthetic colony: every division recovered, and
a movie solved in overlapping windows gives the whole solve's links; the track rule's script
with method motile."""

import runpy
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from marrowflow.io import write_json, write_table
from marrowflow.io.labels import LabelStackWriter
from marrowflow.measure.cells import measure_frame
from marrowflow.synthetic_colony import ColonyParams, make_colony
from marrowflow.track.costs import movie_overlaps
from marrowflow.track.ctc import tracks_to_ctc
from marrowflow.track.linking import TrackingParams, track_cells

SCRIPT = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "track.py"


@pytest.fixture(scope="module")
def colony():
    col = make_colony(ColonyParams(n_frames=14, size=(96, 96), n_founders=4, cycle_time_frames=5.0,
                                   cell_radius_px=5.0, spacing=0.9, seed=3))
    cells = pd.concat([measure_frame(lab, img[None], channel_names=["nuclei"], frame=t, time_h=float(t),
                                     pixel_size_um=None)
                       for t, (lab, img) in enumerate(zip(col.labels, col.images))], ignore_index=True)
    return col, cells, movie_overlaps(col.labels)


def _divisions(tracks: pd.DataFrame) -> set:
    """{(mother's last frame, mother's label there)} of the tracks' divisions."""
    ctc = tracks_to_ctc(tracks)
    kids = ctc.loc[ctc["parent"] > 0, "parent"].value_counts()
    last = tracks.sort_values("frame").groupby("track_id").last()
    return {(int(last.at[m, "frame"]), int(last.at[m, "label"])) for m in kids[kids == 2].index}


@pytest.mark.parametrize("motion_model", ["none", "own", "flow"])
def test_motile_recovers_every_division_of_a_small_colony(colony, motion_model):
    col, cells, overlaps = colony
    truth = col.tracks
    kids = truth.loc[truth["parent"] > 0, "parent"].value_counts()
    end = truth.set_index("label")["end"]
    true_divisions = {(int(end[m]), int(m)) for m in kids[kids == 2].index}
    assert len(true_divisions) >= 5
    tracks = track_cells(cells, {"method": "motile", "max_distance_px": 15.0, "motion_model": motion_model},
                         overlaps=overlaps)
    assert _divisions(tracks) == true_divisions
    # every link joins the same true cell (label = true track id) or a mother to its daughter
    parent = truth.set_index("label")["parent"]
    for _, track in tracks.groupby("track_id"):
        assert track["label"].nunique() == 1
    # a track's parent is the true mother
    first = tracks.sort_values("frame").groupby("track_id").first()
    last = tracks.sort_values("frame").groupby("track_id").last()
    for tid, row in first[first["parent_track_id"] > 0].iterrows():
        assert last.at[row["parent_track_id"], "label"] == parent[row["label"]], tid


def test_windowed_solve_equals_whole_solve(colony):
    _, cells, overlaps = colony
    base = {"method": "motile", "max_distance_px": 15.0}
    whole = track_cells(cells, {**base, "window_frames": 60}, overlaps=overlaps)
    windowed = track_cells(cells, {**base, "window_frames": 6, "window_overlap_frames": 2}, overlaps=overlaps)
    pd.testing.assert_frame_equal(whole, windowed)


def test_motile_without_overlaps_and_bad_windows(colony):
    _, cells, _ = colony
    tracks = track_cells(cells.drop(columns="area_px").assign(area_px=50.0),
                         {"method": "motile", "max_distance_px": 15.0, "divisions": False})
    assert (tracks["parent_track_id"] == 0).all()
    assert tracks.groupby(["track_id", "frame"]).size().max() == 1
    with pytest.raises(Exception, match="window_overlap_frames"):
        TrackingParams(max_distance_px=5.0, window_frames=5, window_overlap_frames=5)
    with pytest.raises(Exception, match="area_px"):
        track_cells(cells.drop(columns="area_px"), {"method": "motile", "max_distance_px": 15.0})


def test_track_script_runs_with_method_motile(tmp_path):
    col = make_colony(ColonyParams(n_frames=6, size=(64, 64), n_founders=2, cycle_time_frames=3.0,
                                   cell_radius_px=5.0, seed=1))
    n, shape = col.labels.shape[0], col.labels.shape[1:]
    with LabelStackWriter(tmp_path / "labels.tif", n, shape) as writer:
        for t, frame in enumerate(col.labels):
            writer.write(t, frame)
    cells = pd.concat([measure_frame(lab, img[None], channel_names=["nuclei"], frame=t, time_h=float(t),
                                     pixel_size_um=None)
                       for t, (lab, img) in enumerate(zip(col.labels, col.images))], ignore_index=True)
    cells["cell_type"], cells["type_score"], cells["type_source"] = "unknown", 0.0, "rule"
    write_table(cells, tmp_path / "cells_typed.parquet")
    write_json({"path": "movie.tif", "axes": "TCYX", "n_frames": n, "n_channels": 1, "shape_zyx": list(shape),
                "dtype": "uint16", "channel_names": ["nuclei"]}, tmp_path / "metadata.json")
    smk = SimpleNamespace(
        input=SimpleNamespace(cells=str(tmp_path / "cells_typed.parquet"), metadata=str(tmp_path / "metadata.json"),
                              labels=str(tmp_path / "labels.tif"), drift=[], review_geff=[]),
        output=SimpleNamespace(tracks=str(tmp_path / "tracks.parquet"), ctc=str(tmp_path / "ctc")),
        params=SimpleNamespace(review_dir=str(tmp_path / "reviews"), track_vote={},
                               tracking={"method": "motile", "max_distance_px": 12.0}),
        log=[str(tmp_path / "track.log")], rule="track", wildcards=SimpleNamespace(sample="s1"))
    runpy.run_path(str(SCRIPT), init_globals={"snakemake": smk})
    tracks = pd.read_parquet(tmp_path / "tracks.parquet")
    assert len(tracks) == len(cells)
    assert tracks.groupby("track_id")["label"].nunique().max() == 1  # label = true track id
    truth_div = int((col.tracks["parent"] > 0).sum())
    assert int((tracks.groupby("track_id")["parent_track_id"].max() > 0).sum()) == truth_div
    assert (tmp_path / "ctc" / "res_track.txt").is_file()
