"""Human review of a sample: reading, merging and writing `reviews/<sample>/`, the edits a
reviewer makes (cell types, track splits/joins/parents/deletions) and applying a review to the
pipeline's tables. No Qt here: the napari plugin's widgets call these functions.

Files of `reviews/<sample>/` (never written by workflow rules):
- `labels.tif`: uint32 (T, [Z], Y, X); only the frames listed in `reviewed_frames.txt` count
  (the others are zeros).
- `reviewed_frames.txt`: reviewed frame indices, one per line.
- `cell_types.csv`: `frame, label, cell_type` (the last row of a (frame, label) wins); the types
  must be configured classes (or `unknown`) and the cells must exist, which the classify step
  checks (`apply_type_review(..., classes=...)`).
- `tracks.csv`: the track edits, in the order they were made, replayed on a tracks table by
  `apply_track_review`. Columns `action, frame, label, next_frame, next_label`; cells are named
  by (frame, label) so the edits survive a rerun of tracking (track ids change, labels do not):
  - `link`: cell (frame, label) continues as cell (next_frame, next_label) (same cell, a join);
  - `divide`: cell (frame, label) is the mother of the track starting at (next_frame, next_label);
  - `unlink`: the two cells are not the same cell and not mother/daughter (a split, or a parent
    removed);
  - `delete`: cell (frame, label) is no cell (false detection); next_frame = next_label = -1.
- `tracks.geff`: tracks curated in another tool (napari-track-edit, ...), turned into the same
  edits by `marrowflow.review.geff_import` and applied after `tracks.csv`, so the geff wins.
- `audit.csv`: the cells proposed for an audit with the reviewer's answers
  (`marrowflow.review.audit`).
  `review_fixed_links(review)` gives the confirmed links in `marrowflow.track.track_cells`'s
  `fixed_links` format.
- `review_log.jsonl`: one JSON line per save: time, user, what was saved.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marrowflow.errors import InputError
from marrowflow.io import LabelStackWriter, atomic_write, open_labels, read_table, write_table

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
    `types_path` is the `cell_types.csv` that `cell_types` was read from; its rows then keep their
    line numbers in that file as the table's index (for error messages).
    """

    cell_types: pd.DataFrame = field(default_factory=empty_types)
    track_edits: pd.DataFrame = field(default_factory=empty_edits)
    reviewed_frames: list[int] = field(default_factory=list)
    label_frames: dict[int, np.ndarray] = field(default_factory=dict)
    labels_path: Path | None = None
    types_path: Path | None = None

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
            raise InputError(f"review: frame {t} is listed as reviewed but no labels.tif holds it. Fix: remove "
                             "it from reviewed_frames.txt, or save the review again to write that frame")
        with open_labels(self.labels_path) as stack:
            return stack.read_frame(t)


# ----------------------------------------------------------------------------- reading
def _check_columns(df: pd.DataFrame, need: tuple[str, ...], path: Path) -> pd.DataFrame:
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"{path}: expected columns {list(need)}, found {list(df.columns)}. Fix: restore the "
                         "missing columns, or save the review again to rewrite the file")
    return df[list(need)]


def _read_types(path: Path) -> pd.DataFrame:
    """`cell_types.csv`, indexed by each row's line number in the file."""
    if not path.is_file():
        return empty_types()
    df = _check_columns(read_table(path), TYPE_COLUMNS, path).copy()
    lines = [n for n, text in enumerate(path.read_text(errors="replace").splitlines(), 1) if text.strip()][1:]
    df.index = lines if len(lines) == len(df) else range(2, len(df) + 2)  # blank lines are skipped by the reader
    numbers = df[["frame", "label"]].apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna().any(axis=1) | (numbers % 1 != 0).any(axis=1) | df["cell_type"].isna()
    if bad.any():
        raise InputError(f"{path}: line(s) {list_lines(df.index[bad])} lack an integer frame and label or a "
                         "cell_type. Fix: correct or delete those lines")
    return df.astype({"frame": np.int64, "label": np.int64, "cell_type": str})


def list_lines(lines: Any, limit: int = 10) -> str:
    """'3, 7, 9' (at most `limit` numbers, then how many more)."""
    lines = [int(n) for n in lines]
    text = ", ".join(map(str, lines[:limit]))
    return text + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


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
                         "correct the file, or save the review again to rewrite it") from err


def load_review(review_dir: str | os.PathLike) -> Review:
    """Read `reviews/<sample>/`; an absent folder or file gives an empty part."""
    d = Path(review_dir)
    labels = d / FILES["labels"]
    frames = _read_frames(d / FILES["frames"])
    if frames and not labels.is_file():
        raise InputError(f"{d / FILES['frames']}: lists reviewed frames but {labels} is missing. Fix: "
                         "restore labels.tif or delete reviewed_frames.txt")
    types = d / FILES["types"]
    return Review(cell_types=_read_types(types), track_edits=_read_edits(d / FILES["tracks"]),
                  reviewed_frames=frames, labels_path=labels if labels.is_file() else None,
                  types_path=types if types.is_file() else None)


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
    entry = {"time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
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
