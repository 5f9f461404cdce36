"""Track-edit algebra: the edits a reviewer makes (split, join, set or remove a parent, delete,
type along a track) as `tracks.csv` rows, and replaying such rows on a tracks table."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from marrowflow.errors import InputError
from marrowflow.review.files import ACTIONS, EDIT_COLUMNS, ReviewWarning, empty_edits


def type_edits(tracks: pd.DataFrame, frame: int, label: int, cell_type: str, *,
               along_track: bool = False) -> pd.DataFrame:
    """Rows of `cell_types.csv` that set cell (frame, label) to `cell_type`; with `along_track`,
    also every later cell of its track (needs `track_id`)."""
    if not along_track:
        return pd.DataFrame({"frame": [int(frame)], "label": [int(label)], "cell_type": [str(cell_type)]})
    tid = track_of(tracks, frame, label)
    if tid is None:
        raise ValueError(f"cell (frame {frame}, label {label}) is in no track")
    rows = tracks[(tracks["track_id"] == tid) & (tracks["frame"] >= frame)].sort_values("frame")
    return pd.DataFrame({"frame": rows["frame"].to_numpy(np.int64), "label": rows["label"].to_numpy(np.int64),
                         "cell_type": str(cell_type)})


def track_of(tracks: pd.DataFrame, frame: int, label: int) -> int | None:
    """Track id of cell (frame, label), or None when the table has no such cell."""
    hit = tracks.loc[(tracks["frame"] == frame) & (tracks["label"] == label), "track_id"]
    return int(hit.iloc[0]) if len(hit) else None


def _cut(df: pd.DataFrame, tid: int, frame: int, parent: int) -> int | None:
    """In place: cells of track `tid` at frames >= `frame` become a new track with `parent`; the
    children of `tid` move to it. Returns the new id (None when nothing is cut)."""
    tail = (df["track_id"] == tid) & (df["frame"] >= frame)
    if not tail.any():
        return None
    if tail.sum() == (df["track_id"] == tid).sum():
        return tid
    new = int(df["track_id"].max()) + 1
    df.loc[tail, "track_id"] = new
    df.loc[tail, "parent_track_id"] = parent
    df.loc[df["parent_track_id"] == tid, "parent_track_id"] = new
    df.loc[(df["track_id"] == new), "parent_track_id"] = parent
    return new


def _first(df: pd.DataFrame, tid: int) -> int:
    return int(df.loc[df["track_id"] == tid, "frame"].min())


def _apply_edit(df: pd.DataFrame, action: str, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Apply one edit in place; False when a cell it names is missing."""
    ta = track_of(df, *a)
    if action == "delete":
        if ta is None:
            return False
        df.drop(df.index[(df["frame"] == a[0]) & (df["label"] == a[1])], inplace=True)
        if not (df["track_id"] == ta).any():
            df.loc[df["parent_track_id"] == ta, "parent_track_id"] = 0
        return True
    tb = track_of(df, *b)
    if ta is None or tb is None:
        return False
    if b[0] <= a[0]:
        raise InputError(f"track edit {action} {a} -> {b}: the second cell must come later in time")
    if action == "unlink":
        if ta == tb:
            _cut(df, ta, b[0], 0)
        elif int(df.loc[df["track_id"] == tb, "parent_track_id"].iloc[0]) == ta and _first(df, tb) == b[0]:
            df.loc[df["track_id"] == tb, "parent_track_id"] = 0
        return True
    if action == "link":
        if ta == tb:
            return True
        _cut(df, ta, a[0] + 1, 0)
        tail_b = _cut(df, tb, b[0], 0)
        df.loc[df["track_id"] == tail_b, "track_id"] = ta
        df.loc[df["parent_track_id"] == tail_b, "parent_track_id"] = ta
        parent_a = int(df.loc[df["track_id"] == ta, "parent_track_id"].iloc[0])
        df.loc[df["track_id"] == ta, "parent_track_id"] = parent_a
        return True
    # divide: the mother's track ends at a; its continuation (if any) and b's track are daughters
    _cut(df, ta, a[0] + 1, ta)
    tb = track_of(df, *b)
    daughter = _cut(df, tb, b[0], ta)
    df.loc[df["track_id"] == daughter, "parent_track_id"] = ta
    return True


