"""Tracking on made-up point sets with a known answer, and the CTC / napari exports."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from marrowflow.errors import ConfigError, InputError
from marrowflow.track.ctc import check_ctc, relabel_frame, split_gaps, tracks_to_ctc
from marrowflow.track.linking import track_cells
from marrowflow.track.napari import napari_tracks

CFG = {"max_distance_px": 10.0, "gap_closing_frames": 2, "divisions": True}


def _cells(rows, cols=("frame", "label", "y", "x")):
    return pd.DataFrame(rows, columns=list(cols))


def _division_cells():
    """A cell moving right divides after frame 4 into daughters moving up and down; a second
    cell nearby just moves on; a third sits still."""
    rows = [(t, 1, 50.0, 10.0 + 2 * t) for t in range(5)]
    for t in range(5, 9):
        rows += [(t, 1, 50.0 - 3 * (t - 4), 18.0 + 2 * (t - 4)), (t, 2, 50.0 + 3 * (t - 4), 18.0 + 2 * (t - 4))]
    rows += [(t, 5, 80.0, 60.0 - t) for t in range(9)]
    rows += [(t, 6, 150.0, 150.0) for t in range(9)]
    return _cells(rows)


def _track_of(tracks, frame, label):
    return int(tracks.loc[(tracks.frame == frame) & (tracks.label == label), "track_id"].iloc[0])


def test_division_mother_ends_daughters_start_next_frame():
    cells = _division_cells()
    tracks = track_cells(cells, CFG)
    ctc = tracks_to_ctc(tracks).set_index("label")
    mother = _track_of(tracks, 4, 1)
    d1, d2 = _track_of(tracks, 5, 1), _track_of(tracks, 5, 2)
    assert len({mother, d1, d2}) == 3
    assert ctc.loc[mother, "end"] == 4 and ctc.loc[mother, "begin"] == 0
    for d in (d1, d2):
        assert ctc.loc[d, ["begin", "end", "parent"]].tolist() == [5, 8, mother]
    # the other two cells are single tracks without parents
    for label in (5, 6):
        t = _track_of(tracks, 0, label)
        assert ctc.loc[t, ["begin", "end", "parent"]].tolist() == [0, 8, 0]
    assert len(ctc) == 5


def test_no_division_when_disabled_and_when_one_daughter_just_continues():
    cells = _division_cells()
    off = track_cells(cells, {**CFG, "divisions": False})
    assert (tracks_to_ctc(off)["parent"] == 0).all()
    # a cell that continues in place while a new object appears next to it is not a division
    rows = [(t, 1, 50.0, 50.0) for t in range(8)] + [(t, 2, 50.0, 58.0) for t in range(4, 8)]
    tracks = track_cells(_cells(rows), CFG)
    assert (tracks_to_ctc(tracks)["parent"] == 0).all()
    assert tracks.groupby("label")["track_id"].nunique().tolist() == [1, 1]


def test_one_frame_gap_is_closed_as_a_ctc_continuation():
    rows = [(t, 1, 30.0, 20.0 + t) for t in range(8) if t != 3] + [(t, 2, 90.0, 90.0) for t in range(8)]
    tracks = track_cells(_cells(rows), CFG)
    before, after = _track_of(tracks, 2, 1), _track_of(tracks, 4, 1)
    ctc = tracks_to_ctc(tracks).set_index("label")
    assert before != after
    assert ctc.loc[before, ["begin", "end"]].tolist() == [0, 2]
    assert ctc.loc[after, ["begin", "end", "parent"]].tolist() == [4, 7, before]
    # without gap closing the second part is an unrelated track
    no_gap = track_cells(_cells(rows), {**CFG, "gap_closing_frames": 0})
    assert tracks_to_ctc(no_gap).set_index("label").loc[_track_of(no_gap, 4, 1), "parent"] == 0
    # gaps longer than allowed are not closed
    rows3 = [(t, 1, 30.0, 20.0 + t) for t in range(10) if t not in (3, 4, 5)]
    one = track_cells(_cells(rows3), {**CFG, "gap_closing_frames": 1})
    assert (tracks_to_ctc(one)["parent"] == 0).all()
    three = track_cells(_cells(rows3), {**CFG, "gap_closing_frames": 3})
    assert (tracks_to_ctc(three)["parent"] > 0).sum() == 1


def test_cell_leaving_the_field_ends_its_track_and_others_keep_theirs():
    rows = [(t, 1, 20.0, 5.0 - 3 * t) for t in range(2)]  # leaves after frame 1
    rows += [(t, 2, 60.0, 40.0 + 2 * t) for t in range(6)]
    rows += [(t, 3, 60.0, 70.0 - 2 * t) for t in range(6)]  # approaches cell 2 but stays apart
    tracks = track_cells(_cells(rows), CFG)
    ctc = tracks_to_ctc(tracks).set_index("label")
    assert ctc.loc[_track_of(tracks, 0, 1), ["begin", "end", "parent"]].tolist() == [0, 1, 0]
    for label in (2, 3):
        assert tracks.loc[tracks.label == label, "track_id"].nunique() == 1
    assert len(ctc) == 3


def test_crossing_paths_keep_identity_with_3d_and_physical_units():
    # two cells pass each other in 3D; 1 µm pixels, z step 2 µm (z in planes)
    rows = []
    for t in range(10):
        rows.append((t, 1, 5.0, 20.0, 10.0 + 3 * t))
        rows.append((t, 2, 7.0, 26.0, 40.0 - 3 * t))
    cells = _cells(rows, ("frame", "label", "z", "y", "x"))
    tracks = track_cells(cells, {"max_distance_um": 5.0}, pixel_size_um=1.0, z_step_um=2.0)
    assert tracks.groupby("label")["track_id"].nunique().tolist() == [1, 1]
    assert tracks["track_id"].nunique() == 2
    data, graph = napari_tracks(tracks)
    assert data.shape == (20, 5) and graph == {}
    # a step of 3 µm is too far for max 2 µm: every detection is its own track
    short = track_cells(cells, {"max_distance_um": 2.0, "gap_closing_frames": 0}, pixel_size_um=1.0)
    assert short["track_id"].nunique() == 20
    # max speed in µm/h with the time step limits the step too
    slow = track_cells(cells, {"max_distance_um": 5.0, "max_speed_um_per_h": 1.0, "gap_closing_frames": 0},
                       pixel_size_um=1.0, time_step_h=2.0)
    assert slow["track_id"].nunique() == 20


def test_output_keeps_input_order_and_does_not_modify_input():
    cells = _division_cells().sample(frac=1.0, random_state=3)
    before = cells.copy()
    tracks = track_cells(cells, CFG)
    pd.testing.assert_frame_equal(cells, before)
    pd.testing.assert_frame_equal(tracks[cells.columns], cells)
    again = track_cells(cells.sort_values(["frame", "label"]), CFG)
    merged = tracks.merge(again, on=["frame", "label"])
    assert (merged["track_id_x"] == merged["track_id_y"]).all()
    # ids are numbered by first appearance
    first = tracks.groupby("track_id")["frame"].min()
    assert first.is_monotonic_increasing and first.index.min() == 1


def test_fixed_links_are_kept():
    # two cells swap places between frames 2 and 3 (the LAP alone would keep them on their rows)
    rows = [(t, 1, 20.0, 20.0 + t) for t in range(6)] + [(t, 2, 26.0, 20.0 + t) for t in range(6)]
    cells = _cells(rows)
    plain = track_cells(cells, CFG)
    assert plain.groupby("label")["track_id"].nunique().tolist() == [1, 1]
    fixed = pd.DataFrame({"frame": [2, 2], "label": [1, 2], "next_frame": [3, 3], "next_label": [2, 1]})
    tracks = track_cells(cells, CFG, fixed_links=fixed)
    assert _track_of(tracks, 2, 1) == _track_of(tracks, 3, 2) == _track_of(tracks, 5, 2)
    assert _track_of(tracks, 2, 2) == _track_of(tracks, 3, 1)
    bad = pd.DataFrame({"frame": [2], "label": [9], "next_frame": [3], "next_label": [1]})
    with pytest.raises(InputError, match="not in the cells table"):
        track_cells(cells, CFG, fixed_links=bad)


def test_laptrack_reference_finds_the_same_tracks():
    cells = _division_cells()
    ours = tracks_to_ctc(track_cells(cells, CFG))
    ref = tracks_to_ctc(track_cells(cells, {**CFG, "method": "laptrack"}))
    pd.testing.assert_frame_equal(ours, ref)


def test_config_errors():
    cells = _division_cells()
    with pytest.raises(ConfigError, match="pixel size"):
        track_cells(cells, {"max_distance_um": 5.0})
    with pytest.raises(InputError, match="missing"):
        track_cells(cells.drop(columns="y"), CFG)
    empty = track_cells(cells.iloc[0:0], CFG)
    assert list(empty.columns[-2:]) == ["track_id", "parent_track_id"] and len(empty) == 0


def test_split_gaps_and_check_ctc():
    tracks = _cells([(0, 1, 0, 0, 1, 0), (1, 1, 0, 0, 1, 0), (3, 1, 0, 0, 1, 0), (4, 2, 0, 0, 2, 1)],
                    ("frame", "label", "y", "x", "track_id", "parent_track_id"))
    with pytest.raises(InputError, match="skip frames"):
        tracks_to_ctc(tracks)
    fixed = split_gaps(tracks)
    ctc = tracks_to_ctc(fixed).set_index("label")
    assert ctc.loc[1].tolist() == [0, 1, 0]
    assert ctc.loc[3].tolist() == [3, 3, 1]     # the part after the gap, parent = part before
    assert ctc.loc[2].tolist() == [4, 4, 3]     # the old child hangs from the last part
    pd.testing.assert_frame_equal(split_gaps(fixed), fixed)
    with pytest.raises(InputError, match="before their parent ends"):
        check_ctc(pd.DataFrame({"label": [1, 2], "begin": [0, 2], "end": [3, 4], "parent": [0, 1]}))


def test_ctc_export_reads_back_valid(tmp_path):
    """Masks relabelled to track ids + res_track.txt pass py-ctcmetrics' own validity check."""
    from ctc_metrics.metrics import valid
    from ctc_metrics.utils.filesystem import parse_masks, read_tracking_file
    from ctc_metrics.utils.representations import match

    cells = _division_cells()
    cells["label"] = cells["label"] + 10 * cells["frame"]  # labels differ from track ids
    tracks = track_cells(cells, CFG)
    for t in range(9):
        labels = np.zeros((200, 200), np.uint32)
        for row in cells[cells.frame == t].itertuples():
            labels[int(row.y) - 1:int(row.y) + 2, int(row.x) - 1:int(row.x) + 2] = row.label
        mask = relabel_frame(labels, tracks[tracks.frame == t])
        assert mask.dtype == np.uint16
        assert set(np.unique(mask)) - {0} == set(tracks.loc[tracks.frame == t, "track_id"])
        tifffile.imwrite(tmp_path / f"mask{t:03d}.tif", mask)
    tracks_to_ctc(tracks).to_csv(tmp_path / "res_track.txt", sep=" ", header=False, index=False)
    res = read_tracking_file(str(tmp_path / "res_track.txt"))
    masks = parse_masks(str(tmp_path))
    labels_in = [match(m, m)[0] for m in masks]
    assert valid(masks, res, labels_in) == 1
    # daughters start the frame after their mother ends
    ctc = pd.DataFrame(res, columns=["label", "begin", "end", "parent"]).set_index("label")
    kids = ctc[ctc.parent > 0]
    assert (kids["begin"].to_numpy() == ctc.loc[kids["parent"], "end"].to_numpy() + 1).all()


