"""Human review of a sample: reading, merging and writing `reviews/<sample>/`, the edits a
reviewer makes (cell types, track splits/joins/parents/deletions) and applying a review to the
pipeline's tables. No Qt here: the napari plugin's widgets call these functions.

Files of `reviews/<sample>/` (never written by workflow rules):
- `labels.tif`: uint32 (T, [Z], Y, X); only the frames listed in `reviewed_frames.txt` count
  (the others are zeros).
- `reviewed_frames.txt`: reviewed frame indices, one per line.
- `cell_types.csv`: `frame, label, cell_type` (the last row of a (frame, label) wins).
- `tracks.csv`: the track edits, in the order they were made, replayed on a tracks table by
  `apply_track_review`. Columns `action, frame, label, next_frame, next_label`; cells are named
  by (frame, label) so the edits survive a rerun of tracking (track ids change, labels do not):
  - `link`: cell (frame, label) continues as cell (next_frame, next_label) (same cell, a join);
  - `divide`: cell (frame, label) is the mother of the track starting at (next_frame, next_label);
  - `unlink`: the two cells are not the same cell and not mother/daughter (a split, or a parent
    removed);
  - `delete`: cell (frame, label) is no cell (false detection); next_frame = next_label = -1.
  `review_fixed_links(review)` gives the confirmed links in `pipeline.track.track_cells`'s
  `fixed_links` format.
- `review_log.jsonl`: one JSON line per save: time, user, what was saved.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.io import LabelStackWriter, atomic_write, open_labels, read_table, write_table

TYPE_COLUMNS = ("frame", "label", "cell_type")
EDIT_COLUMNS = ("action", "frame", "label", "next_frame", "next_label")
ACTIONS = ("link", "divide", "unlink", "delete")
FILES = {"labels": "labels.tif", "frames": "reviewed_frames.txt", "types": "cell_types.csv",
         "tracks": "tracks.csv", "log": "review_log.jsonl"}


class ReviewWarning(UserWarning):
    """A review names a cell that the table it is applied to does not have."""


def empty_types() -> pd.DataFrame:
    """An empty `cell_types.csv` table."""
    return pd.DataFrame({"frame": pd.Series(dtype=np.int64), "label": pd.Series(dtype=np.int64),
                         "cell_type": pd.Series(dtype=object)})


def empty_edits() -> pd.DataFrame:
    """An empty `tracks.csv` table."""
    out = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in EDIT_COLUMNS})
    out["action"] = pd.Series(dtype=object)
    return out


@dataclass
class Review:
    """One sample's review: reviewed label frames, cell types and track edits.

    `label_frames` maps frame -> reviewed (  [Z], Y, X) labels held in memory; `labels_path` is a
    stack on disk whose frames in `reviewed_frames` count (used for frames not in `label_frames`).
    """

    cell_types: pd.DataFrame = field(default_factory=empty_types)
    track_edits: pd.DataFrame = field(default_factory=empty_edits)
    reviewed_frames: list[int] = field(default_factory=list)
    label_frames: dict[int, np.ndarray] = field(default_factory=dict)
    labels_path: Path | None = None

    @property
    def is_empty(self) -> bool:
        """True when the review holds nothing."""
        return not (len(self.cell_types) or len(self.track_edits) or self.reviewed_frames)

    def label_frame(self, t: int) -> np.ndarray | None:
        """The reviewed labels of frame `t`, or None when frame `t` was not reviewed."""
        if t not in self.reviewed_frames:
            return None
        if t in self.label_frames:
            return self.label_frames[t]
        if self.labels_path is None:
            raise InputError(f"review: frame {t} is listed as reviewed but no labels.tif holds it. Fix: "
                             "remove it from reviewed_frames.txt or save the review again from napari")
        with open_labels(self.labels_path) as stack:
            return stack.read_frame(t)


# ----------------------------------------------------------------------------- reading
def _check_columns(df: pd.DataFrame, need: tuple[str, ...], path: Path) -> pd.DataFrame:
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"{path}: expected columns {list(need)}, found {list(df.columns)}. Fix: save the "
                         "review again from the napari review widget or restore the missing columns")
    return df[list(need)]


def _read_types(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return empty_types()
    df = _check_columns(read_table(path), TYPE_COLUMNS, path)
    return df.astype({"frame": np.int64, "label": np.int64, "cell_type": str})


def _read_edits(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return empty_edits()
    df = _check_columns(read_table(path), EDIT_COLUMNS, path).copy()
    bad = ~df["action"].isin(ACTIONS)
    if bad.any():
        raise InputError(f"{path}: expected actions {list(ACTIONS)}, found {sorted(set(df.loc[bad, 'action']))}. "
                         "Fix: correct or delete those rows")
    ints = [c for c in EDIT_COLUMNS if c != "action"]
    df[ints] = df[ints].fillna(-1).astype(np.int64)
    df["action"] = df["action"].astype(object)
    return df.reset_index(drop=True)


def _read_frames(path: Path) -> list[int]:
    if not path.is_file():
        return []
    words = path.read_text().split()
    try:
        return sorted({int(w) for w in words})
    except ValueError as err:
        raise InputError(f"{path}: expected one frame index (integer) per line, found {err}. Fix: "
                         "correct the file or save the review again from napari") from err


def load_review(review_dir: str | os.PathLike) -> Review:
    """Read `reviews/<sample>/`; an absent folder or file gives an empty part."""
    d = Path(review_dir)
    labels = d / FILES["labels"]
    frames = _read_frames(d / FILES["frames"])
    if frames and not labels.is_file():
        raise InputError(f"{d / FILES['frames']}: lists reviewed frames but {labels} is missing. Fix: "
                         "restore labels.tif or delete reviewed_frames.txt")
    return Review(cell_types=_read_types(d / FILES["types"]), track_edits=_read_edits(d / FILES["tracks"]),
                  reviewed_frames=frames, labels_path=labels if labels.is_file() else None)


def read_review_log(review_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The save log of a review folder, oldest first (empty when absent)."""
    path = Path(review_dir) / FILES["log"]
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- merging and writing
def merge_reviews(old: Review, new: Review) -> Review:
    """`old` + `new`: new cell types win per (frame, label), track edits are appended after the old
    ones, reviewed frames are the union (new label frames win). Nothing of `old` is lost."""
    types = pd.concat([old.cell_types, new.cell_types], ignore_index=True)
    types = types.drop_duplicates(["frame", "label"], keep="last").sort_values(["frame", "label"])
    edits = pd.concat([df for df in (old.track_edits, new.track_edits) if len(df)] or [empty_edits()],
                      ignore_index=True)
    edits = edits[~_repeats_previous(edits)].reset_index(drop=True)
    return Review(cell_types=types.reset_index(drop=True), track_edits=edits,
                  reviewed_frames=sorted(set(old.reviewed_frames) | set(new.reviewed_frames)),
                  label_frames={**old.label_frames, **new.label_frames}, labels_path=old.labels_path)


