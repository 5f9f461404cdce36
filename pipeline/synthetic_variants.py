"""Synthetic nuclei images that differ the way labs' images differ, with their true labels: for
testing and benchmarking segmentation that nobody tuned on them (`preset: auto`).

Each variant is the 2D organoid simulator (`marrowflow.synthetic`) with a few settings changed:
magnification x0.5 and x2 (nuclei of half and twice the size, PSF with them), low signal to
noise, a strongly uneven background, dense packing, and dark nuclei on a bright background
(the movie inverted around its background, as an absorbing stain in bright-field looks).
`variant_frames(name, seed)` returns the nuclear channel of a few frames and the true labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from marrowflow.synthetic import OrganoidParams, simulate_organoid

__all__ = ["VARIANTS", "variant_frames"]

_BASE: dict[str, Any] = {"n_frames": 3, "size": [256, 256], "n_founders": 30, "cycle_time_h": 40.0,
                         "differentiation_rate_per_h": {}, "motility_px": 3.0}
# name -> changes to the base; "invert": dark nuclei on a bright background
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "magnification_x0.5": {"radius_px": 3.5, "psf_sigma_px": 0.5, "min_gap_px": 1.5, "n_founders": 60},
    "magnification_x2": {"radius_px": 14.0, "psf_sigma_px": 2.0, "min_gap_px": 6.0, "size": [400, 400]},
    "low_snr": {"nuclei_brightness": 120.0, "read_noise": 10.0},
    "uneven_background": {"background": 300.0, "background_unevenness": 1.5},
    "dense": {"n_founders": 110, "min_gap_px": 0.5},
    "dark_objects": {"invert": True},
}


def variant_frames(name: str, seed: int = 0, *, changes: Mapping[str, Any] | None = None
                   ) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """(images, true labels, pixel size in µm) of the frames of variant `name` (see `VARIANTS`),
    simulated with `seed`; `changes` to the simulator's settings on top of the variant's."""
    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    settings = {**_BASE, **VARIANTS[name], **(changes or {}), "seed": seed}
    invert = settings.pop("invert", False)
    params = OrganoidParams.from_config(settings)
    sim = simulate_organoid(params)
    images = [np.asarray(sim.movie[t, 0]) for t in range(params.n_frames)]
    if invert:  # dark nuclei: reflect the intensities around a bright background
        top = float(max(im.max() for im in images))
        images = [(top - im.astype(np.float64) + params.background).astype(np.uint16) for im in images]
    labels = [np.asarray(sim.labels[t]) for t in range(params.n_frames)]
    return images, labels, params.pixel_size_um
