"""Segmentation entry point: one frame of the segmentation channel -> uint32 labels 1..N.

`params` is the config's `segmentation` section with the schema's defaults applied:

    segmentation:
      backend: classic            # or cellpose
      channel: nuclei             # picked by the rule; this module gets one channel
      classic:
        preset: fluo_nuclei       # marrowflow/segment/presets/<name>.yaml, or a path to a YAML file
        smooth_sigma_um: 0.2      # any explicit key overrides the preset
      cellpose:
        model: resources/models/<name>/<name>   # or a built-in name (needs internet once)
        gpu: auto

Backends: `marrowflow.segment.classic` (scikit-image) and `marrowflow.segment.cellpose`.
`make_segmenter` builds the segmenter once (a cellpose model is loaded once per rule run);
`segment_frame` keeps the last built segmenters, so calling it frame by frame is cheap too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from marrowflow.errors import ConfigError
from marrowflow.segment.cellpose import CellposeSegmenter
from marrowflow.segment.classic import segment_classic
from marrowflow.segment.presets import classic_params

PixelSize = float | Sequence[float] | None


def make_segmenter(params: Mapping, *, pixel_size_um: PixelSize = None) -> Callable[[np.ndarray], np.ndarray]:
    """A function frame -> labels for the configured backend (models loaded now, once)."""
    backend = params.get("backend", "classic")
    if backend == "classic":
        kwargs = classic_params(params.get("classic"))
        return functools.partial(_classic, kwargs=kwargs, pixel_size_um=pixel_size_um)
    if backend == "cellpose":
        return CellposeSegmenter(params.get("cellpose") or {}, pixel_size_um=pixel_size_um).segment
    raise ConfigError(f"segmentation.backend is {backend!r}; allowed: 'classic', 'cellpose'")


def _classic(image: np.ndarray, *, kwargs: dict, pixel_size_um: PixelSize) -> np.ndarray:
    return segment_classic(image, pixel_size_um=pixel_size_um, **kwargs)


@functools.lru_cache(maxsize=4)
def _cached_segmenter(key: str) -> Callable[[np.ndarray], np.ndarray]:
    params, pixel_size_um = json.loads(key)
    return make_segmenter(params, pixel_size_um=pixel_size_um)


def segment_frame(image: np.ndarray, params: Mapping, *, pixel_size_um: PixelSize = None) -> np.ndarray:
    """Label one frame (Y, X) or (Z, Y, X) of the segmentation channel; uint32 labels 1..N.

    `pixel_size_um`: the YX pixel size, or one per axis ((Z, Y, X) for stacks); None = unknown.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"segment_frame takes one channel of one frame, (Y, X) or (Z, Y, X); got shape {image.shape}")
    size = None if pixel_size_um is None else np.atleast_1d(pixel_size_um).astype(float).tolist()
    key = json.dumps([params, size], sort_keys=True, default=str)
    labels = _cached_segmenter(key)(image)
    return np.ascontiguousarray(labels, dtype=np.uint32)
