"""Track vote on made-up tracks: single-frame flips go, sustained one-way switches stay."""

import pandas as pd
import pytest

from marrowflow.classify.track_vote import vote_along_tracks
from marrowflow.errors import InputError

P, E, M, U = "progenitor", "erythroid", "myeloid", "unknown"


def track(tid, types, *, parent=0, start=0, score=0.6, source="rule"):
    n = len(types)
    return pd.DataFrame({"track_id": tid, "parent_track_id": parent, "frame": range(start, start + n),
                         "label": tid, "cell_type": types, "type_score": score, "type_source": source})


def test_flips_removed_sustained_switch_kept():
    seq = [P, P, E, P, P, P, M, P, P, E, E, E, E, E, P, E, E, E]
    out = vote_along_tracks(track(1, seq), {})
    assert list(out["cell_type"]) == [P] * 9 + [E] * 9
    assert list(out["cell_type_frame"]) == seq
    changed = out["cell_type"] != out["cell_type_frame"]
    assert list(out.loc[changed, "frame"]) == [2, 6, 14]
    assert (out.loc[changed, "type_source"] == "track-vote").all()
    assert (out.loc[~changed, "type_source"] == "rule").all()
    assert out["type_score"].between(0, 1).all()


def test_short_switch_at_the_end_is_not_enough_and_never_back():
    longer = track(9, [P] * 14)  # the movie goes on after track 1 ends
    out = vote_along_tracks(pd.concat([track(1, [P] * 8 + [E, E]), longer]), {})
    assert set(out["cell_type"]) == {P}
    # at the movie's last frames a switch every remaining frame shows is kept (unless disabled)
    out = vote_along_tracks(track(1, [P] * 8 + [E, E]), {})
    assert list(out["cell_type"]) == [P] * 8 + [E, E]
    out = vote_along_tracks(track(1, [P] * 8 + [E, P]), {})
    assert set(out["cell_type"]) == {P}
    out = vote_along_tracks(track(1, [P] * 8 + [E, E]), {"keep_end_switch": False})
    assert set(out["cell_type"]) == {P}
    # lineage -> progenitor is never allowed, however long
    out = vote_along_tracks(track(1, [E] * 6 + [P] * 4), {})
    assert set(out["cell_type"]) == {E}
    # a longer min_switch_frames needs more support
    seq = pd.concat([track(1, [P] * 6 + [E] * 4), longer])
    assert vote_along_tracks(seq, {"min_switch_frames": 4})["cell_type"].iloc[9] == E
    assert vote_along_tracks(seq, {"min_switch_frames": 5})["cell_type"].iloc[9] == P


def test_confidence_weighted_majority():
    seq = [M, M, E, E, E]  # myeloid <-> erythroid is not a switch: one type for the whole track
    scores = [0.95, 0.95, 0.1, 0.1, 0.1]
    t = track(1, seq)
    t["type_score"] = scores
    assert set(vote_along_tracks(t, {})["cell_type"]) == {M}
    t["type_score"] = 0.5
    assert set(vote_along_tracks(t, {})["cell_type"]) == {E}


def test_daughters_start_from_mother_unless_supported():
    mother = track(1, [P] * 4 + [E] * 5)
    d1 = track(2, [P, P, P, P], parent=1, start=9)          # cannot go back to progenitor
    d2 = track(3, [E, M, E, E], parent=1, start=9)           # flip removed
    mother_p = track(4, [P] * 6)
    d3 = track(5, [M, M, M, M, M], parent=4, start=6)        # sustained: progenitor -> myeloid
    d4 = track(6, [M, P, P, P, P], parent=4, start=6)        # one frame is not enough
    out = vote_along_tracks(pd.concat([d1, mother, d2, mother_p, d3, d4]), {})
    by = out.groupby("track_id")["cell_type"].agg(lambda s: "".join(v[0] for v in s))
    assert by[1] == "ppppeeeee"
    assert by[2] == "eeee" and by[3] == "eeee"
    assert by[5] == "mmmmm" and by[6] == "ppppp"


