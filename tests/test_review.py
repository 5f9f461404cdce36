"""marrowflow.review: review files (read, merge, atomic save) and applying reviews to tables."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.errors import InputError
from marrowflow.io import open_labels
from marrowflow.review.apply import (
    apply_label_review,
    apply_track_review,
    apply_type_review,
    review_fixed_links,
)
from marrowflow.review.files import (
    Review,
    ReviewWarning,
    load_review,
    merge_reviews,
    read_review_log,
    save_review,
)
from marrowflow.review.track_edits import (
    apply_track_edits,
    delete_track,
    join_tracks,
    remove_parent,
    set_parent,
    split_track,
    type_edits,
)


def _tracks() -> pd.DataFrame:
    """Track 1 (label 1, frames 0-4) divides into 2 (label 2) and 3 (label 3), frames 5-9;
    track 4 (label 4) runs through frames 0-9."""
    rows = []
    for f in range(10):
        if f < 5:
            rows.append((f, 1, 1, 0))
        else:
            rows += [(f, 2, 2, 1), (f, 3, 3, 1)]
        rows.append((f, 4, 4, 0))
    df = pd.DataFrame(rows, columns=["frame", "label", "track_id", "parent_track_id"])
    df["cell_type"] = "progenitor"
    return df


def _links(df: pd.DataFrame) -> dict:
    """{track_id: (first frame, last frame, parent)}."""
    g = df.groupby("track_id")
    return {int(k): (int(v["frame"].min()), int(v["frame"].max()), int(v["parent_track_id"].iloc[0]))
            for k, v in g}


def test_split_track_mid_track_gives_new_founder():
    out, edits = split_track(_tracks(), 4, 5)
    assert _links(out)[4] == (0, 4, 0)
    assert _links(out)[5] == (5, 9, 0)
    assert edits.iloc[0].to_dict() == {"action": "unlink", "frame": 4, "label": 4, "next_frame": 5, "next_label": 4}


def test_split_moves_children_to_the_tail():
    out, _ = split_track(_tracks(), 1, 2)
    links = _links(out)
    assert links[1] == (0, 1, 0) and links[5] == (2, 4, 0)
    assert links[2][2] == 5 and links[3][2] == 5


def test_join_undoes_split():
    tracks = _tracks()
    split, _ = split_track(tracks, 4, 5)
    joined, edits = join_tracks(split, 4, 5)
    assert edits["action"].tolist() == ["link"]
    pd.testing.assert_frame_equal(joined, tracks)


def test_set_parent_on_continuing_mother_divides_it():
    out, edits = set_parent(_tracks(), child=2, parent=4)
    links = _links(out)
    assert links[4] == (0, 4, 0)
    assert links[5] == (5, 9, 4)  # the mother's continuation is the second daughter
    assert links[2] == (5, 9, 4) and links[3] == (5, 9, 1)
    assert edits.iloc[0]["action"] == "divide"


def test_remove_parent_and_delete_track():
    out, _ = remove_parent(_tracks(), 2)
    assert _links(out)[2][2] == 0 and _links(out)[3][2] == 1
    out, edits = delete_track(_tracks(), 1)
    assert 1 not in set(out["track_id"])
    assert len(edits) == 5 and set(edits["action"]) == {"delete"}
    assert _links(out)[2][2] == 0  # children of a deleted track become founders


def test_replaying_the_saved_edits_gives_the_widget_result():
    tracks = _tracks()
    a, e1 = split_track(tracks, 4, 3)
    b, e2 = set_parent(a, child=5, parent=1)
    c, e3 = delete_track(b, 3)
    review = Review(track_edits=pd.concat([e1, e2, e3], ignore_index=True))
    pd.testing.assert_frame_equal(apply_track_review(tracks, review), c)
    assert _links(c)[5] == (3, 9, 1)
    assert _links(c)[1] == (0, 2, 0) and _links(c)[6] == (3, 4, 1)


def test_edits_naming_missing_cells_are_skipped_with_a_warning():
    edits = pd.DataFrame([{"action": "delete", "frame": 0, "label": 99, "next_frame": -1, "next_label": -1}])
    with pytest.warns(ReviewWarning, match="skipped"):
        out = apply_track_edits(_tracks(), edits)
    pd.testing.assert_frame_equal(out, _tracks())


def test_fixed_links_keep_confirmed_links_only():
    rows = [{"action": "link", "frame": 1, "label": 1, "next_frame": 2, "next_label": 1},
            {"action": "divide", "frame": 4, "label": 1, "next_frame": 5, "next_label": 2},
            {"action": "unlink", "frame": 1, "label": 1, "next_frame": 2, "next_label": 1}]
    review = Review(track_edits=pd.DataFrame(rows))
    links = review_fixed_links(review)
    assert links.to_dict("records") == [{"frame": 4, "label": 1, "next_frame": 5, "next_label": 2}]
    with pytest.warns(ReviewWarning, match="dropped"):
        assert len(review_fixed_links(review, cells=_tracks()[lambda d: d["frame"] != 5])) == 0
    assert len(review_fixed_links(review, cells=_tracks())) == 1


def test_type_edits_along_track_and_apply_type_review():
    tracks = _tracks()
    rows = type_edits(tracks, 7, 2, "erythroid", along_track=True)
    assert rows["frame"].tolist() == [7, 8, 9] and set(rows["label"]) == {2}
    cells = tracks.assign(type_score=0.4, type_source="rule")
    out = apply_type_review(cells, Review(cell_types=rows))
    hit = (out["label"] == 2) & (out["frame"] >= 7)
    assert (out.loc[hit, "cell_type"] == "erythroid").all() and (out.loc[hit, "type_source"] == "review").all()
    assert (out.loc[~hit, "cell_type"] == "progenitor").all() and (out.loc[~hit, "type_source"] == "rule").all()
    assert (cells["cell_type"] == "progenitor").all()  # input untouched


def test_apply_label_review_replaces_reviewed_frames_only():
    seg = np.ones((4, 5), np.uint32)
    reviewed = np.full((4, 5), 7, np.uint32)
    review = Review(reviewed_frames=[2], label_frames={2: reviewed})
    assert (apply_label_review(seg, 2, review) == 7).all()
    assert apply_label_review(seg, 1, review) is seg


def test_load_review_of_missing_folder_is_empty(tmp_path):
    review = load_review(tmp_path / "reviews" / "nothing")
    assert review.is_empty and review.label_frame(0) is None


def test_bad_tracks_csv_names_the_file(tmp_path):
    (tmp_path / "tracks.csv").write_text("action,frame,label,next_frame,next_label\nmerge,1,1,2,2\n")
    with pytest.raises(InputError, match="tracks.csv"):
        load_review(tmp_path)


def test_save_merges_with_earlier_review(tmp_path):
    d = tmp_path / "reviews" / "s1"
    shape = (6, 8)
    f1 = np.zeros(shape, np.uint32)
    f1[1:3, 1:3] = 5
    first = Review(cell_types=pd.DataFrame({"frame": [0, 1], "label": [1, 2], "cell_type": ["erythroid", "myeloid"]}),
                   track_edits=pd.DataFrame([{"action": "delete", "frame": 0, "label": 3, "next_frame": -1,
                                              "next_label": -1}]),
                   reviewed_frames=[1], label_frames={1: f1})
    save_review(d, first, n_frames=4, shape_zyx=shape, user="ann")
    f3 = np.full(shape, 9, np.uint32)
    second = Review(cell_types=pd.DataFrame({"frame": [1], "label": [2], "cell_type": ["erythroid"]}),
                    track_edits=pd.DataFrame([{"action": "unlink", "frame": 0, "label": 1, "next_frame": 1,
                                               "next_label": 1}]),
                    reviewed_frames=[3], label_frames={3: f3})
    save_review(d, second, n_frames=4, shape_zyx=shape, user="bob")
    back = load_review(d)
    assert back.cell_types.to_dict("records") == [{"frame": 0, "label": 1, "cell_type": "erythroid"},
                                                  {"frame": 1, "label": 2, "cell_type": "erythroid"}]
    assert back.track_edits["action"].tolist() == ["delete", "unlink"]
    assert back.reviewed_frames == [1, 3]
    assert (d / "reviewed_frames.txt").read_text() == "1\n3\n"
    np.testing.assert_array_equal(back.label_frame(1), f1)
    np.testing.assert_array_equal(back.label_frame(3), f3)
    with open_labels(d / "labels.tif") as stack:
        assert stack.n_frames == 4 and not stack.read_frame(0).any()
    assert [e["user"] for e in read_review_log(d)] == ["ann", "bob"]
    stamp = (d / "labels.tif").stat().st_mtime_ns
    save_review(d, Review(cell_types=pd.DataFrame({"frame": [2], "label": [1], "cell_type": ["myeloid"]})),
                n_frames=4, shape_zyx=shape)
    assert (d / "labels.tif").stat().st_mtime_ns == stamp  # types only: the label stack is left alone
    assert load_review(d).reviewed_frames == [1, 3] and len(load_review(d).cell_types) == 3
    assert not [p.name for p in d.iterdir() if p.name.startswith(".tmp")]


def test_merge_reviews_keeps_old_and_new():
    old = Review(cell_types=pd.DataFrame({"frame": [0], "label": [1], "cell_type": ["a"]}), reviewed_frames=[0])
    new = Review(cell_types=pd.DataFrame({"frame": [0, 2], "label": [1, 1], "cell_type": ["b", "c"]}),
                 reviewed_frames=[2])
    merged = merge_reviews(old, new)
    assert merged.cell_types["cell_type"].tolist() == ["b", "c"]
    assert merged.reviewed_frames == [0, 2]


def test_save_refuses_frames_without_labels(tmp_path):
    with pytest.raises(ValueError, match="labels were not given"):
        save_review(tmp_path, Review(reviewed_frames=[0]), n_frames=2, shape_zyx=(3, 3))


def test_track_step_honours_a_reviewed_join():
    """The track step's path: fixed links from the review into track_cells, then the edits replayed
    (a no-op for links the tracker already kept)."""
    from marrowflow.track.linking import track_cells

    cells = pd.DataFrame([(f, lab, y, 10.0 + f) for lab, y in ((1, 10.0), (2, 30.0)) for f in range(6)],
                         columns=["frame", "label", "y", "x"])
    edits = pd.DataFrame([{"action": "link", "frame": 2, "label": 1, "next_frame": 3, "next_label": 2}])
    review = Review(track_edits=edits)
    tracked = track_cells(cells, {"max_distance_um": 30, "gap_closing_frames": 2, "divisions": True},
                          pixel_size_um=1.0, fixed_links=review_fixed_links(review, cells))
    tid = tracked.set_index(["frame", "label"])["track_id"]
    assert tid[(2, 1)] == tid[(3, 2)] != tid[(3, 1)]
    pd.testing.assert_frame_equal(apply_track_review(tracked, review), tracked)


def test_track_review_leaves_no_gaps():
    from marrowflow.track.ctc import tracks_to_ctc

    edits = pd.DataFrame([{"action": "delete", "frame": 5, "label": 4, "next_frame": -1, "next_label": -1}])
    out = apply_track_review(_tracks(), Review(track_edits=edits))
    ctc = tracks_to_ctc(out).set_index("label")
    assert ctc.loc[4, ["begin", "end"]].tolist() == [0, 4]
    assert ctc.loc[5].tolist() == [6, 9, 4]  # the part after the gap: a daughter of track 4


CLASSES = ["erythroid", "myeloid", "progenitor"]


def _types_file(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cell_types.csv").write_text(text)
    return load_review(folder)


def test_a_reviewed_type_that_is_no_configured_class_names_file_line_and_classes(tmp_path):
    d = tmp_path / "reviews" / "s1"
    review = _types_file(d, "frame,label,cell_type\n0,1,erythroid\n\n1,4,erythroyd\n2,4,unknown\n")
    cells = _tracks().assign(type_score=0.4, type_source="rule")
    with pytest.raises(InputError) as err:
        apply_type_review(cells, review, classes=CLASSES)
    text = str(err.value)
    assert str(d / "cell_types.csv") in text and "line(s) 4:" in text and "erythroyd" in text
    assert "['erythroid', 'myeloid', 'progenitor', 'unknown']" in text
    # without classes (the plugin's own edits) there is no class check
    assert apply_type_review(cells, review).loc[lambda t: (t.frame == 1) & (t.label == 4), "cell_type"].item() \
        == "erythroyd"


def test_a_review_row_naming_no_cell_is_an_error_naming_file_and_line(tmp_path):
    d = tmp_path / "reviews" / "s1"
    review = _types_file(d, "frame,label,cell_type\n0,1,erythroid\n0,9,myeloid\n7,2,unknown\n")
    cells = _tracks().assign(type_score=0.4, type_source="rule")
    with pytest.raises(InputError, match=r"cell_types\.csv line\(s\) 3: name cell\(s\) \(frame, label\) \(0, 9\)"):
        apply_type_review(cells, review, classes=CLASSES)
    with pytest.warns(ReviewWarning, match="left out"):
        out = apply_type_review(cells, review)
    assert (out["type_source"] == "review").sum() == 2
    # a valid review applies as before
    ok = _types_file(tmp_path / "ok", "frame,label,cell_type\n0,1,erythroid\n7,2,unknown\n")
    out = apply_type_review(cells, ok, classes=CLASSES)
    assert out.loc[(out.frame == 0) & (out.label == 1), "cell_type"].item() == "erythroid"


def test_in_memory_review_errors_name_rows_and_bad_lines_are_refused(tmp_path):
    rows = pd.DataFrame({"frame": [0, 0], "label": [1, 4], "cell_type": ["erythroid", "erythroyd"]})
    with pytest.raises(InputError, match=r"row\(s\) 2: cell type\(s\) \['erythroyd'\]"):
        apply_type_review(_tracks(), Review(cell_types=rows), classes=CLASSES)
    with pytest.raises(InputError, match=r"cell_types\.csv: line\(s\) 3 lack an integer frame and label"):
        _types_file(tmp_path / "bad", "frame,label,cell_type\n0,1,erythroid\n0,,myeloid\n")