def _repeats_previous(edits: pd.DataFrame) -> np.ndarray:
    """Rows equal to the row just before them (a save repeated twice)."""
    if len(edits) < 2:
        return np.zeros(len(edits), bool)
    values = edits[list(EDIT_COLUMNS)].astype(str).agg("|".join, axis=1).to_numpy()
    return np.concatenate([[False], values[1:] == values[:-1]])


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def save_review(review_dir: str | os.PathLike, new: Review, *, n_frames: int, shape_zyx: tuple[int, ...],
                user: str | None = None, note: str = "") -> Review:
    """Merge `new` into what `review_dir` holds and write it back; return the merged review.

    Every file is written atomically (temp + rename). `new.label_frames` must hold the labels of
    each frame in `new.reviewed_frames` that is not already saved. A line goes to review_log.jsonl.
    """
    d = Path(review_dir)
    old = load_review(d)
    missing = [t for t in new.reviewed_frames if t not in new.label_frames and t not in old.reviewed_frames]
    if missing:
        raise ValueError(f"save_review: frames {missing} are marked reviewed but their labels were not given")
    merged = merge_reviews(old, new)
    shape_zyx = tuple(int(s) for s in shape_zyx)
    if new.reviewed_frames:  # labels.tif is rewritten only when frames were (re)reviewed
        if max(merged.reviewed_frames) >= n_frames:
            raise InputError(f"{d}: reviewed frame {max(merged.reviewed_frames)} is beyond the movie's "
                             f"{n_frames} frames. Fix: remove it from {FILES['frames']}")
        _write_label_stack(d / FILES["labels"], merged, old, n_frames, shape_zyx)
        merged.labels_path = d / FILES["labels"]
        _write_text(d / FILES["frames"], "".join(f"{t}\n" for t in merged.reviewed_frames))
    merged.label_frames = {}
    if len(merged.cell_types):
        write_table(merged.cell_types, d / FILES["types"])
    if len(merged.track_edits):
        write_table(merged.track_edits, d / FILES["tracks"])
    entry = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "user": user or _user(), "cell_types": len(new.cell_types), "track_edits": len(new.track_edits),
             "frames": sorted(int(t) for t in new.reviewed_frames), "note": note}
    log = d / FILES["log"]
    previous = log.read_text() if log.is_file() else ""
    _write_text(log, previous + json.dumps(entry, sort_keys=True) + "\n")
    return merged


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _write_label_stack(path: Path, merged: Review, old: Review, n_frames: int, shape_zyx: tuple[int, ...]) -> None:
    zeros = np.zeros(shape_zyx, np.uint32)
    old_stack = open_labels(old.labels_path) if old.labels_path is not None and old.reviewed_frames else None
    try:
        if old_stack is not None and (old_stack.n_frames, tuple(old_stack.shape_zyx)) != (n_frames, shape_zyx):
            raise InputError(f"{old_stack.path}: expected a stack of {n_frames} frames of {shape_zyx} like the "
                             f"movie, found {old_stack.n_frames} of {tuple(old_stack.shape_zyx)}. Fix: move the "
                             "old review away (it belongs to another movie) and review again")
        with LabelStackWriter(path, n_frames, shape_zyx) as writer:
            for t in range(n_frames):
                if t in merged.label_frames and t in merged.reviewed_frames:
                    frame = merged.label_frames[t]
                elif t in old.reviewed_frames and old_stack is not None:
                    frame = old_stack.read_frame(t)
                else:
                    frame = zeros
                if frame.shape != shape_zyx:
                    raise ValueError(f"save_review: frame {t} has shape {frame.shape}, expected {shape_zyx}")
                writer.write(t, frame)
    finally:
        if old_stack is not None:
            old_stack.close()


