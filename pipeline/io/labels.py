"""Label stacks: streamed frame by frame into a zlib-compressed uint32 TIFF or an OME-Zarr label
image (`output.format`; the path's name chooses), read back one frame at a time through one
reader (`open_labels`); chunked segmentation helpers; Cell Tracking Challenge mask files."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tifffile

from marrowflow.errors import InputError
from marrowflow.io.atomic import atomic_write
from marrowflow.io.metadata import MovieMetadata
from marrowflow.io.ome_zarr import ZARR_SUFFIXES, OmeZarrLabels, OmeZarrLabelWriter

_DONE = object()
# the name of a sample's label stack under results/<sample>/ per config `output.format`
LABEL_FILES = {"tiff": "labels.tif", "ome-zarr": "labels.ome.zarr"}


def labels_file_name(output_format: str) -> str:
    """`labels.tif` or `labels.ome.zarr`: the label stack's file name for config `output.format`."""
    if output_format not in LABEL_FILES:
        raise ValueError(f"output.format must be one of {sorted(LABEL_FILES)}, got {output_format!r}")
    return LABEL_FILES[output_format]


def is_zarr_path(path: str | os.PathLike) -> bool:
    """Whether a label stack path names an OME-Zarr folder (`.zarr` / `.ome.zarr`) rather than a TIFF."""
    return Path(path).name.lower().endswith(ZARR_SUFFIXES)


def label_scale(meta: MovieMetadata) -> tuple[float | None, ...]:
    """(t, [z], y, x) scale of a movie's label stack in hours and µm (None where unknown)."""
    z = (meta.z_step_um,) if len(meta.shape_zyx) == 3 else ()
    return (meta.time_step_h, *z, meta.pixel_size_um, meta.pixel_size_um)


class LabelStackWriter:
    """Write a (T, [Z], Y, X) uint32 label stack frame by frame; atomic on close.

    A path ending in `.zarr` (`labels.ome.zarr`) is written as an OME-Zarr label image
    (`marrowflow.io.ome_zarr.OmeZarrLabelWriter`, with `scale`: see `label_scale`); any other
    as the TIFF below (`scale` unused: the TIFF output stays as it always was).

    Frames must be written in order t = 0, 1, ...; only the frame being compressed is held in
    memory. The file is one page per plane, zlib-compressed, with tifffile's shape/axes
    description ("TYX" or "TZYX"), so `tifffile.imread` and napari read it as one stack. Leaving
    the block early or with an error removes the temporary file; the final path appears only
    when all `n_frames` were written.
    """

    def __init__(self, path: str | os.PathLike, n_frames: int, shape_zyx: Sequence[int], *,
                 scale: Sequence[float | None] | None = None):
        if n_frames < 1:
            raise ValueError(f"{path}: n_frames must be >= 1, got {n_frames}")
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.shape_zyx = tuple(int(s) for s in shape_zyx)
        if len(self.shape_zyx) not in (2, 3):
            raise ValueError(f"{path}: shape_zyx must be (Y, X) or (Z, Y, X), got {self.shape_zyx}")
        self._next_t = 0
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._zarr = OmeZarrLabelWriter(self.path, self.n_frames, self.shape_zyx, scale=scale) if is_zarr_path(
            self.path) else None

    def __enter__(self) -> LabelStackWriter:
        if self._zarr is not None:
            self._zarr.__enter__()
            return self
        self._atomic = atomic_write(self.path)
        tmp = self._atomic.__enter__()
        self._thread = threading.Thread(target=self._run, args=(tmp,), daemon=True)
        self._thread.start()
        return self

    def _planes(self) -> Iterator[np.ndarray]:
        while True:
            frame = self._queue.get()
            if frame is _DONE:
                self._done_seen = True
                return
            yield from (frame if len(self.shape_zyx) == 3 else [frame])

    def _run(self, tmp: Path) -> None:
        self._done_seen = False
        try:
            tifffile.imwrite(tmp, self._planes(), shape=(self.n_frames, *self.shape_zyx),
                             dtype=np.uint32, compression="zlib", photometric="minisblack",
                             metadata={"axes": "TZYX" if len(self.shape_zyx) == 3 else "TYX"})
        except BaseException as err:  # handed to the caller in write() / on leaving the block
            self._error = err
            while not self._done_seen:  # drain so that write() never blocks
                self._done_seen = self._queue.get() is _DONE

    def write(self, t: int, labels: np.ndarray) -> None:
        """Append frame `t` (must be the next one); labels must be non-negative integers."""
        if self._error is not None:
            raise self._error
        if t != self._next_t:
            raise ValueError(f"{self.path}: frames must be written in order; expected frame "
                             f"{self._next_t}, got {t}")
        if t >= self.n_frames:
            raise ValueError(f"{self.path}: frame {t} is beyond n_frames={self.n_frames}")
        labels = np.asarray(labels)
        if labels.shape != self.shape_zyx:
            raise ValueError(f"{self.path}: frame {t} has shape {labels.shape}, expected {self.shape_zyx}")
        if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
            raise ValueError(f"{self.path}: labels must be integers, got {labels.dtype}")
        if labels.size and (labels.min() < 0 or int(labels.max()) > np.iinfo(np.uint32).max):
            raise ValueError(f"{self.path}: frame {t} has labels outside 0..2**32-1")
        labels = np.ascontiguousarray(labels, dtype=np.uint32)
        if self._zarr is not None:
            self._zarr.write(t, labels)
        else:
            self._queue.put(labels)
        self._next_t += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._zarr is not None:
            if exc_type is None and self._next_t != self.n_frames:
                err = ValueError(f"{self.path}: only {self._next_t} of {self.n_frames} frames were "
                                 "written; the label image was not created")
                self._zarr.__exit__(ValueError, err, None)
                raise err
            self._zarr.__exit__(exc_type, exc, tb)
            return
        self._queue.put(_DONE)
        self._thread.join()
        if exc_type is None and self._next_t != self.n_frames:
            self._error = ValueError(f"{self.path}: only {self._next_t} of {self.n_frames} frames were "
                                     "written; the file was not created")
        if exc_type is not None:
            self._atomic.__exit__(exc_type, exc, tb)
        elif self._error is not None:
            self._atomic.__exit__(type(self._error), self._error, None)
            raise self._error
        else:
            self._atomic.__exit__(None, None, None)


