"""Segmentation entry point: one frame of the segmentation channel -> uint32 labels 1..N.

`params` is the config's `segmentation` section with the schema's defaults applied:

    segmentation:
      backend: classic            # or cellpose
      channel: nuclei             # picked by the rule; this module gets one channel
      classic:
        preset: fluo_nuclei       # workflow/presets/segmentation/<name>.yaml, or a path to a YAML file
        smooth_sigma_um: 0.2      # any explicit key overrides the preset
      cellpose:
        model: resources/models/<name>/<name>   # or a built-in name (needs internet once)
        gpu: auto

Backends: `pipeline.segment_classic` (scikit-image) and `pipeline.segment_cellpose`.
`make_segmenter` builds the segmenter once (a cellpose model is loaded once per rule run);
`segment_frame` keeps the last built segmenters, so calling it frame by frame is cheap too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml

from pipeline.errors import ConfigError
from pipeline.segment_classic import CLASSIC_KEYS, segment_classic
from pipeline.segment_cellpose import CellposeSegmenter

__all__ = ["PRESET_DIR", "list_presets", "load_preset", "classic_params", "expand_preset", "make_segmenter",
           "segment_frame", "segment_classic", "CellposeSegmenter"]

PRESET_DIR = Path(__file__).resolve().parents[1] / "workflow" / "presets" / "segmentation"
PixelSize = float | Sequence[float] | None


def list_presets() -> list[str]:
    """Names of the shipped classic presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> dict:
    """The `params` of a classic preset: a shipped name or a path to a YAML file with `params:`."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"segmentation.classic.preset: {name!r} is neither a shipped preset "
                          f"({', '.join(list_presets())}) nor an existing YAML file ({path}); "
                          "fix the name or the path")
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    params = doc.get("params")
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping under the key 'params', found {params!r}")
    unknown = sorted(set(params) - set(CLASSIC_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} under 'params'; allowed: {sorted(CLASSIC_KEYS)}")
    return params


def classic_params(classic: Mapping | None) -> dict:
    """Preset values overridden by the explicit keys of `segmentation.classic`."""
    classic = dict(classic or {})
    preset = classic.pop("preset", "fluo_nuclei")
    base = load_preset(preset) if preset else {}
    return {**base, **classic}


def expand_preset(settings: Mapping) -> dict:
    """The `segmentation` section with the classic preset replaced by its full parameter set.

    Segmenting with the result gives the same labels; a workflow rule that takes it as a
    parameter reruns when a preset file changes (Snakemake compares parameters, not file dates).
    """
    out = dict(settings)
    if out.get("backend", "classic") == "classic":
        out["classic"] = {**classic_params(out.get("classic")), "preset": None}
    return out


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