# ----------------------------------------------------------------------------- labels and types
def apply_label_review(labels_frame: np.ndarray, t: int, review: Review) -> np.ndarray:
    """Frame `t`'s labels: the reviewed ones when frame `t` was reviewed, else `labels_frame`."""
    reviewed = review.label_frame(t)
    if reviewed is None:
        return labels_frame
    if reviewed.shape != labels_frame.shape:
        raise InputError(f"review: reviewed frame {t} has shape {reviewed.shape}, the segmentation "
                         f"{labels_frame.shape}. Fix: the review belongs to another movie; move it away")
    return reviewed.astype(np.uint32, copy=True)


def apply_type_review(cells: pd.DataFrame, review: Review) -> pd.DataFrame:
    """Reviewed cells get the reviewer's `cell_type`, type_score 1 and type_source 'review';
    rows of the review naming no cell are ignored. Returns a new table in the same row order.

    (Same rule as `pipeline.classify.apply_reviewed_types`, without importing the classifier.)
    """
    out = cells.copy()
    if len(review.cell_types) == 0:
        return out
    rev = review.cell_types.drop_duplicates(["frame", "label"], keep="last")
    key = pd.MultiIndex.from_arrays([rev["frame"].to_numpy(np.int64), rev["label"].to_numpy(np.int64)])
    lookup = pd.Series(rev["cell_type"].astype(str).to_numpy(), index=key)
    found = lookup.reindex(pd.MultiIndex.from_arrays([out["frame"].to_numpy(np.int64),
                                                      out["label"].to_numpy(np.int64)]))
    hit = found.notna().to_numpy()
    if "type_source" not in out.columns:
        out["type_source"] = "rule"
    out["type_score"] = out["type_score"].astype(float) if "type_score" in out else np.nan
    out["cell_type"] = out["cell_type"].astype(object) if "cell_type" in out else "unknown"
    out.loc[hit, "cell_type"] = found.to_numpy()[hit]
    out.loc[hit, "type_score"] = 1.0
    out.loc[hit, "type_source"] = "review"
    return out


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


# ----------------------------------------------------------------------------- tracks
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


def apply_track_review(tracks: pd.DataFrame, review: Review) -> pd.DataFrame:
    """Honour the reviewed track edits (splits, joins, parents, deletions) on a tracks table.

    Where an edit leaves a track skipping frames (a deleted middle cell, a join across a gap), the
    part after the gap becomes a daughter track (`pipeline.track.split_gaps`), as the tracker does
    for gap-closing links, so the result is valid for the CTC export.
    """
    out = apply_track_edits(tracks, review.track_edits)
    span = out.groupby("track_id")["frame"].agg(["min", "max", "nunique"]) if len(out) else None
    if span is not None and (span["max"] - span["min"] + 1 != span["nunique"]).any():
        from pipeline.track import split_gaps

        out = split_gaps(out)
    return out


def review_fixed_links(review: Review, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Confirmed links (`link`/`divide` not undone by a later `unlink` or `delete`) as
    `frame, label, next_frame, next_label` for `pipeline.track.track_cells(fixed_links=...)`.

    With `cells` (frame, label), links naming a cell it lacks are dropped with a ReviewWarning."""
    links: dict[tuple[int, int, int, int], bool] = {}
    for row in review.track_edits.itertuples(index=False):
        key = (int(row.frame), int(row.label), int(row.next_frame), int(row.next_label))
        if row.action in ("link", "divide"):
            links[key] = True
        elif row.action == "unlink":
            links.pop(key, None)
        elif row.action == "delete":
            cell = key[:2]
            links = {k: v for k, v in links.items() if k[:2] != cell and k[2:] != cell}
    cols = ["frame", "label", "next_frame", "next_label"]
    out = pd.DataFrame(list(links), columns=cols, dtype=np.int64) if links else \
        pd.DataFrame({c: pd.Series(dtype=np.int64) for c in cols})
    if cells is not None and len(out):
        known = pd.MultiIndex.from_arrays([cells["frame"].to_numpy(np.int64), cells["label"].to_numpy(np.int64)])
        ok = (pd.MultiIndex.from_arrays([out["frame"], out["label"]]).isin(known)
              & pd.MultiIndex.from_arrays([out["next_frame"], out["next_label"]]).isin(known))
        if not ok.all():
            warnings.warn(f"{int((~ok).sum())} reviewed link(s) name cells that are not in the cells table "
                          "(their frame was segmented again) and were dropped", ReviewWarning, stacklevel=2)
        out = out[ok].reset_index(drop=True)
    return out


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
