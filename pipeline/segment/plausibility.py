"""Does a segmented frame look like cells or like noise? A check on the objects' significance.

Objects found in pure noise are noise peaks that crossed the threshold: small, and only about one
noise standard deviation brighter than the background, so their mean is not significantly above
it. Real cells, even dim whole-cell stains, are large coherent regions whose mean stands far above
the background. Per object: contrast = mean - background (median of the pixels outside the
objects), noise SD from differences of neighbouring background pixels (a smooth background
gradient does not count as noise), significance z = contrast * sqrt(area) / SD (the contrast in
units of the noise of the object's mean). A frame with at least `MIN_OBJECTS` objects whose
median z is below `NOISE_Z` looks like noise.

Measured (median z per frame): pure Gaussian and Poisson noise (lambda 1, 10, 100; 256-2048 px
square) segmented with the built-in settings (preset null, pixel size 0.1-1 µm): 3-11; real
sequences with their presets or the built-in settings: CTC Fluo-N2DH-SIM+ 228-745, Fluo-N2DH-GOWT1
349-960, Fluo-C2DL-MSC (whole cell, dim) 98-206; the synthetic demo 658-849. GOWT1 with the wrong
preset (fluo_nuclei_widefield: ~330 objects for ~25 nuclei, background texture) gives 6-17 and is
flagged, as it should be.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NOISE_Z = 30.0
"""Median object significance (see the module) below which a frame looks like noise."""

MIN_OBJECTS = 20
"""Frames with fewer objects are not judged: a handful of dim objects is not a density problem."""


class ImplausibleSegmentationWarning(UserWarning):
    """The segmented objects of some frames look like noise rather than cells."""


@dataclass(frozen=True)
class FrameContrast:
    """Objects of one frame, their median contrast (noise SDs) and significance (NaN without objects)."""

    n_objects: int
    median_snr: float
    median_z: float

    @property
    def noise_like(self) -> bool:
        """Many objects, barely above the noise: the segmentation probably found noise."""
        return self.n_objects >= MIN_OBJECTS and not self.median_z >= NOISE_Z


def _noise_sd(image: np.ndarray, background: np.ndarray) -> float:
    """Pixel noise SD from differences of neighbouring background pixels (last axis), robustly."""
    both = background[..., 1:] & background[..., :-1]
    if both.sum() < 100:
        both = np.ones_like(both)
    diff = np.diff(image, axis=-1)[both]
    mad = np.median(np.abs(diff - np.median(diff)))
    sd = 1.4826 * mad if mad > 0 else 1.2533 * np.mean(np.abs(diff))  # discrete, mostly-equal values
    return float(sd) / np.sqrt(2.0)


def frame_contrast(labels: np.ndarray, image: np.ndarray) -> FrameContrast:
    """The number of objects of `labels` and their median contrast and significance over the
    background of `image` (see the module)."""
    flat = np.asarray(labels).ravel().astype(np.intp)
    area = np.bincount(flat)
    present = np.flatnonzero(area[1:]) + 1
    if present.size == 0:
        return FrameContrast(0, float("nan"), float("nan"))
    image = np.asarray(image, dtype=float)
    background = np.asarray(labels) == 0
    if not background.any():
        return FrameContrast(int(present.size), float("nan"), float("nan"))
    level = float(np.median(image[background]))
    sd = _noise_sd(image, background)
    contrast = np.bincount(flat, weights=image.ravel())[present] / area[present] - level
    if sd <= 0:
        return FrameContrast(int(present.size), float("inf"), float("inf"))
    snr = float(np.median(contrast) / sd)
    z = float(np.median(contrast * np.sqrt(area[present]) / sd))
    return FrameContrast(int(present.size), snr, z)


def warn_if_noise_like(frames: Sequence[int], contrasts: Sequence[FrameContrast], source: str) -> bool:
    """Warn once (ImplausibleSegmentationWarning) listing the frames that look like noise."""
    bad = [(t, c) for t, c in zip(frames, contrasts) if c.noise_like]
    if not bad:
        return False
    shown = ", ".join(f"{t}: {c.n_objects} objects, contrast {c.median_snr:.1f} SD, z {c.median_z:.0f}"
                      for t, c in bad[:10])
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    warnings.warn(f"{source}: {len(bad)} of {len(contrasts)} frame(s) look like noise rather than cells: the "
                  f"objects' median significance over the background is below {NOISE_Z:g} (frame "
                  f"{shown}{more}). Check the channel and the segmentation settings (threshold, preset).",
                  ImplausibleSegmentationWarning, stacklevel=2)
    return True
