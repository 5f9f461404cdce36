"""Segment a whole movie frame by frame into a label stack on disk (memory flat in time).

With `preset: auto` the classic parameters are estimated once per movie, from a few frames
sampled across all of it (`resolve_movie_params`), so every frame, and every chunk of a split
segmentation, is segmented alike; `segmentation_record` says what was estimated and used (the
segment step writes it as segmentation.json for the report)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from marrowflow.io import LabelStackWriter, Movie, MovieMetadata, label_scale, warn_if_no_cells
from marrowflow.parallel import map_frames
from marrowflow.schema import as_params
from marrowflow.segment.auto import ImageEstimate, NoObjectsError, estimate_image, sample_frames
from marrowflow.segment.classic import given_diameter, resolve_auto
from marrowflow.segment.plausibility import FrameContrast, frame_contrast, warn_if_noise_like
from marrowflow.segment.segmenter import SegmentationParams, make_segmenter

log = logging.getLogger(__name__)


def physical_pixel_size(meta: MovieMetadata) -> float | tuple[float, float, float] | None:
    """The pixel size to give the segmenter: YX in µm, or (Z, Y, X) for stacks when Z is known."""
    if meta.pixel_size_um is None:
        return None
    if len(meta.shape_zyx) == 3 and meta.z_step_um is not None:
        return (meta.z_step_um, meta.pixel_size_um, meta.pixel_size_um)
    return meta.pixel_size_um


def resolve_movie_params(movie: Movie, params: SegmentationParams | Mapping[str, Any] | None, *, channel: int,
                         threads: int = 1) -> tuple[SegmentationParams, ImageEstimate | None]:
    """`params` with `preset: auto` resolved from frames sampled across the whole movie (the
    estimate, else None: parameters that are not auto, or cellpose, are returned as they are;
    sampled frames without any object give the built-in values, with a warning). `threads`:
    sampled frames estimated at a time."""
    params = as_params(SegmentationParams, params)
    if params.backend != "classic" or not params.classic.is_auto:
        return params, None
    meta = movie.metadata
    frames = sample_frames(movie.n_frames)
    try:
        estimate = estimate_image([movie.read_frame(t)[channel] for t in frames],
                                  pixel_size_um=physical_pixel_size(meta), frame_numbers=frames, threads=threads)
    except NoObjectsError:  # an empty movie (or empty sampled frames): nothing to estimate from
        log.warning("preset auto: no object stands out of the noise in frames %s of %s; segmenting with the "
                    "built-in classic values (name a preset or set segmentation.classic keys if the movie "
                    "does hold cells)", list(frames), meta.path or "the movie")
        # the explicit keys over the built-in values: what the unresolved parameters already hold
        return dataclasses.replace(params, classic=params.classic.replace(diameter_um=None, auto_keep=None)), None
    estimate = given_diameter(params.classic, estimate)
    log.info("preset auto: objects ~%.3g %s across (%s), %s, noise SD %.3g, background %.3g (unevenness %.2f of "
             "the objects' contrast), from frames %s", estimate.diameter, estimate.units,
             "given: segmentation.classic.diameter_um" if estimate.diameter_source == "config" else "measured",
             estimate.polarity,
             estimate.noise_sd, estimate.background_level, estimate.background_unevenness, list(frames))
    if estimate.depth_attenuation is not None:
        log.info("preset auto: the signal falls by 1/e every %.3g %s of depth (from the %s plane); each plane's "
                 "contrast is multiplied back (segmentation.classic.depth_attenuation_um)",
                 abs(estimate.depth_attenuation), estimate.units, "first" if estimate.depth_attenuation > 0 else "last")
    return dataclasses.replace(params, classic=resolve_auto(params.classic, estimate)), estimate


def segmentation_record(params: SegmentationParams, estimate: ImageEstimate | None, *,
                        preset: str | None = None) -> dict[str, Any]:
    """What the segmentation assumed, for segmentation.json and the report: the backend, the
    preset asked for, the movie's estimates (`preset: auto`) and the parameters used."""
    used = dataclasses.asdict(params.classic if params.backend == "classic" else params.cellpose)
    used.pop("auto_keep", None)
    return {"backend": params.backend, "preset": preset,
            "estimate": estimate.to_dict() if estimate is not None else None, "parameters": used}


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
    params, _ = resolve_movie_params(movie, params, channel=channel, threads=threads)
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