def test_napari_graph_ids_exist_in_data():
    tracks = track_cells(_division_cells(), CFG)
    data, graph = napari_tracks(tracks)
    ids = set(data[:, 0].astype(int))
    assert graph and all(c in ids and all(p in ids for p in ps) for c, ps in graph.items())
    assert data.shape[1] == 4
    order = np.lexsort((data[:, 1], data[:, 0]))
    assert (order == np.arange(len(data))).all()


def test_touching_cells_seen_as_one_object_are_not_a_division():
    """Cells A and B are segmented as one object (twice the area) in frames 3-5, then apart
    again: each keeps its identity (A across the merge by a gap-closing link), no division."""
    rows = []
    for t in range(10):
        if 3 <= t <= 5:
            rows.append((t, 1, 50.0, 51.0, 200))  # nearer to B, which goes on through it
        else:
            rows += [(t, 1, 50.0, 44.0, 100), (t, 2, 50.0, 56.0, 100)]
    cells = _cells(rows, ("frame", "label", "y", "x", "area_px"))
    tracks = track_cells(cells, {"max_distance_px": 10.0})
    ctc = tracks_to_ctc(tracks).set_index("label")
    assert (ctc.loc[ctc["parent"] > 0, "parent"].value_counts() < 2).all()   # no division
    a_before, a_after = _track_of(tracks, 2, 1), _track_of(tracks, 6, 1)
    b_before, b_after = _track_of(tracks, 2, 2), _track_of(tracks, 6, 2)
    # B goes on through the merged object; A is seen again after it (CTC gap continuation)
    assert b_before == _track_of(tracks, 4, 1) == b_after
    assert a_after != a_before and ctc.loc[a_after, "parent"] == a_before
    # without the merge resolution the same data gives a false division
    off = tracks_to_ctc(track_cells(cells, {"max_distance_px": 10.0, "merge_max_frames": 0}))
    assert (off.loc[off["parent"] > 0, "parent"].value_counts() == 2).any()


