"""Segment a whole movie frame by frame into a label stack on disk (memory flat in time)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from marrowflow.io import LabelStackWriter, Movie, MovieMetadata, label_scale, warn_if_no_cells
from marrowflow.parallel import map_frames
from marrowflow.schema import as_params
from marrowflow.segment.plausibility import FrameContrast, frame_contrast, warn_if_noise_like
from marrowflow.segment.segmenter import SegmentationParams, make_segmenter


def physical_pixel_size(meta: MovieMetadata) -> float | tuple[float, float, float] | None:
    """The pixel size to give the segmenter: YX in µm, or (Z, Y, X) for stacks when Z is known."""
    if meta.pixel_size_um is None:
        return None
    if len(meta.shape_zyx) == 3 and meta.z_step_um is not None:
        return (meta.z_step_um, meta.pixel_size_um, meta.pixel_size_um)
    return meta.pixel_size_um


_SEGMENTER: dict[str, Any] = {}  # the segmenter of this process (worker), built once by _start_segmenter


def _start_segmenter(params: SegmentationParams, pixel_size_um: Any) -> None:
    """Build the segmenter (load the model) once per process."""
    _SEGMENTER["segment"] = make_segmenter(params, pixel_size_um=pixel_size_um)


def _segment_one(image: np.ndarray) -> tuple[np.ndarray, FrameContrast]:
    """Segment one frame with this process's segmenter; labels and their contrast."""
    labels = _SEGMENTER["segment"](image)
    return labels, frame_contrast(labels, image)


def segment_movie(movie: Movie, params: SegmentationParams | Mapping[str, Any] | None, *, channel: int,
                  out_path: str | Path, frames: range | None = None, threads: int = 1) -> None:
    """Segment channel `channel` of `frames` (default: all) of `movie` with `params` (the
    `segmentation` section) and write them to `out_path`.

    The model (cellpose) is loaded once; frames are read, segmented and written one at a time.
    A frame range writes a chunk whose stack holds just those frames, in order.
    Warns once (`ImplausibleSegmentationWarning`) naming the frames whose objects look like noise
    rather than cells (`marrowflow.segment.plausibility`), and (`NoCellsWarning`) when no frame
    has an object.
    `threads` > 1 segments that many frames at a time (classic: worker processes, as its work holds
    the GIL; cellpose runs one frame at a time, its model using the cores or GPU itself), written in
    frame order: the same bytes as 1.
    """
    frames = range(movie.n_frames) if frames is None else frames
    meta = movie.metadata
    params = as_params(SegmentationParams, params)
    processes = params.backend == "classic" and threads > 1
    threads = threads if processes else 1  # cellpose: one model, which uses the cores (or GPU) itself
    images = ((movie.read_frame(t)[channel],) for t in frames)
    results = map_frames(_segment_one, images, threads=threads, frames=frames, processes=processes,
                         initializer=_start_segmenter, initargs=(params, physical_pixel_size(meta)),
                         source=f"segment {meta.path}" if meta.path else "segment")
    contrasts = []
    with LabelStackWriter(out_path, len(frames), meta.shape_zyx, scale=label_scale(meta)) as writer:
        for i, (labels, contrast) in enumerate(tqdm(results, total=len(frames), desc="segment", unit="frame",
                                                    disable=None)):
            contrasts.append(contrast)
            writer.write(i, labels)
    source = f"segment {meta.path}" if meta.path else "segment"
    warn_if_noise_like(frames, contrasts, source)
    warn_if_no_cells(sum(c.n_objects for c in contrasts), source, "the label stack is empty")