def apply_track_edits(tracks: pd.DataFrame, edits: pd.DataFrame) -> pd.DataFrame:
    """Replay track edits (the `tracks.csv` rows, in order) on a tracks table; return a new table.

    New tracks get the next free ids; row order is kept. Edits naming a cell the table lacks are
    skipped with a ReviewWarning (e.g. after the segmentation of that frame changed).
    """
    df = tracks.copy()
    skipped = []
    for row in edits.itertuples(index=False):
        a, b = (int(row.frame), int(row.label)), (int(row.next_frame), int(row.next_label))
        if row.action not in ACTIONS:
            raise InputError(f"track edit: unknown action {row.action!r}; expected one of {list(ACTIONS)}")
        if not _apply_edit(df, row.action, a, b):
            skipped.append((row.action, a, b))
    if skipped:
        warnings.warn(f"{len(skipped)} track edit(s) name cells that are not in the tracks table and were "
                      f"skipped, e.g. {skipped[0]}", ReviewWarning, stacklevel=2)
    return df.astype({"track_id": np.int64, "parent_track_id": np.int64})


def _edit(action: str, a: tuple[int, int], b: tuple[int, int] = (-1, -1)) -> dict[str, Any]:
    return {"action": action, "frame": int(a[0]), "label": int(a[1]), "next_frame": int(b[0]),
            "next_label": int(b[1])}


def _cell_at(tracks: pd.DataFrame, tid: int, which: str, before: int | None = None) -> tuple[int, int]:
    rows = tracks[tracks["track_id"] == tid]
    if before is not None:
        rows = rows[rows["frame"] < before]
    if len(rows) == 0:
        raise ValueError(f"track {tid} has no cell" + (f" before frame {before}" if before is not None else ""))
    row = rows.loc[rows["frame"].idxmin() if which == "first" else rows["frame"].idxmax()]
    return int(row["frame"]), int(row["label"])


def _edits_df(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(EDIT_COLUMNS)) if rows else empty_edits()


def split_track(tracks: pd.DataFrame, track_id: int, frame: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `track_id` before `frame`: its cells from `frame` on become a new track (no parent),
    which takes over its children. Returns (tracks, edits)."""
    here = tracks[(tracks["track_id"] == track_id) & (tracks["frame"] >= frame)]
    if len(here) == 0:
        raise ValueError(f"track {track_id} has no cell at or after frame {frame}")
    b = _cell_at(here, track_id, "first")
    a = _cell_at(tracks, track_id, "last", before=b[0])
    edits = _edits_df([_edit("unlink", a, b)])
    return apply_track_edits(tracks, edits), edits


def join_tracks(tracks: pd.DataFrame, track_a: int, track_b: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Track `track_b` (from its first cell after `track_a` ends) continues `track_a` under its id."""
    a = _cell_at(tracks, track_a, "last")
    later = tracks[(tracks["track_id"] == track_b) & (tracks["frame"] > a[0])]
    if len(later) == 0:
        raise ValueError(f"track {track_b} has no cell after track {track_a} ends (frame {a[0]})")
    edits = _edits_df([_edit("link", a, _cell_at(later, track_b, "first"))])
    return apply_track_edits(tracks, edits), edits


def set_parent(tracks: pd.DataFrame, child: int, parent: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Make `parent` the mother of `child`: the mother divides at its last cell before the child
    begins (its later cells, if any, become a second daughter)."""
    b = _cell_at(tracks, child, "first")
    a = _cell_at(tracks, parent, "last", before=b[0])
    edits = _edits_df([_edit("divide", a, b)])
    return apply_track_edits(tracks, edits), edits


def remove_parent(tracks: pd.DataFrame, child: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`child` becomes a founder track (no parent)."""
    rows = tracks[tracks["track_id"] == child]
    if len(rows) == 0:
        raise ValueError(f"no track {child}")
    parent = int(rows["parent_track_id"].iloc[0])
    if parent == 0:
        return tracks.copy(), empty_edits()
    b = _cell_at(tracks, child, "first")
    edits = _edits_df([_edit("unlink", _cell_at(tracks, parent, "last", before=b[0]), b)])
    return apply_track_edits(tracks, edits), edits


def delete_track(tracks: pd.DataFrame, track_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Remove every cell of `track_id` (a false track); its children become founders."""
    rows = tracks[tracks["track_id"] == track_id].sort_values("frame")
    if len(rows) == 0:
        raise ValueError(f"no track {track_id}")
    edits = _edits_df([_edit("delete", (f, lab)) for f, lab in zip(rows["frame"], rows["label"])])
    return apply_track_edits(tracks, edits), edits
