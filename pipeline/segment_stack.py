"""Segment a whole movie frame by frame into a label stack on disk (memory flat in time)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import numpy as np

from pipeline.io import LabelStackWriter, Movie
from pipeline.segment import CellposeSegmenter, segment_frame


def make_segmenter(params: Mapping[str, Any], *, pixel_size_um: float | None = None
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """A function image -> labels for the configured backend; cellpose's model is loaded here, once."""
    if params["backend"] == "cellpose":
        return CellposeSegmenter(params).segment
    return lambda image: segment_frame(image, params, pixel_size_um=pixel_size_um)


def segment_movie(movie: Movie, params: Mapping[str, Any], *, channel: int, out_path: str | Path,
                  frames: range | None = None) -> None:
    """Segment channel `channel` of `frames` (default: all) of `movie` and write them to `out_path`.

    The model (cellpose) is loaded once; frames are read, segmented and written one at a time.
    A frame range writes a chunk whose stack holds just those frames, in order.
    """
    frames = range(movie.n_frames) if frames is None else frames
    meta = movie.metadata
    segment = make_segmenter(params, pixel_size_um=meta.pixel_size_um)
    with LabelStackWriter(out_path, len(frames), meta.shape_zyx) as writer:
        for i, t in enumerate(tqdm(frames, desc="segment", unit="frame", disable=None)):
            writer.write(i, segment(movie.read_frame(t)[channel]))
