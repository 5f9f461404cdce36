"""Frame t of a sample's movie and of its label stack, read on demand by whichever process needs it.

A step that works on frames in worker processes (`marrowflow.parallel`, the rules' `threads:`)
gets each worker to read its own frames with `SampleFrames`, instead of reading every frame in
the main process and sending it to a worker: reading and sending (pickling a frame of all
channels through a pipe) took as long as measuring it, so with the main process reading, a
second worker made measure slower, not faster. A `SampleFrames` holds paths only; each process
(and each thread: the readers are not thread-safe) opens its own readers the first time it reads
(a TIFF handle inherited through fork would share its file position with the parent's).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from marrowflow.errors import InputError
from marrowflow.io.labels import open_labels
from marrowflow.io.metadata import MovieMetadata
from marrowflow.io.movie import reopen_movie

__all__ = ["SampleFrames"]


class SampleFrames:
    """The (C, [Z], Y, X) image and ([Z], Y, X) labels of frame t of one sample.

    `meta`: the sample's movie (its metadata.json), reopened as ingest read it; `labels_path`: its
    label stack (TIFF or OME-Zarr); `relabel(labels, t)`, if given, replaces the labels of frame t
    (e.g. with the user's reviewed frame). The label stack must have the movie's number of frames
    (InputError naming both files otherwise).
    """

    def __init__(self, meta: MovieMetadata, labels_path: str | os.PathLike, *,
                 relabel: Callable[[np.ndarray, int], np.ndarray] | None = None):
        self.meta = meta
        self.labels_path = Path(labels_path)
        self.relabel = relabel
        with open_labels(self.labels_path) as labels:
            n_labels = len(labels)
        if n_labels != meta.n_frames:
            longer = "labels" if n_labels > meta.n_frames else "movie"
            raise InputError(f"{self.labels_path} has {n_labels} frame(s), the movie {meta.path} {meta.n_frames}: "
                             f"the {longer} has more frames than the other; segment the whole movie again so "
                             "labels and movie match.")
        self._readers: dict[tuple[int, int], tuple] = {}  # (process, thread) -> (movie, labels)

    @property
    def n_frames(self) -> int:
        """Frames of the movie (and of the label stack)."""
        return self.meta.n_frames

    def read(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(image, labels) of frame `t`, the labels after `relabel`."""
        key = (os.getpid(), threading.get_ident())
        if key not in self._readers:
            self._readers[key] = (reopen_movie(self.meta), open_labels(self.labels_path))
        movie, labels = self._readers[key]
        frame = labels.read_frame(t)
        if self.relabel is not None:
            frame = self.relabel(frame, t)
        return movie.read_frame(t), frame

    def close(self) -> None:
        """Close the readers this process opened (reading again reopens them)."""
        for key in [k for k in self._readers if k[0] == os.getpid()]:
            for reader in self._readers.pop(key):
                reader.close()
        self._readers = {}  # a forked copy's inherited entries belong to its parent

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_readers": {}}  # readers stay with the process that opened them

    def __enter__(self) -> SampleFrames:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
