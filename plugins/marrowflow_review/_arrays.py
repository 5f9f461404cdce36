"""Array-likes that napari reads one frame at a time: a read-only frame stack and an editable
label stack that keeps the frames a reviewer changed in memory."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from threading import RLock

import numpy as np


def _frames_of(key0, n_frames: int) -> tuple[list[int], str]:
    """The frames a first-axis index selects, and its kind ('int', 'slice' or 'array')."""
    if isinstance(key0, (int, np.integer)):
        t = int(key0) + (n_frames if key0 < 0 else 0)
        if not 0 <= t < n_frames:
            raise IndexError(f"frame {key0} out of range 0..{n_frames - 1}")
        return [t], "int"
    if isinstance(key0, slice):
        return list(range(*key0.indices(n_frames))), "slice"
    arr = np.asarray(key0)
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    return sorted(set(arr.astype(int).ravel().tolist())), "array"


def _split_key(key) -> tuple[object, tuple]:
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        raise IndexError("frame stacks do not support Ellipsis indexing")
    return (key[0] if key else slice(None)), key[1:]


class FrameStack:
    """A (T, ...) array whose frames come from `read(t)` on demand (a few are cached).

    Supports what napari uses: `shape`, `dtype`, `ndim`, `size` and indexing whose first item is
    an int, a slice or an integer array (fancy indexing with arrays on every axis).
    """

    def __init__(self, read: Callable[[int], np.ndarray], n_frames: int, frame_shape: tuple[int, ...],
                 dtype, cache_frames: int = 4):
        self._read = read
        self._shape = (int(n_frames), *(int(s) for s in frame_shape))
        self._dtype = np.dtype(dtype)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_frames = cache_frames
        self._lock = RLock()

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype)
    ndim = property(lambda self: len(self._shape))
    size = property(lambda self: int(np.prod(self._shape)))

    def __len__(self) -> int:
        return self._shape[0]

    def invalidate(self) -> None:
        """Drop cached frames (their source changed)."""
        with self._lock:
            self._cache.clear()

    def frame(self, t: int) -> np.ndarray:
        """Frame `t` (read-only view; do not modify)."""
        with self._lock:
            if t in self._cache:
                self._cache.move_to_end(t)
                return self._cache[t]
            data = np.asarray(self._read(t), dtype=self._dtype)
            if data.shape != self._shape[1:]:
                raise ValueError(f"frame {t} has shape {data.shape}, expected {self._shape[1:]}")
            data.flags.writeable = False
            self._cache[t] = data
            while len(self._cache) > self._cache_frames:
                self._cache.popitem(last=False)
            return data

    def __getitem__(self, key) -> np.ndarray:
        key0, rest = _split_key(key)
        frames, kind = _frames_of(key0, self._shape[0])
        if kind == "int":
            return np.array(self.frame(frames[0])[rest])
        if kind == "slice":
            if not frames:
                return np.zeros((0, *self._shape[1:]), self._dtype)[(slice(None), *rest)]
            return np.stack([self.frame(t) for t in frames])[(slice(None), *rest)]
        idx = np.asarray(key0)
        out = None
        for t in frames:
            hit = idx == t
            values = self.frame(t)[tuple(np.asarray(r)[hit] if np.ndim(r) else r for r in rest)]
            if out is None:
                out = np.zeros(idx.shape, self._dtype)
            out[hit] = values
        return out if out is not None else np.zeros(idx.shape, self._dtype)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self[:], dtype=dtype)


class EditableLabels(FrameStack):
    """A label stack read lazily whose frames become editable copies once written to.

    `edited` holds the frames changed since the last `mark_saved()`; `frames` holds every
    frame held in memory (changed now or before).
    """

    def __init__(self, read: Callable[[int], np.ndarray], n_frames: int, frame_shape: tuple[int, ...],
                 cache_frames: int = 4):
        super().__init__(read, n_frames, frame_shape, np.uint32, cache_frames)
        self.frames: dict[int, np.ndarray] = {}
        self.edited: set[int] = set()
        self.on_edit: list[Callable[[list[int]], None]] = []

    def frame(self, t: int) -> np.ndarray:
        if t in self.frames:
            return self.frames[t]
        return super().frame(t)

    def writable(self, t: int) -> np.ndarray:
        """Frame `t` as a writable array kept in memory."""
        with self._lock:
            if t not in self.frames:
                self.frames[t] = np.array(super().frame(t), copy=True)
            return self.frames[t]

    def __setitem__(self, key, value) -> None:
        key0, rest = _split_key(key)
        frames, kind = _frames_of(key0, self._shape[0])
        value = np.asarray(value)
        if kind == "int":
            self.writable(frames[0])[rest] = value
        elif kind == "slice":
            shape = (len(frames), *np.empty(self._shape[1:], bool)[rest].shape)
            value = np.broadcast_to(value, shape)
            for i, t in enumerate(frames):
                self.writable(t)[rest] = value[i]
        else:
            idx = np.asarray(key0)
            value = np.broadcast_to(value, idx.shape)
            for t in frames:
                hit = idx == t
                self.writable(t)[tuple(np.asarray(r)[hit] if np.ndim(r) else r for r in rest)] = value[hit]
        self.edited.update(frames)
        for callback in self.on_edit:
            callback(frames)

    def mark_saved(self) -> None:
        """Forget which frames changed (they were saved); edited frames stay in memory."""
        self.edited.clear()
