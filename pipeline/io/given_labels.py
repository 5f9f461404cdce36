"""A sample's own segmentation (the sample sheet's `labels` column): read, check, write.

The labels come from elsewhere (cellpose run on another machine, ilastik, a Cell Tracking
Challenge segmentation): a label stack TIFF (T[Z]YX) or a folder of one label TIFF per frame.
In a folder every TIFF is a frame, in natural order of the names (`man_track2.tif` before
`man_track10.tif`; any names: CTC `man_trackNNN.tif`, `maskNNN.tif`, ...); other files (e.g. the
CTC `man_track.txt`) and hidden ones are ignored. Shapes are checked against the movie from the
TIFF headers only (`check_given_labels`, used by the preflight before any job), and again when the
pixels are read. Axes of length 1 are ignored in the comparison (a (T, 1, Y, X) stack fits a 2D
movie of T frames).

Relabelling: later steps need labels 1..N per frame (what the segmentation writes), so a frame
whose labels are not exactly 1..N (e.g. CTC track ids) is renumbered 1..N in increasing order of
its labels; a frame already 1..N is kept as it is. Objects keep their pixels either way.
Hand-written because tifffile reads the pixels but knows nothing of frames, movies or relabelling.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tifffile

from marrowflow.errors import InputError
from marrowflow.io.labels import LabelStackWriter

__all__ = ["GivenLabels", "check_given_labels", "consecutive_labels", "label_files", "label_inputs",
           "write_given_labels"]

_TIFF = (".tif", ".tiff")
_NUMBER = re.compile(r"(\d+)")
_FIX_SHAPE = ("Fix: give labels made on this movie (same frames and frame size), or correct the sample's "
              "`labels` entry in the sample sheet.")


def _natural_key(name: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in _NUMBER.split(name)]


def label_files(path: str | os.PathLike) -> list[Path]:
    """The files a `labels` entry names: the stack itself, or a folder's TIFFs in natural order.

    Raises InputError when the path does not exist, is not a TIFF, or a folder holds no TIFF."""
    path = Path(path)
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                        and p.name.lower().endswith(_TIFF)), key=lambda p: _natural_key(p.name))
        if not files:
            raise InputError(f"{path}: expected label TIFFs (one per frame), found none. Fix: point the "
                             "sample's `labels` at the folder holding the per-frame label TIFFs.")
        return files
    if not path.is_file():
        raise InputError(f"{path}: expected a label stack TIFF or a folder of per-frame label TIFFs, found "
                         "nothing at this path. Fix: correct the sample's `labels` entry in the sample sheet.")
    if not path.name.lower().endswith(_TIFF):
        raise InputError(f"{path}: expected a label stack TIFF (.tif/.tiff) or a folder of them, found "
                         f"a {path.suffix or 'suffix-less'} file. Fix: save the labels as TIFF.")
    return [path]


def label_inputs(entry: str) -> list[str]:
    """A sample sheet `labels` entry's files as strings (a rule's inputs); none for an empty entry."""
    return [str(p) for p in label_files(entry)] if entry else []


def _squeezed(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(s) for s in shape if s != 1)


def _header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            return tuple(series.shape), np.dtype(series.dtype)
    except Exception as err:
        raise InputError(f"{path}: expected a readable label TIFF, found an unreadable file ({err}). "
                         "Fix: re-export the labels as TIFF.") from err


def _check_dtype(path: Path, dtype: np.dtype) -> None:
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)):
        raise InputError(f"{path}: expected integer labels (0 = background), found pixel type {dtype}. "
                         "Fix: save the label image as an integer (e.g. uint16/uint32) TIFF.")


def check_given_labels(path: str | os.PathLike, n_frames: int, shape_zyx: Sequence[int]) -> list[Path]:
    """Check from the TIFF headers only that `path` holds `n_frames` frames of `shape_zyx`
    (the movie's); return its files. Raises InputError naming the file and the shapes."""
    files = label_files(path)
    want = (int(n_frames), *map(int, shape_zyx))
    if len(files) == 1 and not Path(path).is_dir():
        shape, dtype = _header(files[0])
        _check_dtype(files[0], dtype)
        if _squeezed(shape) != _squeezed(want):
            raise InputError(f"{files[0]}: expected labels of shape (frames, [Z], Y, X) = {want} like the "
                             f"movie, found shape {shape}. {_FIX_SHAPE}")
        return files
    if len(files) != want[0]:
        raise InputError(f"{path}: expected {want[0]} label TIFFs (one per movie frame), found {len(files)} "
                         f"({files[0].name} .. {files[-1].name}). {_FIX_SHAPE}")
    for file in files:
        shape, dtype = _header(file)
        _check_dtype(file, dtype)
        if _squeezed(shape) != _squeezed(want[1:]):
            raise InputError(f"{file}: expected one frame of shape ([Z], Y, X) = {want[1:]} like the movie, "
                             f"found shape {shape}. {_FIX_SHAPE}")
    return files


def consecutive_labels(frame: np.ndarray) -> np.ndarray:
    """`frame` as uint32 labels 1..N (N objects), renumbered in increasing order only if they
    are not 1..N already."""
    ids = np.unique(frame)
    ids = ids[ids != 0]
    if not len(ids) or (ids[0] == 1 and ids[-1] == len(ids)):
        return frame.astype(np.uint32, copy=False)
    out = np.searchsorted(ids, frame).astype(np.uint32) + 1
    out[frame == 0] = 0
    return out


class GivenLabels:
    """A checked `labels` entry read one frame at a time (`read_frame(t)`: uint32, 1..N)."""

    def __init__(self, path: str | os.PathLike, n_frames: int, shape_zyx: Sequence[int]):
        self.path = Path(path)
        self.files = check_given_labels(path, n_frames, shape_zyx)
        self.n_frames = int(n_frames)
        self.shape_zyx = tuple(int(s) for s in shape_zyx)
        self._stack: np.ndarray | None = None

    def _read(self, t: int) -> tuple[np.ndarray, Path]:
        if len(self.files) == self.n_frames and self.path.is_dir():
            file = self.files[t]
            return tifffile.imread(file), file
        file = self.files[0]
        with tifffile.TiffFile(file) as tf:
            series = tf.series[0]
            plane = int(np.prod(self.shape_zyx[-2:]))
            per_frame = int(np.prod(self.shape_zyx)) // plane
            pages = series.pages
            if len(pages) == self.n_frames * per_frame and all(
                    int(np.prod(p.shape)) == plane for p in pages[:per_frame]):
                return tf.asarray(key=list(range(t * per_frame, (t + 1) * per_frame)), series=0), file
            if self._stack is None:  # not one page per plane: the stack is read once, whole
                self._stack = series.asarray().reshape(self.n_frames, *self.shape_zyx)
        return self._stack[t], file

    def raw_frame(self, t: int) -> np.ndarray:
        """Frame `t` as stored (checked: shape `shape_zyx`, no negative label)."""
        if not 0 <= t < self.n_frames:
            raise IndexError(f"{self.path}: frame {t} out of range 0..{self.n_frames - 1}")
        data, file = self._read(t)
        if data.size != int(np.prod(self.shape_zyx)):
            raise InputError(f"{file}: expected {int(np.prod(self.shape_zyx))} pixels for frame {t} of shape "
                             f"{self.shape_zyx}, found shape {data.shape}. {_FIX_SHAPE}")
        data = data.reshape(self.shape_zyx)
        if np.issubdtype(data.dtype, np.signedinteger) and data.size and data.min() < 0:
            raise InputError(f"{file}: expected labels >= 0 (0 = background), found {int(data.min())} in "
                             f"frame {t}. Fix: save the labels without negative values.")
        return data

    def read_frame(self, t: int) -> np.ndarray:
        """Frame `t` as uint32 labels 1..N (see `consecutive_labels`), shape `shape_zyx`."""
        return consecutive_labels(self.raw_frame(t))

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.read_frame(t) for t in range(self.n_frames))

    def __len__(self) -> int:
        return self.n_frames


def write_given_labels(path: str | os.PathLike, out_path: str | os.PathLike, *, n_frames: int,
                       shape_zyx: Sequence[int], scale: Sequence[float | None] | None = None) -> int:
    """Check the labels at `path` against the movie's `n_frames` and `shape_zyx` and write them
    frame by frame as the sample's label stack `out_path` (TIFF or OME-Zarr by name, atomic);
    return how many frames were renumbered to 1..N."""
    labels = GivenLabels(path, n_frames, shape_zyx)
    renumbered = 0
    with LabelStackWriter(out_path, n_frames, shape_zyx, scale=scale) as writer:
        for t in range(n_frames):
            raw = labels.raw_frame(t)
            frame = consecutive_labels(raw)
            renumbered += not np.array_equal(frame, raw)
            writer.write(t, frame)
    return renumbered
