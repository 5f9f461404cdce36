"""`preset: auto`: the classic segmentation's parameters estimated from the movie itself.

`estimate_image` looks at a few frames sampled across the movie and measures what the classic
parameters depend on:

- the noise SD, from the median absolute response to a second-difference kernel (Immerkær's
  mask, made robust with the median: edges and texture are rare next to noise);
- the object polarity: fluorescence (bright objects on a dark background), absorbing bright-field
  (dark on bright) or phase contrast (a dark body with a bright halo: both tails), from how far
  the smoothed image reaches above and below the background mode in noise SDs;
- the typical object diameter: the foreground cut a few noise SDs above the background, and the
  size-weighted median of its pieces' inscribed diameters (twice the distance-transform maximum:
  touching objects count one by one). Grey-level granulometry and scale-space blob detection
  were tried first and read the bright chromatin inside blurred, textured nuclei as the objects
  (SIM+: 2-5 µm for nuclei of 6 µm);
- the background level and its unevenness (a grey opening of radius one diameter, which no
  object survives: its spread relative to the objects' contrast);
- in 3D, the anisotropy (z step / pixel size; the classic segmentation already works per axis
  in µm), and the fall of the signal with depth (`depth_attenuation`: a line fitted to the log
  of the planes' object levels; kept when the fall across the stack is at least DEPTH_FALL);

`auto_params` derives the classic parameters from these figures by fixed rules in units of the
object diameter and the noise SD (the rules and their constants are in `RECIPE`; they were chosen
on synthetic images only, see benchmarks/bench_segmentation.py --protocol auto). Explicit keys of
the config still override them. Hand-written: scikit-image has the filters but no estimator of
these figures (its `estimate_sigma` needs PyWavelets and `blob_log` reads chromatin texture as
objects).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage import transform

from marrowflow.errors import InputError
from marrowflow.parallel import check_threads

log = logging.getLogger(__name__)

__all__ = ["DEPTH_FALL", "PLANE_SNR", "RECIPE", "STACK_CUT", "ImageEstimate", "NoObjectsError", "auto_params",
           "background_opening", "depth_attenuation", "estimate_image", "noise_sd", "object_diameter",
           "plane_levels", "sample_frames"]

# Rules of `auto_params`, in object diameters D and noise SDs (chosen on synthetic images only)
RECIPE: dict[str, float] = {
    "smooth_per_d": 1 / 25,  # Gaussian smoothing sigma
    "threshold_sds": 3.0,  # foreground cut above the background, in noise SDs of the smoothed image
    "boundary_fraction": 0.5,  # outlines at half each object's own contrast (its half-maximum)
    "min_contrast_snr": 4.0,  # objects whose mean lies fewer SDs above the background are noise
    "seed_h_per_d": 1 / 12,  # split touching objects at necks this much narrower than D
    # clumps: foreground pieces wider than clump_per_d D are packed objects without necks, split
    # where the intensity dips too (intensity_weight there); single nuclei keep shape-only seeds
    # (chromatin texture would split them). The weight was chosen on synthetic variants (seeds 1,
    # 2), the width so that SIM+ and GOWT1 stay unchanged (2 D: SIM+ -0.004 SEG; 1.5 D: GOWT1 -0.09)
    "clump_intensity_weight": 0.7,
    "clump_per_d": 2.5,
    "seed_distance_per_d": 1 / 3,
    "seed_sigma_per_d": 1 / 12,
    "min_diameter_per_d": 1 / 3,
    "min_diameter_border_per_d": 1 / 8,
    "uneven_background": 0.1,  # background spread / contrast above which it is subtracted
    "background_radius_per_d": 1.0,
}

OUTLINE_FRACTION = 0.3  # objects' outlines for their size: this fraction of their own level
MIN_OBJECT_PX = 3.0  # pieces narrower than this many pixels are noise, not objects
class NoObjectsError(InputError):
    """No object stands out of the noise in the frames estimated from."""


# 3D stacks: the axial blur spreads each nucleus' light over a halo whose volume grows with the
# square of its radius, so a low cut plus half-maximum outlines merges neighbours and loosens
# every outline (synthetic spheroid seed 12: SEG 0.44); Otsu's cut between nuclei and background,
# without the outline refinement, fits (0.89; held-out seeds 13 and 21: 0.92 and 0.90)
STACK_CUT: dict[str, Any] = {"threshold_method": "otsu", "threshold_scale": 1.0, "boundary_fraction": None}

# 3D depth attenuation: planes whose 99th percentile stands fewer noise SDs above their median hold
# no object to measure it from (pure noise: 2.3); a fall across the stack under a factor DEPTH_FALL
# is left to the global cut (synthetic spheroids without strong attenuation fall 1.0-1.7x from
# the planes' content alone; chosen on seeds 12, 14 and 15)
PLANE_SNR = 5.0
DEPTH_FALL = 2.0

_SECOND_DIFFERENCE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass(frozen=True)
class ImageEstimate:
    """What `estimate_image` measured. Sizes in µm (`units` 'um') or pixels (`units` 'px', when the
    pixel size is unknown); intensities in the image's grey levels."""

    diameter: float
    units: str
    polarity: str  # bright | dark | phase
    noise_sd: float
    background_level: float
    background_unevenness: float
    contrast: float
    anisotropy: float | None
    frames: tuple[int, ...]
    diameter_source: str = "image"  # image: measured; config: segmentation.classic.diameter_um
    # 3D: the signal falls by 1/e every this many µm (px) of depth from the first plane (negative:
    # from the last); None: it falls less than DEPTH_FALL across the stack, or 2D
    depth_attenuation: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for metadata/provenance and the report)."""
        out = dataclasses.asdict(self)
        out["frames"] = list(self.frames)
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def sample_frames(n_frames: int, n: int = 3) -> list[int]:
    """`n` frame numbers spread evenly over a movie of `n_frames` (first and last included)."""
    if n_frames < 1:
        raise InputError("the movie has no frames to estimate the segmentation parameters from")
    return sorted({int(round(t)) for t in np.linspace(0, n_frames - 1, min(n, n_frames))})


def noise_sd(image: np.ndarray) -> float:
    """Robust SD of the pixel noise of a 2D plane or 3D stack (planes pooled)."""
    planes = image.reshape(-1, *image.shape[-2:]).astype(np.float32)
    responses = [ndi.convolve(p, _SECOND_DIFFERENCE)[1:-1, 1:-1].ravel() for p in planes]
    # the kernel's response to white noise of SD s has SD 6 s; the MAD of a normal is 0.6745 SD
    return float(np.median(np.abs(np.concatenate(responses))) / (0.6745 * 6.0))


def _polarity(detail: np.ndarray) -> str:
    """bright, dark or phase from how far the image reaches above and below its background
    (`detail`: in noise SDs, background 0): the 99.9th percentile against the 0.1th. One side
    more than twice the other: bright or dark objects; both alike: phase contrast (a dark body
    in a bright halo)."""
    low, high = np.percentile(detail, [0.1, 99.9])
    up, down = max(float(high), 0.0), max(float(-low), 0.0)
    if up >= 2 * down:
        return "bright"
    if down >= 2 * up:
        return "dark"
    return "phase"

def object_diameter(objects: np.ndarray, spacing: Sequence[float] | np.ndarray, cut: float) -> float:
    """Typical diameter (spacing units) of the bright objects of `objects` (background 0).

    The objects are found where `objects` exceeds `cut` (a few noise SDs), and each is then cut
    at a fraction of its own level (the 75th percentile of its pixels), as an outline is drawn
    whatever its brightness and blur (a cut between the objects' own grey levels, such as Otsu's, keeps only
    the bright chromatin of textured nuclei), holes filled; each piece's inscribed diameter
    (twice its distance-transform maximum, so touching objects count one by one; in 3D within
    the planes) is weighted by
    the piece's size, and the weighted median is returned (NaN without any object)."""
    spacing = np.asarray(spacing, float)
    found, n = ndi.label(objects > cut)
    if n == 0:
        return float("nan")
    inside = found > 0  # the percentile of the objects' pixels only: the background is most of the image
    peak = _label_percentile(objects[inside], found[inside], n, 75.0)
    peak[0] = np.inf
    mask = ndi.binary_fill_holes(objects > OUTLINE_FRACTION * peak[found])
    pieces, n = ndi.label(mask)
    if n == 0:
        return float("nan")
    if mask.ndim == 3:  # within the planes: z is coarse, blurred, and a stack may be thinner than a cell
        dist = np.stack([ndi.distance_transform_edt(plane, sampling=spacing[1:]) for plane in mask])
    else:
        dist = ndi.distance_transform_edt(mask, sampling=spacing)
    inscribed = 2.0 * np.asarray(ndi.maximum(dist, pieces, index=np.arange(1, n + 1)))
    size = np.bincount(pieces.ravel(), minlength=n + 1)[1:].astype(float)
    size[inscribed < MIN_OBJECT_PX * spacing.min()] = 0.0
    if not size.any():
        return float("nan")
    order = np.argsort(inscribed)
    cumulative = np.cumsum(size[order])
    return float(inscribed[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _label_percentile(values: np.ndarray, labels: np.ndarray, n: int, q: float) -> np.ndarray:
    """The `q`-th percentile of `values` within each label 0..n (nearest rank)."""
    flat_labels, flat_values = labels.ravel(), values.ravel()
    order = np.lexsort((flat_values, flat_labels))
    counts = np.bincount(flat_labels, minlength=n + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = starts + np.minimum((q / 100.0 * np.maximum(counts - 1, 0)).round().astype(np.int64), counts - 1)
    out = np.zeros(n + 1, np.float32)
    present = counts > 0
    out[present] = flat_values[order][rank[present]]
    return out


def _local_contrast(frame: np.ndarray, sigma_px: np.ndarray) -> np.ndarray:
    """Phase contrast (a dark body in a bright halo) as bright objects on 0: the local SD in a
    Gaussian window of two pixels less its median (flat where there is no object)."""
    img = frame.astype(np.float32)
    mean = ndi.gaussian_filter(img, 2 * sigma_px)
    local_sd = np.sqrt(np.maximum(ndi.gaussian_filter(img * img, 2 * sigma_px) - mean * mean, 0.0))
    return np.maximum(local_sd - float(np.median(local_sd)), 0.0) / max(noise_sd(frame), 1e-6)


def estimate_image(frames: Sequence[np.ndarray], *, pixel_size_um: float | Sequence[float] | None = None,
                   z_step_um: float | None = None, frame_numbers: Sequence[int] | None = None,
                   threads: int = 1) -> ImageEstimate:
    """Estimate object size, polarity, noise and background from `frames` (2D or 3D planes of the
    segmentation channel; a few sampled across the movie, see `sample_frames`).

    `pixel_size_um`: YX pixel size, or (Z, Y, X); None: sizes in pixels. `z_step_um` sets the z
    spacing of 3D frames when `pixel_size_um` is one number. `threads`: frames worked on at a
    time (threads: the filters release the GIL; the same estimate whatever the number)."""
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise InputError("no frames to estimate the segmentation parameters from")
    ndim = frames[0].ndim
    if ndim not in (2, 3):
        raise InputError(f"estimate_image takes 2D or 3D frames of one channel; got shape {frames[0].shape}")
    units = "px" if pixel_size_um is None else "um"
    spacing = np.ones(ndim) if pixel_size_um is None else np.atleast_1d(np.asarray(pixel_size_um, float))
    if spacing.size == 1:
        spacing = np.repeat(spacing, ndim)
        if ndim == 3 and z_step_um and units == "um":
            spacing[0] = float(z_step_um)
    sigma_px = spacing.min() / spacing
    with ThreadPoolExecutor(max_workers=check_threads(threads), thread_name_prefix="marrowflow-estimate") as pool:
        looks = list(pool.map(lambda f: _first_look(f, sigma_px), frames))
        sds, smooth, noise, polarities = (list(v) for v in zip(*looks))
        polarity = max(sorted(set(polarities)), key=polarities.count)
        if polarity == "phase":
            objects = list(pool.map(lambda f: _local_contrast(f, sigma_px), frames))
            backgrounds = [np.full(f.shape, float(np.median(f)), np.float32) for f in frames]
            diameters = _diameters(objects, spacing, pool)
        else:
            # the background as the segmentation removes it: an opening (closing for dark objects),
            # first of radius 1/16 of the field, then of the diameter found (twice)
            sign = 1.0 if polarity == "bright" else -1.0
            oriented = [sign * s for s in smooth]
            radius_px = min(frames[0].shape[-2:]) / 16 * sigma_px
            for _ in range(3):
                found = list(pool.map(functools.partial(_over_background, sign=sign, radius_px=radius_px),
                                      oriented, noise))
                backgrounds, objects = (list(v) for v in zip(*found))
                diameters = _diameters(objects, spacing, pool)
                if not diameters:
                    break
                radius_px = float(np.median(diameters)) / spacing
    if not diameters:
        raise NoObjectsError("no object stands out of the noise in the sampled frames: nothing to estimate the "
                         "object size from; check the segmentation channel (config key segmentation.channel) "
                         "or set the classic parameters (segmentation.classic.preset: fluo_nuclei, ...)")
    contrast = [float(np.percentile((o * n)[o > 3], 90)) for o, n in zip(objects, noise) if np.any(o > 3)]
    c = float(np.median(contrast)) if contrast else 0.0
    spread = [float(np.subtract(*np.percentile(b, [95, 5]))) for b in backgrounds]
    numbers = frame_numbers if frame_numbers is not None else range(len(frames))
    level = float(np.median([np.median(b) for b in backgrounds]))
    attenuation = depth_attenuation(frames, spacing[0], polarity) if ndim == 3 and polarity != "phase" else None
    return ImageEstimate(diameter=float(np.median(diameters)), units=units, polarity=polarity,
                         noise_sd=float(np.median(sds)), background_level=level,
                         background_unevenness=float(np.median(spread)) / c if c else 0.0, contrast=c,
                         anisotropy=float(spacing[0] / spacing[-1]) if ndim == 3 else None,
                         frames=tuple(int(t) for t in numbers), depth_attenuation=attenuation)


def plane_levels(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per plane of a (Z, Y, X) stack (objects bright): the background (median), the objects'
    level above it (99th percentile less the median) and the noise SD."""
    flat = stack.reshape(len(stack), -1).astype(np.float32)
    background = np.median(flat, axis=1)
    level = np.percentile(flat, 99, axis=1) - background
    return background, level, np.array([noise_sd(plane) for plane in stack])


def depth_attenuation(stacks: Sequence[np.ndarray], z_step: float, polarity: str = "bright") -> float | None:
    """Length (z_step's units) over which the signal of (Z, Y, X) `stacks` falls by 1/e with depth
    from the first plane (negative: it grows), from a straight line fitted to the log of the
    planes' object levels (`plane_levels`) of every stack at once; only planes whose level stands
    at least PLANE_SNR noise SDs out count. None when fewer than 3 planes count, or the fitted fall
    across the stack is under a factor DEPTH_FALL."""
    depths, logs = [], []
    for stack in stacks:
        oriented = -stack.astype(np.float32) if polarity == "dark" else stack
        _, level, noise = plane_levels(oriented)
        ok = level >= PLANE_SNR * np.maximum(noise, 1e-6)
        depths.append(np.arange(len(stack))[ok] * float(z_step))
        logs.append(np.log(level[ok]))
    depth, log_level = np.concatenate(depths), np.concatenate(logs)
    if len(np.unique(depth)) < 3:
        return None
    slope = float(np.polyfit(depth, log_level, 1)[0])
    span = (len(stacks[0]) - 1) * float(z_step)
    if slope == 0 or np.exp(abs(slope) * span) < DEPTH_FALL:
        return None
    return -1.0 / slope


def _first_look(frame: np.ndarray, sigma_px: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, str]:
    """One frame's noise SD, smoothed image, noise map of the smoothed image, and polarity."""
    smooth = ndi.gaussian_filter(frame.astype(np.float32), sigma_px)
    # noise SD of the smoothed frame, pixel by pixel (smoothing white noise with a Gaussian of
    # sigma s divides its SD by 2 sqrt(pi) s in a 2D plane): the images below are in its units
    noise = _noise_map(frame) / (2 * np.sqrt(np.pi) * sigma_px[-1])
    # polarity from the detail above and below the background (block medians: robust to the
    # objects while they cover less than half a block, and following an uneven background)
    detail = (smooth - _full_size(_block_values(smooth, np.median), smooth.shape)) / noise
    return noise_sd(frame), smooth, noise, _polarity(detail)


def _over_background(oriented: np.ndarray, noise: np.ndarray, sign: float, radius_px: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The background under the objects of one frame (an opening of `radius_px`; `oriented`: the
    smoothed frame, objects bright) and the objects above it in noise SDs."""
    background = sign * background_opening(oriented, radius_px)
    return background, np.maximum(oriented - sign * background, 0.0) / noise


def background_opening(img: np.ndarray, radius_px: np.ndarray) -> np.ndarray:
    """The background under bright objects: a grey opening with an ellipsoid of `radius_px`,
    computed at a scale where the radius is ~8 px."""
    factor = np.maximum(radius_px / 8.0, 1.0)
    small_shape = tuple(max(int(round(s / f)), 1) for s, f in zip(img.shape, factor))
    small = transform.resize(img, small_shape, order=1, anti_aliasing=True, preserve_range=True)
    r = np.maximum(np.round(radius_px / factor), 1).astype(int)
    grids = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    footprint = sum((g / k) ** 2 for g, k in zip(grids, r)) <= 1
    opened = ndi.grey_opening(small, footprint=footprint, mode="reflect")
    opened = ndi.uniform_filter(opened, size=tuple(2 * r + 1), mode="reflect")
    return transform.resize(opened, img.shape, order=1, preserve_range=True).astype(np.float32)


def _diameters(objects: Sequence[np.ndarray], spacing: np.ndarray, pool: Executor) -> list[float]:
    """`object_diameter` of each frame's objects image (in noise SDs), cut at 3; frames without any left out."""
    found = pool.map(lambda o: object_diameter(o, spacing, 3.0), objects)
    return [d for d in found if np.isfinite(d)]


def _blocks(shape: Sequence[int]) -> tuple[list[int], list[np.ndarray]]:
    """Block counts per axis (8 per side, 4 in z) and their edges."""
    counts = [min(4 if (len(shape) == 3 and axis == 0) else 8, n) for axis, n in enumerate(shape)]
    return counts, [np.linspace(0, n, k + 1).astype(int) for n, k in zip(shape, counts)]


def _block_values(image: np.ndarray, statistic) -> np.ndarray:
    """`statistic(block)` of each block of `image` (see `_blocks`), as a grid."""
    counts, edges = _blocks(image.shape)
    grid = np.empty(counts, np.float32)
    for index in np.ndindex(*counts):
        grid[index] = statistic(image[tuple(slice(e[i], e[i + 1]) for e, i in zip(edges, index))])
    return grid


def _full_size(grid: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """A block grid smoothed and interpolated back to the image's `shape`."""
    grid = ndi.gaussian_filter(grid, 0.5, mode="nearest")
    full = ndi.zoom(grid, [n / k for n, k in zip(shape, grid.shape)], order=1, mode="nearest", grid_mode=True)
    return full[tuple(slice(0, n) for n in shape)].astype(np.float32)


def _noise_map(frame: np.ndarray) -> np.ndarray:
    """The noise SD block by block (`noise_sd`), at full size: shot noise grows with the signal,
    so an unevenly lit frame is noisier where it is brighter."""
    return np.maximum(_full_size(_block_values(frame, noise_sd), frame.shape), 1e-6)


def auto_params(estimate: ImageEstimate, recipe: Mapping[str, float] | None = None) -> dict[str, Any]:
    """ClassicParams values derived from `estimate` by `RECIPE` (or `recipe`'s changes to it)."""
    r = {**RECIPE, **(recipe or {})}
    d = estimate.diameter
    uneven = estimate.background_unevenness > r["uneven_background"]
    params = {
        "units": estimate.units,
        "polarity": estimate.polarity,
        "background_radius_um": r["background_radius_per_d"] * d if uneven else None,
        "flatten_lines": False,
        "smooth_sigma_um": r["smooth_per_d"] * d,
        "threshold_method": "noise",
        "threshold_scale": r["threshold_sds"],
        "log_transform": False,
        "fill_holes": True,
        "intensity_weight": r["clump_intensity_weight"],
        "clump_diameter_um": r["clump_per_d"] * d,
        "seed_sigma_um": r["seed_sigma_per_d"] * d,
        "seed_h_um": r["seed_h_per_d"] * d,
        "min_seed_distance_um": r["seed_distance_per_d"] * d,
        "seed_resolution_um": d / 12,
        "compactness": 0.0,
        "boundary_fraction": r["boundary_fraction"],
        "outline_sigma_um": None,
        "min_diameter_um": r["min_diameter_per_d"] * d,
        "min_diameter_border_um": r["min_diameter_border_per_d"] * d,
        "border_threshold_scale": None,
        "max_diameter_um": None,
        "min_contrast_snr": r["min_contrast_snr"],
        "exclude_border": False,
    }
    if estimate.anisotropy is not None:  # 3D: see STACK_CUT
        params.update(STACK_CUT, depth_attenuation_um=estimate.depth_attenuation)
    return params
