"""Segmentation entry point: one frame of the segmentation channel -> uint32 labels 1..N.

`SegmentationParams` holds the config's `segmentation` section (built once, e.g. by the rule
script, with `SegmentationParams.from_config`):

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
Both take a `SegmentationParams` or the section as a mapping.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from marrowflow.schema import as_params, check_choice, check_keys, schema_fields
from marrowflow.segment.cellpose import CellposeParams, CellposeSegmenter
from marrowflow.segment.classic import ClassicParams, segment_classic

PixelSize = float | Sequence[float] | None

_schema = schema_fields("segmentation")


@dataclass(frozen=True)
class SegmentationParams:
    """The `segmentation` section: the backend and each backend's parameters (the classic ones
    with the preset expanded)."""

    SECTION: ClassVar[str] = "segmentation"

    backend: str = _schema("backend")
    channel: str | None = None  # the rule picks the channel (default: the nuclear one)
    classic: ClassicParams = dataclasses.field(default_factory=functools.partial(ClassicParams.from_config, None))
    cellpose: CellposeParams = dataclasses.field(default_factory=CellposeParams)

    def __post_init__(self) -> None:
        check_choice(self.SECTION, "backend", self.backend)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> SegmentationParams:
        """From the `segmentation` section (keys left out take the defaults; unknown keys raise
        ConfigError); the classic part is its preset overridden by its explicit keys."""
        section = dict(section or {})
        check_keys(section, [f.name for f in dataclasses.fields(cls)], cls.SECTION)
        parts = {"classic": ClassicParams.from_config(section.pop("classic", None)),
                 "cellpose": CellposeParams.from_config(section.pop("cellpose", None))}
        return cls(**section, **parts)


def make_segmenter(params: SegmentationParams | Mapping[str, Any] | None, *,
                   pixel_size_um: PixelSize = None) -> Callable[[np.ndarray], np.ndarray]:
    """A function frame -> labels for the configured backend (models loaded now, once)."""
    params = as_params(SegmentationParams, params)
    if params.backend == "classic":
        return functools.partial(segment_classic, params=params.classic, pixel_size_um=pixel_size_um)
    return CellposeSegmenter(params.cellpose, pixel_size_um=pixel_size_um).segment


@functools.lru_cache(maxsize=4)
def _cached_segmenter(params: SegmentationParams, pixel_size_um: tuple[float, ...] | None
                      ) -> Callable[[np.ndarray], np.ndarray]:
    return make_segmenter(params, pixel_size_um=pixel_size_um)


def segment_frame(image: np.ndarray, params: SegmentationParams | Mapping[str, Any] | None, *,
                  pixel_size_um: PixelSize = None) -> np.ndarray:
    """Label one frame (Y, X) or (Z, Y, X) of the segmentation channel; uint32 labels 1..N.

    `pixel_size_um`: the YX pixel size, or one per axis ((Z, Y, X) for stacks); None = unknown.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"segment_frame takes one channel of one frame, (Y, X) or (Z, Y, X); got shape {image.shape}")
    size = None if pixel_size_um is None else tuple(np.atleast_1d(pixel_size_um).astype(float).tolist())
    labels = _cached_segmenter(as_params(SegmentationParams, params), size)(image)
    return np.ascontiguousarray(labels, dtype=np.uint32)
