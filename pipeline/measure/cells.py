"""Per-object measurements: one row per labelled object per frame (the `cells.parquet` table).

Area, centroid, the second moments (eccentricity, major axis) and per-channel means come from
bincounts over the foreground pixels, vectorised over all objects (same values as scikit-image's
regionprops, which is ~5x slower for these); solidity from `skimage.measure.regionprops_table`.
Works on 2D (Y, X) and 3D (Z, Y, X) label images; in 3D the columns gain `z` and `volume_um3`,
and `eccentricity` (2D only in scikit-image) is NaN.

Background (`MeasureParams.background`, config `measure.background`: local, the default): uneven illumination and
out-of-focus light add a smooth, position-dependent offset to every pixel, so raw cell means of a
marker no cell expresses spread with the background alone and automatic thresholds split them.
Per channel and frame, the image is binned into small bins (the exclusion margin wide); bins
within one bin of any object pixel are dropped (so the remaining pixels lie at least the margin
away from every object and its blurred edge); the median of the remaining bin means in each block
(`background_block_um` wide) is the block's background; blocks with too few such bins take the
value of the nearest block that has enough; the surface is interpolated (and extrapolated)
linearly between block centres and read at each object's centroid. `mean_<channel>` is then the
mean inside the object minus that level, reported as `bg_<channel>`; a marker-negative object
therefore measures about 0 and may be slightly negative (noise). With `background: none`,
`mean_<channel>` is the raw mean and `bg_<channel>` is 0.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.interpolate import RegularGridInterpolator
from skimage.measure import regionprops_table
from tqdm.auto import tqdm

from marrowflow.contract import measure_columns
from marrowflow.errors import ConfigError, InputError
from marrowflow.io.checks import warn_if_no_cells
from marrowflow.io.sample_frames import SampleFrames
from marrowflow.parallel import map_frames
from marrowflow.schema import as_params, check_choice, config_section, schema_fields

__all__ = ["BackgroundParams", "MeasureParams", "measure_columns", "measure_frame", "measure_movie",
           "measure_sample"]

MIN_BACKGROUND_FRACTION = 0.05  # a block needs this share of its bins away from all objects


_schema = schema_fields("measure")


@dataclass(frozen=True)
class MeasureParams:
    """The config's `measure` section: background correction, sizes in µm with pixel fallbacks
    for movies without a pixel size (defaults from the schema, which documents each key)."""

    SECTION: ClassVar[str] = "measure"

    background: str = _schema("background")
    background_block_um: float = _schema("background_block_um")
    background_block_px: int = _schema("background_block_px")
    background_margin_um: float = _schema("background_margin_um")
    background_margin_px: int = _schema("background_margin_px")

    def __post_init__(self) -> None:
        check_choice(self.SECTION, "background", self.background)
        for key in ("background_block_um", "background_block_px", "background_margin_um", "background_margin_px"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
                raise ConfigError(f"measure.{key} is {v!r}; expected a number > 0")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> MeasureParams:
        """From the `measure` section; unknown keys raise ConfigError."""
        return config_section(cls, section)


@dataclass(frozen=True)
class BackgroundParams:
    """Local background estimation in pixels (see the module docstring).

    `bin_px` is the bin size (= the exclusion margin) and `block_bins` the block size in bins, per
    axis ([Z,] Y, X); `local` False means no correction.
    """

    local: bool
    bin_px: tuple[int, ...]
    block_bins: tuple[int, ...]

    @classmethod
    def from_config(cls, params: MeasureParams | Mapping[str, Any] | None, *, ndim: int = 2,
                    pixel_size_um: float | None = None, z_step_um: float | None = None) -> BackgroundParams:
        """Convert the `measure` parameters to pixels for a `ndim`-D label image.

        Sizes in µm (`background_block_um`, `background_margin_um`) are used when the pixel size is
        known (in Z: the z step), else the `_px` fallbacks.
        """
        p = as_params(MeasureParams, params)
        steps = ([z_step_um] if ndim == 3 else []) + [pixel_size_um] * 2
        sizes = {}
        for key in ("block", "margin"):
            um, px = getattr(p, f"background_{key}_um"), getattr(p, f"background_{key}_px")
            sizes[key] = [max(1, int(round(um / step))) if step else int(round(px)) for step in steps]
        bins = tuple(sizes["margin"])
        blocks = tuple(max(1, int(round(b / m))) for b, m in zip(sizes["block"], bins))
        return cls(local=p.background == "local", bin_px=bins, block_bins=blocks)


def _bin_reduce(image: np.ndarray, bin_px: Sequence[int], ufunc: np.ufunc, dtype: type) -> np.ndarray:
    """Reduce a (C, [Z,] Y, X) array over bins of `bin_px` pixels with `ufunc` (np.add: sums,
    np.logical_or: any) in `dtype`; the last bins of an axis may be partial. Strided slices, not a
    reshape-sum: several times faster on large frames."""
    out = image
    for ax, b in enumerate(bin_px, start=1):
        lead = (slice(None),) * ax
        acc = out[lead + (slice(0, None, b),)].astype(dtype)
        for i in range(1, min(b, out.shape[ax])):
            piece = out[lead + (slice(i, None, b),)]
            view = acc[lead + (slice(0, piece.shape[ax]),)]
            ufunc(view, piece, out=view)
        out = acc
    return out


def _bin_counts(shape: Sequence[int], bin_px: Sequence[int]) -> np.ndarray:
    """Number of image pixels in each bin (partial bins at the far edges have fewer)."""
    counts = np.ones((), np.float32)
    for n, b in zip(shape, bin_px):
        per_axis = np.full(-(-n // b), b, np.float32)
        per_axis[-1] = n - b * (per_axis.size - 1)
        counts = np.multiply.outer(counts, per_axis)
    return counts


def _block_medians(values: np.ndarray, keep: np.ndarray, block_bins: Sequence[int]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median of the kept bins per block. `values` is (C, *bins), `keep` (*bins). Returns the
    (C, *grid) medians, the (*grid) mask of blocks with enough kept bins and the (ndim, *grid) mean
    bin index of the kept bins (where the median was taken; NaN in blocks without any)."""
    pad = [(0, -n % k) for n, k in zip(keep.shape, block_bins)]
    keep = np.pad(keep, pad)
    values = np.pad(values, [(0, 0)] + pad)
    grid = [n // k for n, k in zip(keep.shape, block_bins)]
    split = [v for g, k in zip(grid, block_bins) for v in (g, k)]
    order = list(range(0, 2 * len(grid), 2)) + list(range(1, 2 * len(grid), 2))

    def by_block(a: np.ndarray) -> np.ndarray:  # (*bins) -> (blocks, bins per block)
        return a.reshape(split).transpose(order).reshape(int(np.prod(grid)), -1)

    keep_b = by_block(keep)
    n_kept = keep_b.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        where = np.stack([(by_block(i) * keep_b).sum(axis=1) / n_kept
                          for i in np.indices(keep.shape, dtype=np.float32)])
    vals_b = values.reshape([values.shape[0]] + split).transpose([0] + [o + 1 for o in order])
    vals_b = np.where(keep_b, vals_b.reshape(values.shape[0], *keep_b.shape), np.inf)
    vals_b.sort(axis=-1)
    lo, hi = np.maximum(n_kept - 1, 0) // 2, n_kept // 2
    rows = np.arange(n_kept.size)
    med = 0.5 * (vals_b[:, rows, lo] + vals_b[:, rows, hi])
    ok = n_kept >= max(3, MIN_BACKGROUND_FRACTION * keep_b.shape[1])
    return med.reshape([values.shape[0]] + grid), ok.reshape(grid), where.reshape([keep.ndim] + grid)


def _local_background(labels: np.ndarray, image: np.ndarray, points: np.ndarray,
                      p: BackgroundParams) -> np.ndarray:
    """Background level of every channel at each point ((n, ndim) pixel coordinates): (n, C)."""
    n_ch = image.shape[0]
    counts = _bin_counts(labels.shape, p.bin_px)
    means = _bin_reduce(image, p.bin_px, np.add, np.float32) / counts
    touched = _bin_reduce((labels > 0)[None], p.bin_px, np.logical_or, bool)[0]
    near = ndimage.maximum_filter(touched, size=3, mode="constant")
    med, ok, where = _block_medians(means, ~near, p.block_bins)
    if not ok.any():
        away = ~near
        if not away.any():
            warnings.warn("measure: no background pixels away from the objects in this frame; "
                          "means are not background-corrected.", RuntimeWarning, stacklevel=3)
            return np.zeros((len(points), n_ch))
        level = np.median(means[:, away], axis=1)  # whole frame: too little background per block
        return np.broadcast_to(level, (len(points), n_ch)).copy()
    if not ok.all():
        nearest = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
        med, where = med[(slice(None), *nearest)], where[(slice(None), *nearest)]
    # block centres in pixels (the last block of an axis may be cut by the image edge); a block's
    # median was taken where its kept bins lie, off centre next to objects: move it to the centre
    # along the local slope of the block grid (first order)
    axes, centres, shifts = [], [], []
    for ax, (n, b, k) in enumerate(zip(labels.shape, p.bin_px, p.block_bins)):
        start = np.arange(med.shape[ax + 1]) * b * k
        c = (start + np.minimum(start + b * k, n)) / 2.0 - 0.5
        if c.size > 1:
            taken_at = where[ax] * b + (b - 1) / 2.0
            offset = c.reshape([-1 if i == ax else 1 for i in range(labels.ndim)]) - taken_at
            shifts.append(np.gradient(med, c, axis=ax + 1) * offset)
            axes.append(ax)
            centres.append(c)
    if not axes:  # one block: a constant level
        return np.broadcast_to(med.reshape(n_ch), (len(points), n_ch)).copy()
    grid = (med + sum(shifts)).reshape([n_ch] + [len(c) for c in centres])
    interp = RegularGridInterpolator(centres, np.moveaxis(grid, 0, -1), bounds_error=False, fill_value=None)
    return interp(points[:, axes])


def _moments(labels: np.ndarray):
    """Foreground mask, per-object ids, pixel index into ids, area, centroid (n, d) and population
    covariance (n, d, d) of the pixel coordinates, from bincounts over the foreground."""
    fg = labels > 0
    ids, inverse = np.unique(labels[fg], return_inverse=True)
    n, d = ids.size, labels.ndim
    area = np.bincount(inverse, minlength=n).astype(np.int64)
    coords = [c.astype(np.float64) for c in np.nonzero(fg)]
    centroid = np.stack([np.bincount(inverse, c, n) / area for c in coords], axis=1)
    centred = [c - centroid[inverse, i] for i, c in enumerate(coords)]
    cov = np.empty((n, d, d))
    for i in range(d):
        for j in range(i, d):
            cov[:, i, j] = cov[:, j, i] = np.bincount(inverse, centred[i] * centred[j], n) / area
    return fg, ids, inverse, area, centroid, cov


def _solidity(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Area / convex-hull area per object (scikit-image's definition), in the order of `ids`
    (sorted, as regionprops returns them). Objects too small or too flat for a convex hull (a
    single pixel, a one-plane object in 3D) get 1.0."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        table = regionprops_table(labels, properties=["label", "solidity"])
    sol = np.asarray(table["solidity"], dtype=np.float64)
    return np.where(np.isfinite(sol), sol, 1.0)


def _check_inputs(labels: np.ndarray, image: np.ndarray, channel_names: Sequence[str]) -> None:
    if labels.ndim not in (2, 3):
        raise InputError(
            f"labels: expected a 2D (Y, X) or 3D (Z, Y, X) label image, found shape {labels.shape}; "
            "pass one frame at a time."
        )
    if image.ndim != labels.ndim + 1 or image.shape[1:] != labels.shape:
        raise InputError(
            f"image: expected shape (C, {', '.join(map(str, labels.shape))}) to match the labels, "
            f"found {image.shape}; check that labels and movie belong to the same sample and that "
            "the image has a channel axis first."
        )
    if image.shape[0] != len(channel_names):
        raise InputError(
            f"image: {image.shape[0]} channel(s) but {len(channel_names)} channel name(s) "
            f"{list(channel_names)}; give one channel name per channel of the movie (config key `channels`)."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels: expected an integer label image, found dtype {labels.dtype}.")


def measure_frame(
    labels: np.ndarray,
    image: np.ndarray,
    *,
    channel_names: Sequence[str],
    frame: int,
    time_h: float | None,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
    params: MeasureParams | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Measure every object of one frame.

    `labels` is (Y, X) or (Z, Y, X) with 0 = background; `image` is (C, Y, X) or (C, Z, Y, X).
    Returns one row per label sorted by label with the columns of `measure_columns`:
    `frame, time_h, label, [z], y, x, area_px, area_um2, [volume_um3], eccentricity, solidity,
    major_axis_px, mean_<channel>..., bg_<channel>...`. Coordinates are centroids in pixels;
    `area_um2` (2D: the object's area; 3D: its voxel count times the YX pixel area) and
    `volume_um3` are NaN when the pixel size (or, for volume, the z step) is unknown. `params`: the
    `measure` parameters (or the config section; None: the defaults, i.e. local background
    correction): `mean_<channel>` is the mean inside the object minus the local background
    `bg_<channel>` (see the module docstring). Inputs are not modified.
    """
    labels = np.asarray(labels)
    image = np.asarray(image)
    _check_inputs(labels, image, channel_names)
    bg_params = BackgroundParams.from_config(params, ndim=labels.ndim, pixel_size_um=pixel_size_um,
                                             z_step_um=z_step_um)
    columns = measure_columns(channel_names, labels.ndim)
    if not labels.any():
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})

    fg, ids, inverse, area_px, centroid, cov = _moments(labels)
    n = ids.size
    evals = np.linalg.eigvalsh(cov)[:, ::-1].clip(min=0)  # descending, per object
    px_area = np.nan if pixel_size_um is None else float(pixel_size_um) ** 2
    out: dict[str, np.ndarray] = {
        "frame": np.full(n, frame, dtype=np.int64),
        "time_h": np.full(n, np.nan if time_h is None else time_h, dtype=np.float64),
        "label": ids.astype(np.int64),
    }
    for i, axis in enumerate(["z", "y", "x"][3 - labels.ndim:]):
        out[axis] = centroid[:, i]
    out["area_px"] = area_px
    out["area_um2"] = area_px * px_area
    if labels.ndim == 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            ecc = np.sqrt(1.0 - evals[:, 1] / evals[:, 0])
        out["eccentricity"] = np.where(evals[:, 0] > 0, ecc, 0.0)
        out["major_axis_px"] = 4.0 * np.sqrt(evals[:, 0])
    else:
        voxel = np.nan if z_step_um is None else px_area * float(z_step_um)
        out["volume_um3"] = area_px * voxel
        out["eccentricity"] = np.full(n, np.nan)
        out["major_axis_px"] = np.sqrt(20.0 * evals[:, 0])
    out["solidity"] = _solidity(labels, ids)
    if bg_params.local:
        bg = _local_background(labels, image, centroid, bg_params)
    else:
        bg = np.zeros((n, len(channel_names)))
    for c, name in enumerate(channel_names):
        sums = np.bincount(inverse, weights=image[c][fg], minlength=n)
        out[f"mean_{name}"] = sums / area_px - bg[:, c]
    for c, name in enumerate(channel_names):
        out[f"bg_{name}"] = bg[:, c]
    df = pd.DataFrame(out)
    return df[list(columns)].astype(columns)


def _frame_settings(channel_names: Sequence[str], time_step_h: float | None, pixel_size_um: float | None,
                    z_step_um: float | None, params: MeasureParams | Mapping[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments every frame's `_measure_one` shares."""
    return {"channel_names": list(channel_names), "pixel_size_um": pixel_size_um, "z_step_um": z_step_um,
            "params": as_params(MeasureParams, params), "time_step_h": time_step_h}


def _measure_one(labels: np.ndarray, image: np.ndarray, frame: int, common: Mapping[str, Any]) -> pd.DataFrame:
    """`measure_frame` of one frame (module level: worker processes run it)."""
    kwargs = dict(common)
    step = kwargs.pop("time_step_h")
    return measure_frame(labels, image, frame=frame, time_h=None if step is None else frame * float(step), **kwargs)


def measure_movie(
    movie_frames: Iterable[np.ndarray],
    label_frames: Iterable[np.ndarray],
    *,
    channel_names: Sequence[str],
    time_step_h: float | None,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
    n_frames: int | None = None,
    params: MeasureParams | Mapping[str, Any] | None = None,
    threads: int = 1,
    source: str = "measure",
) -> pd.DataFrame:
    """Measure a movie frame by frame (streaming: one frame, or with `threads` > 1 a few, in memory).

    `movie_frames` yields (C, [Z], Y, X) arrays and `label_frames` the matching ([Z], Y, X) label
    images, in frame order starting at frame 0 (e.g. a `marrowflow.io.Movie` and a `LabelStack`).
    `n_frames` only sizes the progress bar (shown on a terminal only); `params`: the `measure`
    parameters (see `measure_frame`). Returns the
    concatenated table sorted by frame, label; `time_h` = frame * time_step_h (NaN if unknown).
    `threads`: frames measured at a time (worker processes: solidity and the background hold the
    GIL; the same table as 1); `source` names the
    sample in errors. Raises InputError when the two iterables have different lengths.
    """
    common = _frame_settings(channel_names, time_step_h, pixel_size_um, z_step_um, params)
    tables = []
    ndim = [2]

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        movie_it, label_it = iter(movie_frames), iter(label_frames)
        for frame in itertools.count():
            image = next(movie_it, None)
            labels = next(label_it, None)
            if image is None and labels is None:
                return
            if image is None or labels is None:
                longer = "labels" if image is None else "movie"
                raise InputError(
                    f"{source}: the {longer} has more frames than the other (mismatch at frame "
                    f"{frame}); segment the whole movie again so labels and movie match."
                )
            ndim[0] = np.ndim(labels)
            yield labels, image, frame

    items = ((labels, image, frame, common) for labels, image, frame in pairs())
    with tqdm(total=n_frames, desc="measure", unit="frame", disable=None) as bar:
        for df in map_frames(_measure_one, items, threads=threads, source=source, processes=threads > 1):
            tables.append(df)
            bar.update(1)
    return _gathered(tables, channel_names, ndim[0])


_FRAMES: list[SampleFrames] = []  # the frames a worker process reads (set by `_read_from`)


def _read_from(frames: SampleFrames) -> None:
    _FRAMES[:] = [frames]


def _measure_at(t: int, common: Mapping[str, Any]) -> pd.DataFrame:
    """`measure_frame` of frame `t`, read by this process (module level: worker processes run it)."""
    image, labels = _FRAMES[0].read(t)
    return _measure_one(labels, image, t, common)


def measure_sample(
    frames: SampleFrames,
    *,
    channel_names: Sequence[str],
    time_step_h: float | None,
    pixel_size_um: float | None = None,
    z_step_um: float | None = None,
    params: MeasureParams | Mapping[str, Any] | None = None,
    threads: int = 1,
    source: str = "measure",
) -> pd.DataFrame:
    """`measure_movie` of a sample's files: each worker (of `threads`) reads its own frames from
    `frames` (`marrowflow.io.SampleFrames`: movie, label stack, reviewed frames), so nothing but
    the tables passes between processes. The same table as `measure_movie` of the same frames."""
    common = _frame_settings(channel_names, time_step_h, pixel_size_um, z_step_um, params)
    tables = []
    try:
        with frames, tqdm(total=frames.n_frames, desc="measure", unit="frame", disable=None) as bar:
            for df in map_frames(_measure_at, ((t, common) for t in range(frames.n_frames)), threads=threads,
                                 source=source, processes=threads > 1, initializer=_read_from, initargs=(frames,)):
                tables.append(df)
                bar.update(1)
    finally:
        _FRAMES.clear()
    return _gathered(tables, channel_names, len(frames.meta.shape_zyx))


def _gathered(tables: list[pd.DataFrame], channel_names: Sequence[str], ndim: int) -> pd.DataFrame:
    """The frames' tables as one, sorted by frame and label (an empty table with every column
    when there is no frame)."""
    if not tables:
        columns = measure_columns(channel_names, ndim)
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    nonempty = [t for t in tables if len(t)] or tables[:1]
    warn_if_no_cells(sum(map(len, nonempty)), "measure", f"the cells table of the {len(tables)} frame(s) is empty")
    out = pd.concat(nonempty, ignore_index=True)
    return out.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
