"""Classic (scikit-image) instance segmentation of fluorescent nuclei or whole cells, 2D or 3D.

Steps, each driven by one parameter (sizes in µm, converted with the pixel size; see `units`):

0. polarity: `bright` objects (fluorescence) are used as they are; `dark` objects on a bright
   background (absorbing bright-field) are inverted; `phase` contrast (a dark body in a bright
   halo) is turned into its local contrast (the SD in a Gaussian window of `smooth_sigma_um`,
   at least one pixel), bright where there is an object and flat elsewhere; after the watershed
   each object keeps its body, the pixels darker than the frame's median;
   in 3D (`depth_attenuation_um`: the signal falls by 1/e every that many µm of depth from the
   first plane; negative: from the last) each plane's contrast over its own background is
   multiplied back by the fall, at most so far that the plane's noise stays under a fifth of the
   brightest plane's objects' level (planes below the last object are not blown up);
1. background correction (optional): subtract a grey opening of radius `background_radius_um`
   (computed on a downsampled copy, so it stays fast for large radii);
   and (`flatten_lines`) of each row's and column's median (stripes, bright frame edges);
2. smoothing: Gaussian of `smooth_sigma_um`;
3. foreground: a global threshold (`threshold_method`: otsu, li, triangle, mean, yen, or noise)
   on the smoothed image or on its log (`log_transform`, for objects whose brightness varies by
   orders of magnitude); `threshold_scale` scales its height above the background level (the
   median of the pixels below it). `noise` is the image median plus one noise SD (robust, from
   the pixels below the median; for sparse objects), so `threshold_scale` counts noise SDs;
   holes filled; (`border_threshold_scale`) pieces on the frame edge above that lower threshold
   and mostly outside the foreground are added (cells mostly out of view show only their dim rim);
4. seeds: maxima of the distance transform, optionally mixed with the
   smoothed intensity (`intensity_weight` in 0..1; with `clump_diameter_um`, only in the
   foreground pieces wider than that: clumps of packed objects, which have intensity dips
   between them but no necks), taken as h-maxima of height `seed_h_um`
   (a split needs a neck at least that much narrower than the two halves), at least
   `min_seed_distance_um` apart, found on a grid of `seed_resolution_um` (fast);
5. seeded watershed inside the foreground (splits touching objects along their necks);
   optionally (`boundary_fraction`) each object's outline is then moved to where the intensity
   drops to that fraction of the object's own contrast over background, so that dim and bright
   objects get equally tight outlines (`threshold_scale` < 1 then gives each object room);
   `outline_sigma_um` smooths the outlines (a Gaussian of the mask cut at one half);
6. size filter on the equivalent diameter (`min_diameter_um`, `max_diameter_um`); objects touching
   the image border are only partly in view and may get a smaller minimum
   (`min_diameter_border_um`); optional removal of objects touching the border (`exclude_border`);
7. contrast filter (`min_contrast_snr`): objects whose mean smoothed intensity lies fewer than
   that many noise SDs (see `noise`) above the background level are dropped (noise blobs that
   a low threshold lets through).

`preset: auto` leaves the parameters to be estimated from the movie (`marrowflow.segment.auto`):
`ClassicParams.auto_keep` then names the keys the config set explicitly, which the estimates do
not replace; `resolve_auto` applies the estimates, and `segment_classic` given unresolved
parameters estimates them from the frame itself.

`units`: `um` needs the pixel size; `px` reads every size as pixels; `auto` (default) uses µm
when the pixel size is known and pixels otherwise (logged). The pixel size may be one number
(YX) or one number per axis ((Z, Y, X) for anisotropic stacks).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, morphology, segmentation

from marrowflow.errors import ConfigError
from marrowflow.schema import check_choice, check_keys
from marrowflow.segment.auto import (
    PLANE_SNR,
    ImageEstimate,
    NoObjectsError,
    auto_params,
    background_opening,
    estimate_image,
    plane_levels,
)
from marrowflow.segment.presets import classic_params

log = logging.getLogger(__name__)

__all__ = ["ClassicParams", "depth_corrected", "given_diameter", "resolve_auto", "segment_classic", "spacing_for"]


@dataclass(frozen=True)
class ClassicParams:
    """Every parameter of `segment_classic` (the config's `segmentation.classic` section, see the
    module docstring), with its built-in value: the schema gives these keys no default, a preset
    overrides them and the section's own keys override the preset."""

    SECTION: ClassVar[str] = "segmentation.classic"
    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ("preset",)  # expanded into the fields by `from_config`
    INTERNAL: ClassVar[tuple[str, ...]] = ("auto_keep",)  # fields that are not config keys

    units: str = "auto"
    polarity: str = "bright"
    background_radius_um: float | None = None
    flatten_lines: bool = False
    smooth_sigma_um: float = 0.5
    threshold_method: str = "otsu"
    threshold_scale: float = 1.0
    log_transform: bool = False
    fill_holes: bool = True
    depth_attenuation_um: float | None = None  # 3D: the signal's 1/e fall with depth (None: no correction)
    intensity_weight: float = 0.0
    clump_diameter_um: float | None = None  # intensity_weight only in foreground pieces wider than this
    seed_sigma_um: float = 0.5
    seed_h_um: float = 0.5
    min_seed_distance_um: float = 2.0
    seed_resolution_um: float = 0.5
    compactness: float = 0.0
    boundary_fraction: float | None = None
    outline_sigma_um: float | None = None
    min_diameter_um: float | None = 2.0
    min_diameter_border_um: float | None = None
    border_threshold_scale: float | None = None
    max_diameter_um: float | None = None
    min_contrast_snr: float | None = None
    exclude_border: bool = False
    # `preset: auto` only: the objects' typical diameter, given instead of measured (packed colonies,
    # whose touching cells the estimate reads as one object); the other values are derived from it
    diameter_um: float | None = None
    # `preset: auto`: the keys set explicitly (kept); the others are estimated from the movie.
    # None: every value is final.
    auto_keep: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_choice(self.SECTION, "units", self.units)
        check_choice(self.SECTION, "polarity", self.polarity)
        check_choice(self.SECTION, "threshold_method", self.threshold_method)
        if self.auto_keep is not None:  # a list after a JSON round trip; a tuple keeps it hashable
            object.__setattr__(self, "auto_keep", tuple(sorted(self.auto_keep)))
        elif self.diameter_um is not None:
            raise ConfigError(f"{self.SECTION}.diameter_um is read by preset: auto only (which derives the other "
                              "values from it); with a named preset or null set the size keys themselves "
                              "(seed_h_um, min_seed_distance_um, min_diameter_um, ...), or set preset: auto")

    @property
    def is_auto(self) -> bool:
        """True while the parameters wait to be estimated from the movie (`preset: auto`)."""
        return self.auto_keep is not None

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ClassicParams:
        """The `segmentation.classic` section: its preset's values (`preset` left out: the schema's
        default preset; null: none) overridden by its other keys, the rest built-in."""
        return cls().replace(**classic_params(section))

    def replace(self, **changes: Any) -> ClassicParams:
        """A copy with some parameters changed; an unknown name raises ConfigError."""
        check_keys(changes, [f.name for f in dataclasses.fields(self)], self.SECTION)
        return dataclasses.replace(self, **changes)