@pytest.mark.parametrize("column, key", [("mean_nuclei", "intensity_weight"), ("area_px", "area_weight")])
def test_size_or_intensity_term_keeps_identity_when_cells_swap_places(column, key):
    # A (bright, big) and B (dim, small) pass each other between frames 1 and 2
    rows = [(0, 1, 20.0, 0.0, 100.0), (0, 2, 20.0, 10.0, 10.0), (1, 1, 20.0, 4.0, 100.0), (1, 2, 20.0, 6.0, 10.0),
            (2, 1, 20.0, 7.0, 100.0), (2, 2, 20.0, 3.0, 10.0), (3, 1, 20.0, 10.0, 100.0), (3, 2, 20.0, 0.0, 10.0)]
    cells = _cells(rows, ("frame", "label", "y", "x", column))
    base = {"max_distance_px": 10.0, "gap_closing_frames": 0, "divisions": False}
    plain = track_cells(cells, base)
    assert plain.groupby("label")["track_id"].nunique().max() == 2      # position alone swaps them
    cfg = {**base, key: 1.0, "intensity_channel": "nuclei"}
    tracks = track_cells(cells, cfg)
    assert tracks.groupby("label")["track_id"].nunique().tolist() == [1, 1]
    if key == "intensity_weight":
        with pytest.raises(ConfigError, match="mean_CD34"):
            track_cells(cells, {**cfg, "intensity_channel": "CD34"})