def test_reviewed_cells_never_change_and_steer():
    t = track(1, [P, P, P, P, P, P])
    t.loc[1, ["cell_type", "type_source", "type_score"]] = [M, "review", 1.0]
    out = vote_along_tracks(t, {})
    assert out.loc[1, "cell_type"] == M and out.loc[1, "type_source"] == "review"
    # with the reviewed myeloid frame the one-way rule keeps the rest myeloid after it
    assert list(out["cell_type"])[2:] == [M] * 4


def test_unknown_frames_and_disabled_vote():
    out = vote_along_tracks(track(1, [U, P, U, P, P, U, P]), {})
    assert set(out["cell_type"]) == {P}
    out = vote_along_tracks(track(1, [U] * 6), {})
    assert set(out["cell_type"]) == {U}
    off = vote_along_tracks(track(1, [P, E, P]), {"enabled": False})
    assert list(off["cell_type"]) == [P, E, P] and "cell_type_frame" in off.columns
    untracked = pd.concat([track(2, [M]), track(1, [P, E, P, P])]).reset_index(drop=True)
    untracked["track_id"] = untracked["track_id"].astype(float)
    untracked.loc[0, "track_id"] = float("nan")
    assert list(vote_along_tracks(untracked, {})["cell_type"]) == [M, P, P, P, P]
    with pytest.raises(InputError, match="track_id"):
        vote_along_tracks(pd.DataFrame({"frame": [0], "cell_type": [P]}), {})


def _reviewed(t, frame, cell_type):
    t = t.copy()
    t.loc[t["frame"] == frame, ["cell_type", "type_source", "type_score"]] = [cell_type, "review", 1.0]
    return t


@pytest.mark.parametrize("scope", ["from_frame", "whole_track"])
def test_review_scope_decides_whether_a_review_reaches_back(scope):
    """A reviewed erythroid at the last frame of a progenitor track: from_frame leaves the earlier
    frames progenitor (their own evidence), whole_track makes the whole track erythroid."""
    t = _reviewed(track(1, [P] * 8), 7, E)
    out = vote_along_tracks(t, {"review_scope": scope})
    assert out.loc[7, "cell_type"] == E and out.loc[7, "type_source"] == "review"
    before = list(out["cell_type"])[:7]
    assert before == ([P] * 7 if scope == "from_frame" else [E] * 7)


def test_from_frame_review_steers_the_frames_after_it_until_the_next_review():
    # reviewed myeloid at frame 3: later frames continue myeloid (myeloid -> progenitor is no switch)
    # until the reviewed progenitor at frame 8, whose own later frames then follow their evidence
    seq = [P, P, P, P, P, P, P, P, E, E, E, E]
    t = _reviewed(_reviewed(track(1, seq), 3, M), 8, P)
    out = vote_along_tracks(t, {})
    assert list(out["cell_type"]) == [P, P, P] + [M] * 5 + [P] + [E] * 3
    assert (out.loc[[3, 8], "type_source"] == "review").all()
    # a reviewed first frame starts the track even against the mother's type (erythroid -> progenitor)
    mother = track(1, [E] * 5)
    daughter = _reviewed(track(2, [P] * 5, parent=1, start=5), 5, P)
    out = vote_along_tracks(pd.concat([mother, daughter], ignore_index=True), {})
    assert list(out.loc[out["track_id"] == 2, "cell_type"]) == [P] * 5


def test_reviewed_frames_never_change_under_either_scope():
    seq = [E, E, M, M, M, P, P, E, E]
    t = track(1, seq)
    for f, ty in [(1, P), (4, E), (6, M)]:
        t = _reviewed(t, f, ty)
    for scope in ("from_frame", "whole_track"):
        out = vote_along_tracks(t, {"review_scope": scope})
        assert list(out.loc[[1, 4, 6], "cell_type"]) == [P, E, M], scope
        assert (out.loc[[1, 4, 6], "type_source"] == "review").all()


def test_review_scope_is_checked():
    from marrowflow.errors import ConfigError

    with pytest.raises(ConfigError, match="review_scope"):
        vote_along_tracks(track(1, [P]), {"review_scope": "backwards"})