class LabelStack:
    """A label stack opened lazily: `read_frame(t)` reads one (  [Z], Y, X) frame from disk."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: expected a label stack TIFF, found no such file. Fix: check "
                             "the path or rerun the segmentation step.")
        try:
            self._tf = tifffile.TiffFile(self.path)
            series = self._tf.series[0]
        except Exception as err:
            raise InputError(f"{self.path}: expected a readable label TIFF, found a corrupt file ({err}). "
                             "Fix: delete it and rerun the step that makes it.") from err
        shape, axes = tuple(series.shape), series.axes
        if len(shape) == 2:  # a single 2D frame
            shape, axes = (1, *shape), "T" + axes
        n_pages = len(series.pages)
        self.n_frames = shape[0]
        self.shape_zyx = shape[1:]
        if (n_pages % self.n_frames and n_pages != 1) or len(self.shape_zyx) not in (2, 3) or (
                "T" in axes and axes.index("T") != 0):
            self.close()
            raise InputError(f"{self.path}: expected labels stored (T, [Z], Y, X) with one page per plane, "
                             f"found shape {series.shape} (axes {series.axes!r}) in {n_pages} pages. Fix: "
                             "save labels with marrowflow.io.LabelStackWriter.")
        self._pages_per_frame = n_pages // self.n_frames  # 0: all frames share one page (e.g. RGB)

    def read_frame(self, t: int) -> np.ndarray:
        """Labels of frame `t` as uint32, shape `shape_zyx`."""
        if not 0 <= t < self.n_frames:
            raise IndexError(f"{self.path}: frame {t} out of range 0..{self.n_frames - 1}")
        if self._pages_per_frame == 0:
            data = self._tf.series[0].asarray()[t]
        else:
            first = t * self._pages_per_frame
            data = self._tf.asarray(key=list(range(first, first + self._pages_per_frame)), series=0)
        return data.reshape(self.shape_zyx).astype(np.uint32, copy=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.read_frame(t) for t in range(self.n_frames))

    def __len__(self) -> int:
        return self.n_frames

    def close(self) -> None:
        self._tf.close()

    def __enter__(self) -> LabelStack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_labels(path: str | os.PathLike) -> LabelStack | OmeZarrLabels:
    """Open a label stack (TIFF, or OME-Zarr for a `.zarr` path) for reading one frame at a time."""
    return OmeZarrLabels(Path(path)) if is_zarr_path(path) else LabelStack(path)


def read_label_frame(path: str | os.PathLike, t: int) -> np.ndarray:
    """Read only frame `t` of a label stack."""
    with open_labels(path) as stack:
        return stack.read_frame(t)


def frame_chunks(n_frames: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split frames 0..n_frames-1 into consecutive (start, stop) ranges of at most `chunk_size`."""
    if n_frames < 1 or chunk_size < 1:
        raise ValueError(f"n_frames and chunk_size must be >= 1, got {n_frames}, {chunk_size}")
    return [(start, min(start + chunk_size, n_frames)) for start in range(0, n_frames, chunk_size)]


def gather_label_chunks(chunk_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike, *,
                        scale: Sequence[float | None] | None = None) -> int:
    """Concatenate chunk label stacks, in the given order, into one stack; return its frame count.

    Streams frame by frame; labels are per frame, so the result equals an unsplit run. `scale`:
    as for `LabelStackWriter` (an OME-Zarr `out_path`).
    """
    stacks = [open_labels(p) for p in chunk_paths]
    try:
        if not stacks:
            raise ValueError("gather_label_chunks: no chunk paths given")
        shape = stacks[0].shape_zyx
        for stack in stacks[1:]:
            if stack.shape_zyx != shape:
                raise InputError(f"{stack.path}: expected frames of shape {shape} like {stacks[0].path}, "
                                 f"found {stack.shape_zyx}. Fix: rerun segmentation of all chunks.")
        n_frames = sum(s.n_frames for s in stacks)
        with LabelStackWriter(out_path, n_frames, shape, scale=scale) as writer:
            t = 0
            for stack in stacks:
                for frame in stack:
                    writer.write(t, frame)
                    t += 1
        return n_frames
    finally:
        for stack in stacks:
            stack.close()


def write_ctc_masks(folder: str | os.PathLike, t: int, mask: np.ndarray) -> Path:
    """Write `mask` as `folder/maskNNN.tif` (uint16, CTC layout; 4 digits from frame 1000).

    Returns the path written (atomically)."""
    mask = np.asarray(mask)
    if mask.size and (mask.min() < 0 or int(mask.max()) > np.iinfo(np.uint16).max):
        raise ValueError(f"{folder}: frame {t}: CTC masks are uint16, labels must be in 0..65535, "
                         f"found {mask.min()}..{mask.max()}")
    path = Path(folder) / (f"mask{t:03d}.tif" if t < 1000 else f"mask{t:04d}.tif")
    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, mask.astype(np.uint16), compression="zlib", photometric="minisblack")
    return path
