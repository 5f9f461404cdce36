"""The Cell Tracking Challenge's track format: `res_track.txt` rows (label begin end parent),
its validity rules (as py-ctcmetrics checks them), gap splitting and relabelling masks by track."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marrowflow.errors import InputError


def split_gaps(tracks: pd.DataFrame) -> pd.DataFrame:
    """Make tracks CTC-valid after edits: where a track skips frames, the part after the gap
    becomes a new track (next free id) whose parent is the part before it; the old track's
    children hang from its last part. Rows keep their order and index."""
    out = tracks.copy()
    if len(out) == 0:
        return out
    sub = out.sort_values(["track_id", "frame"], kind="stable")
    tid = sub["track_id"].to_numpy(np.int64)
    fr = sub["frame"].to_numpy(np.int64)
    same = np.r_[False, tid[1:] == tid[:-1]]
    gap = same & np.r_[False, fr[1:] != fr[:-1] + 1]
    if not gap.any():
        return out
    piece = pd.Series(gap.astype(np.int64)).groupby(tid).cumsum().to_numpy()
    next_id = int(tid.max()) + 1
    new_id, last_piece = {}, {}
    for t, k in sorted(set(zip(tid.tolist(), piece.tolist()))):
        if k == 0:
            new_id[(t, k)] = t
        else:
            new_id[(t, k)] = next_id
            next_id += 1
        last_piece[t] = new_id[(t, k)]
    old_parent = sub["parent_track_id"].to_numpy(np.int64)
    ids = np.array([new_id[(t, k)] for t, k in zip(tid, piece)], dtype=np.int64)
    parent = np.array([new_id[(t, k - 1)] if k > 0 else last_piece.get(p, 0) if p > 0 else 0
                       for t, k, p in zip(tid, piece, old_parent)], dtype=np.int64)
    out.loc[sub.index, "track_id"] = ids
    out.loc[sub.index, "parent_track_id"] = parent
    return out


def tracks_to_ctc(tracks: pd.DataFrame) -> pd.DataFrame:
    """One row per track: `label begin end parent` (CTC res_track.txt), sorted by label.

    Raises InputError when a track skips a frame (run `split_gaps` first) or a child starts
    before its parent ends.
    """
    if len(tracks) == 0:
        return pd.DataFrame({k: pd.Series(dtype=np.int64) for k in ("label", "begin", "end", "parent")})
    g = tracks.groupby("track_id")
    ctc = pd.DataFrame({"begin": g["frame"].min(), "end": g["frame"].max(),
                        "parent": g["parent_track_id"].max(), "n": g["frame"].nunique(),
                        "rows": g.size()})
    ctc.index.name = "label"
    ctc = ctc.reset_index().astype(np.int64)
    check_ctc(ctc)
    return ctc[["label", "begin", "end", "parent"]].sort_values("label").reset_index(drop=True)


def check_ctc(ctc: pd.DataFrame) -> None:
    """Raise InputError if a CTC track table breaks the format's rules (see `tracks_to_ctc`).

    Columns label, begin, end, parent; optional `n` (frames present) and `rows` (rows per track).
    """
    problems = []
    if (ctc["label"] < 1).any():
        problems.append("track ids must be >= 1")
    if ctc["label"].duplicated().any():
        problems.append("track ids must be unique")
    if (ctc["end"] < ctc["begin"]).any():
        problems.append("a track ends before it begins")
    if "n" in ctc and (ctc["n"] != ctc["end"] - ctc["begin"] + 1).any():
        bad = ctc.loc[ctc["n"] != ctc["end"] - ctc["begin"] + 1, "label"].tolist()[:5]
        problems.append(f"track(s) {bad} skip frames (run marrowflow.track.split_gaps)")
    if "rows" in ctc and (ctc["rows"] != ctc["n"]).any():
        problems.append("a track has two cells in one frame")
    parents = ctc.set_index("label")
    has_parent = ctc[ctc["parent"] > 0]
    unknown = ~has_parent["parent"].isin(parents.index)
    if unknown.any():
        problems.append(f"parent(s) {has_parent.loc[unknown, 'parent'].tolist()[:5]} are not tracks")
    known = has_parent[~unknown]
    late = parents.loc[known["parent"], "end"].to_numpy() >= known["begin"].to_numpy()
    if late.any():
        problems.append(f"track(s) {known.loc[late, 'label'].tolist()[:5]} begin before their parent ends")
    if problems:
        raise InputError("tracks table breaks the Cell Tracking Challenge rules: " + "; ".join(problems))


def relabel_frame(labels: np.ndarray, frame_tracks: pd.DataFrame) -> np.ndarray:
    """Mask of one frame with each object's label replaced by its track id (uint16, CTC maskNNN).

    `frame_tracks` holds that frame's rows (label, track_id); objects without a track become 0.
    """
    lut_size = int(labels.max(initial=0)) + 1
    lut = np.zeros(lut_size, dtype=np.uint16)
    if len(frame_tracks):
        if "frame" in frame_tracks and frame_tracks["frame"].nunique() > 1:
            raise InputError("relabel_frame: frame_tracks holds rows of several frames; pass one frame")
        ids = frame_tracks["track_id"].to_numpy(np.int64)
        if ids.max() > np.iinfo(np.uint16).max:
            raise InputError(f"relabel_frame: track id {ids.max()} does not fit the CTC 16-bit masks "
                             "(at most 65535 tracks); split the movie into shorter parts")
        lab = frame_tracks["label"].to_numpy(np.int64)
        inside = lab < lut_size
        lut[lab[inside]] = ids[inside]
    return lut[labels]
