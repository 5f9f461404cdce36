"""One sample under review: the results it reads, the review on disk, the unsaved edits. No Qt."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from marrowflow import review as rv
from marrowflow.contract import UNKNOWN
from marrowflow.errors import ConfigError, InputError
from marrowflow.io import LABEL_FILES, MovieMetadata, open_labels, read_json, read_table, reopen_movie
from marrowflow.lineage import track_summary, tree_layout
from marrowflow.report.palette import type_order
from marrowflow.schema import section_schema
from marrowflow.workflow.config import load_config
from marrowflow_review._arrays import EditableLabels, FrameStack

CONFIG_NAME = "config.yaml"
_NUCLEAR = ("nuclei", "nucleus", "dapi", "hoechst", "h2b", "sir-dna", "sirdna")
_MARKER_CMAPS = ["green", "magenta", "yellow", "cyan", "red", "blue", "bop orange", "bop purple"]


def find_results_dir(path: str | os.PathLike) -> Path | None:
    """The results folder a path names: the folder itself or its metadata/provenance.json."""
    p = Path(path)
    if p.is_file() and p.name in ("metadata.json", "provenance.json"):
        p = p.parent
    return p if p.is_dir() and (p / "metadata.json").is_file() else None


def channel_colormap(name: str, marker_index: int) -> str:
    """gray for a nuclear channel, else the `marker_index`-th marker colour."""
    if name.lower() in _NUCLEAR:
        return "gray"
    return _MARKER_CMAPS[marker_index % len(_MARKER_CMAPS)]


@dataclass(frozen=True)
class Project:
    """The project a sample's results belong to: its folder, its validated config (None when no
    config.yaml names the results folder) and the error of an invalid config.yaml, if one was met."""

    folder: Path
    config: dict | None = None
    config_error: str | None = None

    @property
    def classes(self) -> list[str]:
        """The configured cell types, in order (none without a config)."""
        return [str(c["name"]) for c in self.config["classification"]["classes"]] if self.config else []

    def review_dir(self, sample: str) -> Path:
        """`<project>/<config reviews>/<sample>` (the schema's default folder without a config)."""
        reviews = self.config["reviews"] if self.config else section_schema("reviews")["default"]
        return self.folder / reviews / sample


def find_project(results_dir: str | os.PathLike) -> Project:
    """The project of a sample's results folder (`<results>/<sample>`): walking up from `<results>`,
    the first folder whose config.yaml (validated, defaults filled) has `results` pointing at it.
    Without one, `<results>/..` with no config; the same, with the message, when the first
    config.yaml met is invalid."""
    results_root = Path(results_dir).resolve().parent
    for folder in (results_root, *results_root.parents):
        path = folder / CONFIG_NAME
        if not path.is_file():
            continue
        try:
            config = load_config(path)
        except ConfigError as err:
            return Project(results_root.parent, config_error=str(err))
        if (folder / config["results"]).resolve() == results_root:
            return Project(folder, config)
    return Project(results_root.parent)


class ReviewSession:
    """Results of one sample (`<results>/<sample>/`) plus its review (`<reviews>/<sample>/`, the
    folders of the project's config, see `find_project`).

    Edits go to `self.pending` (and to the in-memory tables) until `save()` merges them into the
    review folder. The results folder is only read.
    """

    def __init__(self, results_dir: str | os.PathLike, review_dir: str | os.PathLike | None = None):
        found = find_results_dir(results_dir)
        if found is None:
            raise InputError(f"{results_dir}: expected a results folder with metadata.json (results/<sample>/), "
                             "found none. Fix: open results/<sample>/ or its metadata.json")
        self.results_dir = found.resolve()
        self.sample = self.results_dir.name
        self.project = find_project(self.results_dir)
        self.review_dir = self._check_review_dir(review_dir or self.project.review_dir(self.sample))
        self.metadata = MovieMetadata.from_dict(read_json(self.results_dir / "metadata.json"))
        self.saved = rv.load_review(self.review_dir)
        self.pending = rv.Review()
        self.messages: list[str] = []
        if self.project.config_error:
            self._log(f"{CONFIG_NAME} invalid, not used: classes from the tables, default folders")
        self._undo: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]] = []
        self.selected: tuple[int, int] | None = None
        self._movie = None
        self.tracks = self._read_cells()
        self.classes = self._classes()
        shape = tuple(self.metadata.shape_zyx)
        labels_path = self.labels_path
        if labels_path is not None:
            self._label_stack = open_labels(labels_path)
            read = self._label_stack.read_frame
        else:
            self._label_stack = None
            read = lambda t: np.zeros(shape, np.uint32)  # noqa: E731
        self.labels = EditableLabels(lambda t: rv.apply_label_review(read(t), t, self.saved),
                                     self.metadata.n_frames, shape)
        self.labels.on_edit.append(self._labels_edited)
        self.type_map = FrameStack(self.type_frame, self.metadata.n_frames, shape, np.uint8)

    @property
    def labels_path(self) -> Path | None:
        """The results' label stack, either format (`output.format`): labels.tif or labels.ome.zarr."""
        found = [self.results_dir / name for name in LABEL_FILES.values() if (self.results_dir / name).exists()]
        return max(found, key=lambda p: p.stat().st_mtime) if found else None

    def _check_review_dir(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        if path.resolve().is_relative_to(self.results_dir.parent):
            raise InputError(f"{path}: reviews are never written into the results folder. Fix: choose a "
                             f"folder outside {self.results_dir.parent} "
                             f"(default: {self.project.review_dir(self.sample)})")
        return path

    def set_review_dir(self, path: str | os.PathLike) -> None:
        """Review into another folder (its review, if any, is loaded); refused with unsaved edits."""
        if self.unsaved:
            raise ValueError("save or discard the unsaved edits before choosing another review folder")
        self.review_dir = self._check_review_dir(path)
        self.saved = rv.load_review(self.review_dir)
        self.tracks = self._read_cells()
        self.labels.frames.clear()
        self.labels.invalidate()
        self.type_map.invalidate()
        self._log(f"review folder: {self.review_dir}")

    # ------------------------------------------------------------------ reading
    def _read_cells(self) -> pd.DataFrame:
        for name in ("tracks.parquet", "cells_typed.parquet", "cells.parquet"):
            path = self.results_dir / name
            if path.is_file():
                cells = read_table(path)
                break
        else:
            cells = pd.DataFrame({"frame": pd.Series(dtype=np.int64), "label": pd.Series(dtype=np.int64)})
        cells = cells.copy()
        if "cell_type" not in cells:
            cells["cell_type"] = UNKNOWN
        if "type_score" not in cells:
            cells["type_score"] = np.nan
        self.has_tracks = "track_id" in cells
        if not self.has_tracks:
            cells["track_id"] = 0
            cells["parent_track_id"] = 0
        cells = rv.apply_type_review(cells, self.saved)
        if self.has_tracks:
            cells = rv.apply_track_review(cells, self.saved)
        return cells.reset_index(drop=True)

    @property
    def tracks(self) -> pd.DataFrame:
        """The cells (one row per cell per frame) with the saved review and the edits applied."""
        return self._tracks

    @tracks.setter
    def tracks(self, value: pd.DataFrame) -> None:
        self._tracks = value
        self._summary = None

    def _classes(self) -> list[str]:
        """The config's classes, then other types of the table (sorted), `unknown` last: the
        order of the report's colours and legends."""
        return type_order([*self.tracks["cell_type"].astype(str), UNKNOWN], self.project.classes)

    @property
    def movie(self):
        """The raw movie, opened lazily (path from metadata.json, relative to the project folder)."""
        if self._movie is None:
            path = Path(self.metadata.path)
            if not path.is_absolute():
                candidates = [self.project.folder / path, Path.cwd() / path]
                path = next((c for c in candidates if c.exists()), candidates[0])
            if not path.exists():
                raise InputError(f"{self.results_dir / 'metadata.json'}: the raw movie {self.metadata.path} was "
                                 f"not found (looked at {path}). Fix: open the results from the project folder "
                                 "or correct the path in metadata.json")
            md = self.metadata
            self._movie = reopen_movie(md, path)
        return self._movie

    def channel_stacks(self) -> list[FrameStack]:
        """One lazy (T, [Z], Y, X) stack per channel, sharing a frame cache."""
        md = self.metadata
        frames = FrameStack(self.movie.read_frame, md.n_frames, (md.n_channels, *md.shape_zyx), md.dtype,
                            cache_frames=3)
        return [FrameStack(lambda t, c=c: frames.frame(t)[c], md.n_frames, tuple(md.shape_zyx), md.dtype,
                           cache_frames=2) for c in range(md.n_channels)]

    @property
    def scale(self) -> tuple[float, ...]:
        """Layer scale (frame, [z], y, x): 1 per frame, µm per pixel and per z step where known (an
        unknown z step is taken as the pixel size)."""
        px = self.metadata.pixel_size_um or 1.0
        z = (self.metadata.z_step_um or px,) if self.metadata.ndim_spatial == 3 else ()
        return (1.0, *z, px, px)

    def world_position(self, frame: int, label: int) -> tuple[float, ...] | None:
        """A cell's centre in the layers' world coordinates (frame, [z], y, x), or None when the
        table lacks the cell (a 3D table without `z` gives the middle plane)."""
        cell = self.cell(frame, label)
        if cell is None:
            return None
        scale = self.scale
        if len(scale) == 4:
            z = float(cell["z"]) if "z" in cell.index else (self.metadata.shape_zyx[0] - 1) / 2
            pixels = (z, float(cell["y"]), float(cell["x"]))
        else:
            pixels = (float(cell["y"]), float(cell["x"]))
        return (float(frame), *(p * s for p, s in zip(pixels, scale[1:])))

    # ------------------------------------------------------------------ cell types
    def type_index(self, cell_type: str) -> int:
        """1-based index of a class in `classes` (the type-map value and the key 1-9)."""
        return self.classes.index(cell_type) + 1 if cell_type in self.classes else len(self.classes)

    def type_frame(self, t: int) -> np.ndarray:
        """Frame `t` as type indices (0 background) for the cell types layer."""
        labels = self.labels.frame(t)
        rows = self.tracks[self.tracks["frame"] == t]
        lut = np.full(int(labels.max(initial=0)) + 1, self.type_index(UNKNOWN), np.uint8)
        lut[0] = 0
        lab = rows["label"].to_numpy(np.int64)
        inside = lab < len(lut)
        lut[lab[inside]] = [self.type_index(str(c)) for c in rows["cell_type"].to_numpy()[inside]]
        return lut[labels]

    def cell(self, frame: int, label: int) -> pd.Series | None:
        """The table row of a cell, or None."""
        hit = self.tracks[(self.tracks["frame"] == frame) & (self.tracks["label"] == label)]
        return hit.iloc[0] if len(hit) else None

    def set_type(self, frame: int, label: int, cell_type: str, *, along_track: bool = False) -> int:
        """Set a cell's type (and its track's later cells with `along_track`); return cells changed."""
        if cell_type not in self.classes:
            raise ValueError(f"unknown cell type {cell_type!r}; expected one of {self.classes}")
        if along_track and self.has_tracks and self.cell(frame, label) is not None:
            rows = rv.type_edits(self.tracks, frame, label, cell_type, along_track=True)
        else:
            rows = rv.type_edits(self.tracks, frame, label, cell_type)
        message = f"type {cell_type}: {len(rows)} cell(s) from frame {frame} label {label}"
        self._snapshot(message)
        self.pending.cell_types = pd.concat([self.pending.cell_types, rows], ignore_index=True)
        self.tracks = rv.apply_type_review(self.tracks, rv.Review(cell_types=rows))
        self.type_map.invalidate()
        self._log(message)
        return len(rows)

    def cells_table(self, cell_type: str | None = None, max_score: float | None = None,
                    frame: int | None = None) -> pd.DataFrame:
        """Cells to walk through: optional type, score below `max_score`, frame; lowest score first."""
        df = self.tracks
        if cell_type:
            df = df[df["cell_type"] == cell_type]
        if max_score is not None:
            df = df[df["type_score"].fillna(0) < max_score]
        if frame is not None:
            df = df[df["frame"] == frame]
        cols = [c for c in ("frame", "label", "track_id", "cell_type", "type_score", "type_source") if c in df]
        return df.sort_values(["type_score", "frame", "label"], na_position="first", kind="stable")[cols]

    # ------------------------------------------------------------------ labels
    def _labels_edited(self, frames: list[int]) -> None:
        new = sorted(set(frames) - set(self.pending.reviewed_frames))
        if new:
            self.pending.reviewed_frames = sorted(set(self.pending.reviewed_frames) | set(new))
            self._log(f"labels edited in frame(s) {new} (marked reviewed)")
        self.type_map.invalidate()

    def mark_reviewed(self, t: int, reviewed: bool = True) -> None:
        """Mark frame `t` reviewed (its labels are saved) or take an unsaved mark back."""
        frames = set(self.pending.reviewed_frames)
        frames = frames | {t} if reviewed else frames - {t}
        self.pending.reviewed_frames = sorted(frames)
        self._log(f"frame {t} {'marked' if reviewed else 'unmarked'} reviewed")

    @property
    def reviewed_frames(self) -> list[int]:
        """Frames reviewed, saved or not."""
        return sorted(set(self.saved.reviewed_frames) | set(self.pending.reviewed_frames))

    # ------------------------------------------------------------------ tracks
    def _track_edit(self, fn, *args, message: str) -> None:
        if not self.has_tracks:
            raise ValueError(f"{self.results_dir}: no tracks.parquet; run the tracking step first")
        tracks, edits = fn(self.tracks, *args)
        self._snapshot(message)
        self.tracks = tracks
        self.pending.track_edits = pd.concat([df for df in (self.pending.track_edits, edits) if len(df)]
                                             or [rv.empty_edits()], ignore_index=True)
        self.type_map.invalidate()
        self._log(message)

    def split(self, track_id: int, frame: int) -> None:
        """Split a track before `frame`."""
        self._track_edit(rv.split_track, track_id, frame, message=f"track {track_id} split at frame {frame}")

    def join(self, track_a: int, track_b: int) -> None:
        """Track `track_b` continues `track_a`."""
        self._track_edit(rv.join_tracks, track_a, track_b, message=f"track {track_b} joined to {track_a}")

    def set_parent(self, child: int, parent: int) -> None:
        """`parent` divides into `child`."""
        self._track_edit(rv.set_parent, child, parent, message=f"track {child}: parent {parent}")

    def remove_parent(self, child: int) -> None:
        """`child` gets no parent."""
        self._track_edit(rv.remove_parent, child, message=f"track {child}: parent removed")

    def delete_track(self, track_id: int) -> None:
        """Delete a false track."""
        self._track_edit(rv.delete_track, track_id, message=f"track {track_id} deleted")

    def lineage(self, track_id: int) -> pd.DataFrame:
        """The lineage tree holding `track_id` as `marrowflow.lineage.tree_layout` rows (of
        `track_summary`, computed once per change of the tracks); empty when no track has that id."""
        if self._summary is None:
            self._summary = track_summary(self.tracks[self.tracks["track_id"] > 0])
        s = self._summary
        founder = s.loc[s["track_id"] == track_id, "founder_track_id"]
        return tree_layout(s[s["founder_track_id"] == founder.iloc[0]] if len(founder) else s.iloc[:0])

    def _snapshot(self, message: str) -> None:
        self._undo.append((self.tracks, self.pending.cell_types, self.pending.track_edits, message))
        del self._undo[:-50]

    def undo(self) -> None:
        """Take back the last unsaved cell-type or track edit (label edits: napari's own undo)."""
        if not self._undo:
            raise ValueError("no unsaved cell-type or track edit to undo")
        self.tracks, self.pending.cell_types, self.pending.track_edits, message = self._undo.pop()
        self.type_map.invalidate()
        self._log(f"undone: {message}")

    # ------------------------------------------------------------------ saving
    def _log(self, message: str) -> None:
        self.messages.append(message)

    @property
    def unsaved(self) -> bool:
        """True when there are edits not yet saved."""
        return not self.pending.is_empty

    def status(self) -> str:
        """One line: the last change and what is unsaved."""
        last = self.messages[-1] if self.messages else "no changes"
        if not self.unsaved:
            return f"{last} | all saved to {self.review_dir}"
        p = self.pending
        return (f"{last} | unsaved: {len(p.cell_types)} cell type(s), {len(p.track_edits)} track edit(s), "
                f"{len(p.reviewed_frames)} reviewed frame(s)")

    def save(self, user: str | None = None) -> Path:
        """Merge the pending edits into the review folder (atomic files); return the folder."""
        p = self.pending
        p.label_frames = {t: self.labels.frame(t) for t in p.reviewed_frames}
        self.saved = rv.save_review(self.review_dir, p, n_frames=self.metadata.n_frames,
                                    shape_zyx=tuple(self.metadata.shape_zyx), user=user)
        self.pending = rv.Review()
        self._undo.clear()
        self.labels.mark_saved()
        self._log(f"saved to {self.review_dir}")
        return self.review_dir