def given_diameter(params: ClassicParams, estimate: ImageEstimate) -> ImageEstimate:
    """`estimate` with the diameter the config gives (`diameter_um`, in the parameters' units)
    in place of the measured one; unchanged when none is given."""
    if params.diameter_um is None:
        return estimate
    return dataclasses.replace(estimate, diameter=float(params.diameter_um), diameter_source="config")


def resolve_auto(params: ClassicParams, estimate: ImageEstimate) -> ClassicParams:
    """`params` with the values `auto_params` derives from `estimate` (its diameter replaced by
    `diameter_um` where given) for every key the config did not set (`auto_keep`); unchanged
    when the parameters are not `auto`."""
    if not params.is_auto:
        return params
    derived = auto_params(given_diameter(params, estimate))
    estimated = {k: v for k, v in derived.items() if k not in params.auto_keep}
    return params.replace(**estimated, diameter_um=None, auto_keep=None)


def _noise_level(work: np.ndarray) -> tuple[float, float]:
    """Background level (median) and noise SD (MAD of the pixels below the median)."""
    sample = work.ravel()[:: max(work.size // 1_000_000, 1)]
    level = float(np.median(sample))
    below = sample[sample <= level]
    sd = 1.4826 * float(np.median(level - below))
    return level, max(sd, 1e-6 * max(abs(level), 1.0))


_THRESHOLDS = {
    "otsu": filters.threshold_otsu,
    "li": filters.threshold_li,
    "triangle": filters.threshold_triangle,
    "mean": filters.threshold_mean,
    "yen": filters.threshold_yen,
}


def spacing_for(ndim: int, pixel_size_um: float | Sequence[float] | None, units: str) -> np.ndarray:
    """Per-axis pixel size in µm used to convert µm parameters (ones when sizes are read as pixels)."""
    if units not in ("auto", "um", "px"):
        raise ConfigError(f"segmentation.classic.units is {units!r}; allowed: 'auto', 'um', 'px'")
    if units == "px" or (units == "auto" and pixel_size_um is None):
        if units == "auto":
            log.warning("pixel size unknown: classic segmentation sizes are read as pixels "
                        "(give the pixel size, config key image.pixel_size_um, to use µm)")
        return np.ones(ndim)
    if pixel_size_um is None:
        raise ConfigError("segmentation.classic.units is 'um' but the movie has no pixel size; "
                          "give the pixel size (config key image.pixel_size_um) or set units: px")
    size = np.atleast_1d(np.asarray(pixel_size_um, dtype=float))
    if size.size == 1:
        size = np.repeat(size, ndim)
    if size.size != ndim or np.any(size <= 0):
        raise ConfigError(f"pixel size {pixel_size_um!r} does not fit a {ndim}-D frame; "
                          f"give one positive number or one per axis")
    return size


def _equivalent_diameter(volume_px: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Diameter (in spacing units) of the disk/ball with the given pixel count."""
    size = volume_px * float(np.prod(spacing))
    if len(spacing) == 2:
        return 2.0 * np.sqrt(size / np.pi)
    return (6.0 * size / np.pi) ** (1.0 / 3.0)


def segment_classic(image: np.ndarray, params: ClassicParams | None = None, *,
                    pixel_size_um: float | Sequence[float] | None = None, **changes: Any) -> np.ndarray:
    """Label the objects of one frame (Y, X) or (Z, Y, X); returns uint32 labels 1..N.

    `params` (default: the built-in values) with the keyword `changes` applied (names of
    `ClassicParams` fields; an unknown one raises ConfigError).
    """
    p = (params or ClassicParams()).replace(**changes)
    if image.ndim not in (2, 3):
        raise ValueError(f"segment_classic takes a 2D or 3D frame, got shape {image.shape}")
    if p.is_auto:  # one frame on its own: estimate from it (a movie is estimated once, segment_movie)
        try:
            p = resolve_auto(p, estimate_image([image], pixel_size_um=pixel_size_um))
        except NoObjectsError:  # nothing stands out of the noise: nothing to segment
            return np.zeros(image.shape, np.uint32)
    spacing = spacing_for(image.ndim, pixel_size_um, p.units)

    img = _by_polarity(np.asarray(image, dtype=np.float32), p.polarity, p.smooth_sigma_um / spacing)
    if p.depth_attenuation_um and img.ndim == 3:
        img = depth_corrected(img, float(spacing[0]), p.depth_attenuation_um)
    if p.background_radius_um:
        img = img - background_opening(img, p.background_radius_um / spacing)
    if p.flatten_lines:  # camera stripes and edge gradients: remove each row's / column's median
        img = img - np.median(img, axis=-1, keepdims=True)
        img = img - np.median(img, axis=-2, keepdims=True)
    smooth = ndi.gaussian_filter(img, p.smooth_sigma_um / spacing) if p.smooth_sigma_um else img.copy()
    work = np.log1p(np.maximum(smooth - smooth.min(), 0)) if p.log_transform else smooth
    if float(work.max()) == float(work.min()):
        return np.zeros(image.shape, np.uint32)
    if p.threshold_method == "noise":
        level, sd = _noise_level(work)
        thr = level + sd
    else:
        thr = _THRESHOLDS[p.threshold_method](work)
        level = float(np.median(work[work <= thr]))
    # scale the threshold's height above the background level
    mask = work > level + p.threshold_scale * (thr - level)
    if p.border_threshold_scale is not None:
        mask |= _edge_slivers(work > level + p.border_threshold_scale * (thr - level), mask)
    if p.log_transform:  # boundary refinement works on intensities
        thr, level = float(np.expm1(thr) + smooth.min()), float(np.expm1(level) + smooth.min())
    if p.fill_holes:
        mask = ndi.binary_fill_holes(mask)
    if not mask.any():
        return np.zeros(image.shape, np.uint32)

    # seed landscape: distance to background (µm), optionally mixed with normalised intensity
    dist = ndi.distance_transform_edt(mask, sampling=spacing).astype(np.float32)
    if p.seed_sigma_um:
        dist = ndi.gaussian_filter(dist, p.seed_sigma_um / spacing)
    comps, n_comps = ndi.label(mask)
    land = dist
    if p.intensity_weight:
        lo, hi = np.percentile(smooth[mask], [1, 99])
        inten = np.clip((smooth - lo) / max(hi - lo, 1e-6), 0, 1)
        weight = _intensity_weights(comps, n_comps, spacing, p.intensity_weight, p.clump_diameter_um)
        land = (1 - weight) * dist + weight * inten * float(dist.max())
    land = np.where(mask, land, 0).astype(np.float32)
    step = np.maximum(np.floor(p.seed_resolution_um / spacing), 1).astype(int)
    seeds = _seeds(land, mask, p.seed_h_um, p.min_seed_distance_um / spacing, step)
    # a foreground component without a seed (thinner than seed_h) becomes one object
    seeded = np.zeros(n_comps + 1, bool)
    seeded[comps[seeds > 0]] = True
    lone = ~seeded[comps] & (comps > 0)
    if lone.any():
        extra, _ = ndi.label(lone)
        seeds = np.where(lone, extra + int(seeds.max()), seeds)
    labels = segmentation.watershed(-land, seeds, mask=mask, compactness=p.compactness)
    if p.boundary_fraction is not None:
        labels = _refine_boundaries(labels, smooth, level, thr, p.boundary_fraction)

    if p.polarity == "phase":  # the local contrast holds body and halo: the cell is the darker body
        labels = _phase_dark_body(labels, np.asarray(image, np.float32), p.smooth_sigma_um / spacing)
    if p.outline_sigma_um:
        labels = _smooth_outlines(labels, p.outline_sigma_um / spacing)
    labels = _size_filter(labels, spacing, p.min_diameter_um, p.max_diameter_um, p.min_diameter_border_um)
    if p.min_contrast_snr is not None:
        labels = _contrast_filter(labels, smooth, p.min_contrast_snr)
    if p.exclude_border:
        labels = segmentation.clear_border(labels)
    relabelled, _, _ = segmentation.relabel_sequential(labels)
    return relabelled.astype(np.uint32)


def depth_corrected(stack: np.ndarray, z_step: float, attenuation: float) -> np.ndarray:
    """(Z, Y, X) `stack` (objects bright) with each plane's contrast over its background multiplied
    by the signal's fall with depth (`attenuation`: 1/e length in z_step's units, from the first
    plane; negative: from the last), the backgrounds levelled to their mean; the gain of a plane is
    at most the brightest plane's object level over PLANE_SNR times the plane's noise SD."""
    background, level, noise = plane_levels(stack)
    log_gain = np.arange(len(stack)) * z_step / attenuation
    cap = float(level.max()) / (PLANE_SNR * np.maximum(noise, 1e-6))
    # in logs: a short length over a deep stack would overflow exp
    gain = np.exp(np.minimum(log_gain - log_gain.min(), np.log(np.maximum(cap, 1.0)))).astype(np.float32)
    out = (stack - background[:, None, None]) * gain[:, None, None] + float(background.mean())
    return out.astype(np.float32)


def _intensity_weights(comps: np.ndarray, n_comps: int, spacing: np.ndarray, weight: float,
                       clump_diameter_um: float | None) -> np.ndarray | float:
    """The intensity's weight in the seed landscape, per pixel: `weight` everywhere, or (with
    `clump_diameter_um`) only in the foreground pieces whose equivalent diameter exceeds it."""
    if clump_diameter_um is None:
        return weight
    diameter = _equivalent_diameter(np.bincount(comps.ravel(), minlength=n_comps + 1), spacing)
    per_piece = np.where(diameter > clump_diameter_um, weight, 0.0).astype(np.float32)
    per_piece[0] = 0.0
    return per_piece[comps]


def _by_polarity(img: np.ndarray, polarity: str, sigma_px: np.ndarray) -> np.ndarray:
    """Bright objects on a dark background: `dark` inverted, `phase` as its local contrast."""
    if polarity == "dark":
        return float(img.max()) - img
    if polarity == "phase":
        sigma = np.maximum(sigma_px, 1.0)
        mean = ndi.gaussian_filter(img, sigma)
        return np.sqrt(np.maximum(ndi.gaussian_filter(img * img, sigma) - mean * mean, 0.0))
    return img


def _phase_dark_body(labels: np.ndarray, image: np.ndarray, sigma_px: np.ndarray) -> np.ndarray:
    """Keep each object's pixels darker than the background (the median of the frame): a phase
    contrast cell is a dark body inside a bright halo; holes filled back with the object's label."""
    smooth = ndi.gaussian_filter(image, np.maximum(sigma_px, 1.0))
    keep = (smooth < float(np.median(image))) & (labels > 0)
    keep = ndi.binary_fill_holes(keep) & (labels > 0)
    return np.where(keep, labels, 0)


def _seeds(land: np.ndarray, mask: np.ndarray, h: float, min_distance_px: np.ndarray,
           step: np.ndarray) -> np.ndarray:
    """Labelled seeds: h-maxima of `land` that are also maxima within `min_distance_px`.

    Computed on every `step`-th pixel (the landscape is smooth), then painted back at full
    resolution inside the mask.
    """
    if np.any(step > 1):
        sub = tuple(slice(None, None, int(k)) for k in step)
        small = _seeds(land[sub], mask[sub], h, min_distance_px / step, np.ones_like(step))
        big = small
        for axis, k in enumerate(step):
            big = np.repeat(big, int(k), axis=axis)
        big = big[tuple(slice(0, n) for n in land.shape)]
        return np.where(mask, big, 0)
    if h > 0:
        hmax = morphology.reconstruction(land - h, land, method="dilation")
        regional = (land - hmax) >= h - 1e-6 * max(h, 1.0)
        # plateaus of the h-dome transform above h: one component per surviving maximum
        peaks = regional & mask
    else:
        peaks = mask & (land == ndi.maximum_filter(land, size=3))
    size = np.maximum(2 * np.round(min_distance_px).astype(int) + 1, 3)
    local_max = land >= ndi.maximum_filter(land, size=tuple(size)) - 1e-6
    cand, n = ndi.label(peaks & mask)
    if n == 0:
        return ndi.label(mask)[0]
    # keep a component when it holds a local maximum in the min-distance window; components
    # without one are shoulders of a nearby bigger peak
    keep = np.zeros(n + 1, bool)
    keep[np.unique(cand[local_max & (cand > 0)])] = True
    keep[0] = False
    seeds, _ = ndi.label(keep[cand])
    return seeds


def _refine_boundaries(labels: np.ndarray, smooth: np.ndarray, level: float, thr: float,
                       fraction: float) -> np.ndarray:
    """Keep, per object, the pixels brighter than `fraction` of its own contrast over background.

    The object's interior level is the mean smoothed intensity of its pixels above the global
    threshold `thr`; holes are filled back with the object's label.
    """
    n = int(labels.max())
    flat = labels.ravel()
    bright = (smooth.ravel() > thr) & (flat > 0)
    sums = np.bincount(flat[bright], weights=smooth.ravel()[bright], minlength=n + 1)
    counts = np.bincount(flat[bright], minlength=n + 1)
    interior = np.where(counts > 0, sums / np.maximum(counts, 1), thr)
    cut = (level + fraction * (interior - level)).astype(np.float32)
    cut[0] = np.inf
    keep = smooth > cut[labels]
    keep = ndi.binary_fill_holes(keep) & (labels > 0)
    return np.where(keep, labels, 0)


def _smooth_outlines(labels: np.ndarray, sigma_px: np.ndarray) -> np.ndarray:
    """Smooth the foreground outline (Gaussian of the mask, cut at 0.5); labels follow it."""
    # "nearest": an object cut by the frame edge continues beyond it, so slivers on the edge survive
    smooth = ndi.gaussian_filter((labels > 0).astype(np.float32), sigma_px, mode="nearest") > 0.5
    size = 2 * np.ceil(2 * np.asarray(sigma_px)).astype(int) + 1
    grown = np.where(labels > 0, labels, ndi.maximum_filter(labels, size=tuple(size)))
    return np.where(smooth, grown, 0)


def _size_filter(labels: np.ndarray, spacing: np.ndarray, dmin: float | None, dmax: float | None,
                 dmin_border: float | None = None) -> np.ndarray:
    counts = np.bincount(labels.ravel())
    diam = _equivalent_diameter(counts.astype(float), spacing)
    bad = np.zeros(counts.size, bool)
    if dmin:
        small = diam < dmin
        if dmin_border is not None:
            on_border = np.zeros(counts.size, bool)
            on_border[np.unique(_border_pixels(labels))] = True
            small &= ~on_border | (diam < dmin_border)
        bad |= small
    if dmax:
        bad |= diam > dmax
    bad[0] = False
    return _drop(labels, bad)


def _edge_slivers(low: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Components of `low` that touch the frame edge and lie mostly outside `mask`: objects
    cut by the edge whose bright part is out of view."""
    comps, n = ndi.label(low)
    on_edge = np.zeros(n + 1, bool)
    on_edge[np.unique(_border_pixels(comps))] = True
    inside = np.bincount(comps[mask], minlength=n + 1)
    size = np.bincount(comps.ravel(), minlength=n + 1)
    keep = on_edge & (inside < 0.5 * size)
    keep[0] = False
    return keep[comps]


def _border_pixels(labels: np.ndarray) -> np.ndarray:
    """Label values on the outer faces of the frame."""
    faces = [np.take(labels, idx, axis=axis).ravel() for axis in range(labels.ndim) for idx in (0, -1)]
    return np.concatenate(faces)


def _contrast_filter(labels: np.ndarray, smooth: np.ndarray, min_snr: float) -> np.ndarray:
    """Drop objects whose mean intensity is under `min_snr` noise SDs above the background level."""
    level, sd = _noise_level(smooth)
    n = int(labels.max())
    sums = np.bincount(labels.ravel(), weights=smooth.ravel(), minlength=n + 1)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    snr = (sums / np.maximum(counts, 1) - level) / sd
    bad = snr < min_snr
    bad[0] = False
    return _drop(labels, bad)


def _drop(labels: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Set the objects flagged in `bad` (indexed by label) to background."""
    if not bad.any():
        return labels
    out = labels.copy()
    out[bad[labels]] = 0
    return out
