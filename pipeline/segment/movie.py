"""Segment a whole movie frame by frame into a label stack on disk (memory flat in time)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from marrowflow.io import LabelStackWriter, Movie, MovieMetadata, label_scale, warn_if_no_cells
from marrowflow.segment.plausibility import frame_contrast, warn_if_noise_like
from marrowflow.segment.segmenter import SegmentationParams, make_segmenter


def physical_pixel_size(meta: MovieMetadata) -> float | tuple[float, float, float] | None:
    """The pixel size to give the segmenter: YX in µm, or (Z, Y, X) for stacks when Z is known."""
    if meta.pixel_size_um is None:
        return None
    if len(meta.shape_zyx) == 3 and meta.z_step_um is not None:
        return (meta.z_step_um, meta.pixel_size_um, meta.pixel_size_um)
    return meta.pixel_size_um


def segment_movie(movie: Movie, params: SegmentationParams | Mapping[str, Any] | None, *, channel: int,
                  out_path: str | Path, frames: range | None = None) -> None:
    """Segment channel `channel` of `frames` (default: all) of `movie` with `params` (the
    `segmentation` section) and write them to `out_path`.

    The model (cellpose) is loaded once; frames are read, segmented and written one at a time.
    A frame range writes a chunk whose stack holds just those frames, in order.
    Warns once (`ImplausibleSegmentationWarning`) naming the frames whose objects look like noise
    rather than cells (`marrowflow.segment.plausibility`), and (`NoCellsWarning`) when no frame
    has an object.
    """
    frames = range(movie.n_frames) if frames is None else frames
    meta = movie.metadata
    segment = make_segmenter(params, pixel_size_um=physical_pixel_size(meta))
    contrasts = []
    with LabelStackWriter(out_path, len(frames), meta.shape_zyx, scale=label_scale(meta)) as writer:
        for i, t in enumerate(tqdm(frames, desc="segment", unit="frame", disable=None)):
            image = movie.read_frame(t)[channel]
            labels = segment(image)
            contrasts.append(frame_contrast(labels, image))
            writer.write(i, labels)
    source = f"segment {meta.path}" if meta.path else "segment"
    warn_if_noise_like(frames, contrasts, source)
    warn_if_no_cells(sum(c.n_objects for c in contrasts), source, "the label stack is empty")
