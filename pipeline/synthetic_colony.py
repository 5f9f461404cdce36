"""Synthetic dense, fast-dividing colonies with Cell Tracking Challenge truth (tests, benchmarks).

The organoid generator (`marrowflow.synthetic`) keeps nuclei apart so that a threshold separates
them; a blood-forming colony is the opposite case: cells touch, divide every few frames and push
each other outwards as they grow. This module simulates such a colony as an agent model:

- Cells are round (discs) or rods (ellipses, aspect `rod_aspect` just before division). A round
  cell's area grows linearly from half to full over its cycle; a rod grows in length only.
- At division the mother (last frame t) is replaced at t + 1 by two daughters of half its area
  each, side by side along a random axis (round) or its long axis (rods), so the pair covers the
  mother's footprint: daughters' areas add up to about the mother's (area conservation).
- Mechanics: neighbours whose centres are closer than `spacing` times the sum of their radii
  (along the line joining them, so rods pack side by side) are pushed apart; `expansion` is the
  share of that overlap resolved per iteration, so growth pushes the colony outwards.
  `spacing` < 1 lets the discs overlap: the masks then touch (dense packing).
- Masks: a pixel covered by several cells goes to the one it is relatively closest to (the
  normalised elliptic distance, as in the organoid generator), then each cell keeps only the
  4-connected piece holding its centre, so every mask is non-empty and connected in every frame.
- Stage drift moves the whole field of view: a constant `(dy, dx)` per frame, or a random walk
  with the given step SD per axis (its own random stream: the same seed gives the same colony,
  only shifted). A cell whose centre leaves the field ends its track there.
- The image (nuclear channel): per-cell brightness falling off towards the mask edge (so touching
  nuclei show a dimmer seam), Gaussian PSF, background, Poisson shot noise and Gaussian read
  noise, as uint16.

Hand-written because no installed package simulates dividing, touching cells with CTC truth.
Everything is drawn from `np.random.default_rng(seed)`: the same parameters give identical arrays.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
from scipy import ndimage
from scipy.spatial import cKDTree

from marrowflow.errors import ConfigError
from marrowflow.io import atomic_write
from marrowflow.track.ctc import check_ctc

__all__ = ["PRESETS", "Colony", "ColonyParams", "colony_preset", "make_colony", "params_dict",
           "write_colony_ctc"]

_SHAPES = ("round", "rod")


@dataclass(frozen=True)
class ColonyParams:
    """Parameters of one synthetic colony movie (sizes in pixels, times in frames).

    n_frames: frames of the movie.
    size: (height, width) of the field of view.
    n_founders: cells at frame 0, placed in a disc of radius `founder_spread * min(size) / 2`
        around the field's centre (then pushed apart).
    founder_spread: see n_founders; small values start one tight colony, large ones scattered
        micro-colonies.
    cycle_time_frames: mean cell-cycle length (frames between births and divisions).
    cycle_time_cv: coefficient of variation of each cell's cycle length (desynchronises divisions).
    cell_radius_px: radius of a round cell just before division (a rod has the same area).
    shape: "round" (discs) or "rod" (ellipses growing in length).
    rod_aspect: length / width of a rod just before division (newborn rods have half of it).
    spacing: neighbours' centres are kept at least `spacing` times the sum of their radii apart;
        below 1 cells overlap and the masks touch (dense), above 1 gaps stay between cells.
    expansion: in (0, 1], how strongly growth pushes cells out: the share of the overlap resolved
        per relaxation iteration (1: the colony expands as fast as it grows; small values leave
        cells compressed).
    motility_px: random-walk step SD per axis per frame of each cell.
    drift_px_per_frame: stage drift; a number is the step SD per axis of a random walk, a pair
        (dy, dx) a constant drift per frame; 0 for none.
    brightness: mean nuclear signal above background (counts); each cell varies by ~20 %.
    background: background level (counts).
    psf_sigma_px: Gaussian PSF SD.
    noise: read-noise SD (counts), on top of Poisson shot noise.
    seed: seed of the random generator.
    """

    n_frames: int = 50
    size: tuple[int, int] = (256, 256)
    n_founders: int = 8
    founder_spread: float = 0.25
    cycle_time_frames: float = 10.0
    cycle_time_cv: float = 0.15
    cell_radius_px: float = 6.0
    shape: str = "round"
    rod_aspect: float = 3.0
    spacing: float = 0.85
    expansion: float = 0.5
    motility_px: float = 0.4
    drift_px_per_frame: float | tuple[float, float] = 0.0
    brightness: float = 800.0
    background: float = 100.0
    psf_sigma_px: float = 1.0
    noise: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", tuple(int(v) for v in np.broadcast_to(self.size, 2)))
        drift = self.drift_px_per_frame
        if not np.isscalar(drift):
            object.__setattr__(self, "drift_px_per_frame", tuple(float(v) for v in drift))
        _validate(self)


def _validate(p: ColonyParams) -> None:
    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise ConfigError(f"ColonyParams: `{key}` must be {expected}, found {getattr(p, key)!r}.")

    need(p.n_frames >= 1, "n_frames", "an integer >= 1")
    need(min(p.size) >= 8 * p.cell_radius_px, "size", "at least 8 * cell_radius_px in each axis")
    need(p.n_founders >= 1, "n_founders", ">= 1")
    need(0 <= p.founder_spread <= 1, "founder_spread", "in [0, 1]")
    need(p.cycle_time_frames >= 1, "cycle_time_frames", ">= 1")
    need(p.cell_radius_px >= 2, "cell_radius_px", ">= 2")
    need(p.shape in _SHAPES, "shape", f"one of {list(_SHAPES)}")
    need(p.rod_aspect >= 1, "rod_aspect", ">= 1")
    need(0.5 <= p.spacing <= 2, "spacing", "in [0.5, 2]")
    need(0 < p.expansion <= 1, "expansion", "in (0, 1]")
    need(np.isscalar(p.drift_px_per_frame) or len(p.drift_px_per_frame) == 2,
         "drift_px_per_frame", "a number (random-walk SD) or a pair (dy, dx)")
    for key in ("cycle_time_cv", "motility_px", "brightness", "background", "psf_sigma_px", "noise"):
        need(getattr(p, key) >= 0, key, ">= 0")


# Named densities for tests and benchmarks; each is ~50 frames. `dense` has ~350 divisions
# (the colony), `medium` ~210, `sparse` ~85 with gaps between cells (seed 0).
PRESETS: dict[str, dict[str, Any]] = {
    "sparse": {"n_founders": 6, "founder_spread": 0.7, "cycle_time_frames": 12.0, "spacing": 1.15,
               "motility_px": 0.8},
    "medium": {"n_founders": 8, "founder_spread": 0.4, "spacing": 0.95},
    "dense": {"n_founders": 13, "founder_spread": 0.25, "spacing": 0.85, "cell_radius_px": 5.5},
}


def colony_preset(name: str, **overrides: Any) -> ColonyParams:
    """The `PRESETS[name]` parameters, with `overrides` (e.g. shape="rod", seed=3) on top."""
    if name not in PRESETS:
        raise ConfigError(f"unknown colony preset {name!r}; choose one of {sorted(PRESETS)}")
    return ColonyParams(**{**PRESETS[name], **overrides})


@dataclass
class Colony:
    """A simulated colony with its truth.

    `images` (T, Y, X) uint16 nuclear channel; `labels` (T, Y, X) uint32, label = CTC track id;
    `tracks` `label, begin, end, parent` exactly as man_track.txt; `drift` (T, 2) the stage
    offset (dy, dx) in pixels added to every cell's position at each frame (0 at frame 0).
    """

    images: np.ndarray
    labels: np.ndarray
    tracks: pd.DataFrame
    drift: np.ndarray
    params: ColonyParams


class _Cells:
    """Structure of arrays of the living cells."""

    def __init__(self, n: int = 0):
        self.label = np.zeros(n, np.int64)
        self.pos = np.zeros((n, 2))
        self.age = np.zeros(n)
        self.cycle = np.ones(n)
        self.size = np.ones(n)  # per-cell size factor
        self.angle = np.zeros(n)
        self.bright = np.ones(n)

    def take(self, keep: np.ndarray) -> _Cells:
        out = _Cells()
        for name, value in vars(self).items():
            setattr(out, name, value[keep])
        return out

    def concat(self, other: _Cells) -> _Cells:
        out = _Cells()
        for name, value in vars(self).items():
            setattr(out, name, np.concatenate([value, getattr(other, name)]))
        return out


class _Simulator:
    def __init__(self, p: ColonyParams, rng: np.random.Generator):
        self.p, self.rng = p, rng
        self.next_label = 1
        self.parents: dict[int, int] = {}

    def new_cells(self, parents: np.ndarray, pos: np.ndarray, angle: np.ndarray, age: np.ndarray,
                  size: np.ndarray) -> _Cells:
        p, rng, n = self.p, self.rng, len(parents)
        cells = _Cells(n)
        cells.label = np.arange(self.next_label, self.next_label + n, dtype=np.int64)
        self.next_label += n
        self.parents.update(zip(cells.label.tolist(), parents.tolist()))
        cells.pos, cells.angle, cells.size = pos, angle, size
        cells.cycle = p.cycle_time_frames * np.maximum(0.5, 1 + p.cycle_time_cv * rng.standard_normal(n))
        cells.age = np.where(np.isnan(age), rng.uniform(0, 1, n) * cells.cycle, age)
        cells.bright = np.exp(0.2 * rng.standard_normal(n))
        return cells

    def semi_axes(self, c: _Cells) -> tuple[np.ndarray, np.ndarray]:
        """(a, b): semi-axes along and across the cell's axis (equal for round cells)."""
        p = self.p
        phase = np.clip(c.age / c.cycle, 0, 1)
        r = p.cell_radius_px * c.size
        if p.shape == "round":
            a = r * np.sqrt((1 + phase) / 2)
            return a, a
        a_max, b = r * math.sqrt(p.rod_aspect), r / math.sqrt(p.rod_aspect)
        return np.maximum(a_max * (1 + phase) / 2, b), b

    def founders(self) -> _Cells:
        p, rng = self.p, self.rng
        n = p.n_founders
        rho = p.founder_spread * min(p.size) / 2 * np.sqrt(rng.uniform(0, 1, n))
        phi = rng.uniform(0, 2 * np.pi, n)
        pos = np.array(p.size, float) / 2 + np.c_[rho * np.sin(phi), rho * np.cos(phi)]
        cells = self.new_cells(np.zeros(n, np.int64), pos, rng.uniform(0, np.pi, n),
                               np.full(n, np.nan), np.exp(0.05 * rng.standard_normal(n)))
        self.relax(cells, n_iter=60)
        return cells

    def divide(self, m: _Cells) -> _Cells:
        """Two daughters per mother, covering the mother's footprint (half its area each)."""
        p, rng, n = self.p, self.rng, len(m.label)
        a, _ = self.semi_axes(m)
        if p.shape == "round":
            angle = rng.uniform(0, np.pi, n)
            offset = a / math.sqrt(2) * p.spacing
        else:
            angle = m.angle + 0.05 * rng.standard_normal(n)
            offset = a / 2
        axis = np.c_[np.sin(angle), np.cos(angle)] * offset[:, None]
        return self.new_cells(np.tile(m.label, 2), np.concatenate([m.pos + axis, m.pos - axis]),
                              np.tile(angle, 2), np.zeros(2 * n), np.tile(m.size, 2))

    def reach(self, c: _Cells, i: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Radius of cells `i` along unit vectors `direction` (ellipse polar radius)."""
        a, b = self.semi_axes(c)
        a, b = a[i], b[i]
        cos = direction[:, 0] * np.sin(c.angle[i]) + direction[:, 1] * np.cos(c.angle[i])
        sin2 = np.clip(1 - cos**2, 0, None)
        return a * b / np.sqrt((b * cos) ** 2 + a**2 * sin2)

    def relax(self, c: _Cells, n_iter: int = 20) -> None:
        """Push neighbours apart to `spacing` times the sum of their radii along their join."""
        if len(c.label) < 2:
            return
        p = self.p
        a, _ = self.semi_axes(c)
        cutoff = 2 * p.spacing * a.max()
        for _ in range(n_iter):
            pairs = cKDTree(c.pos).query_pairs(cutoff, output_type="ndarray")
            if not len(pairs):
                return
            i, j = pairs[:, 0], pairs[:, 1]
            diff = c.pos[i] - c.pos[j]
            dist = np.maximum(np.hypot(diff[:, 0], diff[:, 1]), 1e-6)
            unit = diff / dist[:, None]
            want = p.spacing * (self.reach(c, i, unit) + self.reach(c, j, unit))
            overlap = np.clip(want - dist, 0, None)
            if not overlap.any():
                return
            push = 0.5 * p.expansion * overlap[:, None] * unit
            np.add.at(c.pos, i, push)
            np.add.at(c.pos, j, -push)

    def step(self, c: _Cells) -> _Cells:
        p, rng = self.p, self.rng
        c.age = c.age + 1
        dividing = c.age >= c.cycle
        keep = c.take(~dividing)
        born = self.divide(c.take(dividing))
        keep.pos = keep.pos + p.motility_px * rng.standard_normal(keep.pos.shape)
        keep.angle = keep.angle + 0.05 * rng.standard_normal(len(keep.angle))
        out = keep.concat(born)
        self.relax(out)
        return out


def _drift(p: ColonyParams) -> np.ndarray:
    """(T, 2) stage offsets; drawn from their own stream, so drift never changes the colony."""
    rng = np.random.default_rng([p.seed, 1])
    d = p.drift_px_per_frame
    steps = (np.broadcast_to(np.asarray(d, float), (p.n_frames - 1, 2)) if not np.isscalar(d)
             else float(d) * rng.standard_normal((p.n_frames - 1, 2)))
    return np.vstack([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def _rasterise(sim: _Simulator, c: _Cells, pos: np.ndarray, shape: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray]:
    """(labels, q): each pixel to the cell it is relatively closest to (q = normalised elliptic
    distance, <= 1 inside), then each cell keeps only its 4-connected piece holding its centre."""
    labels = np.zeros(shape, np.uint32)
    best = np.full(shape, np.inf)
    a_all, b_all = sim.semi_axes(c)
    for k in range(len(c.label)):
        a, b, (y0, x0), th = a_all[k], b_all[k], pos[k], c.angle[k]
        y_lo, y_hi = max(int(y0 - a) - 1, 0), min(int(y0 + a) + 2, shape[0])
        x_lo, x_hi = max(int(x0 - a) - 1, 0), min(int(x0 + a) + 2, shape[1])
        if y_lo >= y_hi or x_lo >= x_hi:
            continue
        yy, xx = np.mgrid[y_lo:y_hi, x_lo:x_hi]
        dy, dx = yy - y0, xx - x0
        u = dy * math.sin(th) + dx * math.cos(th)
        v = dy * math.cos(th) - dx * math.sin(th)
        q = (u / a) ** 2 + (v / b) ** 2
        win = best[y_lo:y_hi, x_lo:x_hi]
        take = (q <= 1.0) & (q < win)
        win[take] = q[take]
        labels[y_lo:y_hi, x_lo:x_hi][take] = c.label[k]
    centre = {int(lab): (int(round(y)), int(round(x))) for lab, (y, x) in zip(c.label, pos)}
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        own = labels[sl] == lab
        pieces, n = ndimage.label(own)
        if n <= 1:
            continue
        cy, cx = centre[lab][0] - sl[0].start, centre[lab][1] - sl[1].start
        inside = 0 <= cy < own.shape[0] and 0 <= cx < own.shape[1]
        keep = pieces[cy, cx] if inside and pieces[cy, cx] else np.argmax(np.bincount(pieces.ravel())[1:]) + 1
        labels[sl][own & (pieces != keep)] = 0
    present = np.zeros(int(c.label.max(initial=0)) + 1, bool)
    present[np.unique(labels)] = True
    for lab in c.label[~present[c.label]].tolist():  # covered by neighbours: keep its centre
        labels[centre[lab]] = lab
        best[centre[lab]] = 0.0
    best[labels == 0] = np.inf
    return labels, best


def _render(p: ColonyParams, labels: np.ndarray, q: np.ndarray, bright: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """uint16 nuclear image: signal falls to 40 % at the mask edge, PSF, background, noise."""
    profile = np.where(np.isfinite(q), 1.0 - 0.6 * np.minimum(q, 1.0), 0.0)
    signal = p.brightness * bright[labels] * profile
    if p.psf_sigma_px:
        signal = ndimage.gaussian_filter(signal, p.psf_sigma_px)
    noisy = rng.poisson(signal + p.background) + p.noise * rng.standard_normal(labels.shape)
    return np.clip(np.rint(noisy), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def make_colony(params: ColonyParams | None = None) -> Colony:
    """Simulate one colony movie (deterministic from `params.seed`)."""
    p = params or ColonyParams()
    rng = np.random.default_rng(p.seed)
    noise_rng = np.random.default_rng([p.seed, 2])  # own stream: imaging never changes the cells
    sim = _Simulator(p, rng)
    drift = _drift(p)
    images = np.empty((p.n_frames, *p.size), np.uint16)
    labels = np.empty((p.n_frames, *p.size), np.uint32)
    spans: dict[int, list[int]] = {}
    cells = sim.founders()
    field = np.array(p.size, float) - 1
    for t in range(p.n_frames):
        if t:
            cells = sim.step(cells)
        pos = cells.pos + drift[t]
        cells = cells.take(np.all((pos >= 0) & (pos <= field), axis=1))  # left the field: ends
        pos = cells.pos + drift[t]
        labels[t], q = _rasterise(sim, cells, pos, p.size)
        bright = np.zeros(sim.next_label)
        bright[cells.label] = cells.bright
        images[t] = _render(p, labels[t], q, bright, noise_rng)
        for lab in cells.label.tolist():
            spans.setdefault(lab, [t, t])[1] = t
    rows = [(lab, b, e, sim.parents[lab] if sim.parents[lab] in spans else 0)
            for lab, (b, e) in sorted(spans.items())]
    tracks = pd.DataFrame(rows, columns=["label", "begin", "end", "parent"]).astype("int64")
    check_ctc(tracks)
    return Colony(images=images, labels=labels, tracks=tracks, drift=drift, params=p)


def _write_tiff(path: Path, data: np.ndarray) -> None:
    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, data, compression="zlib")


def write_colony_ctc(colony: Colony, folder: str | os.PathLike, sequence: str = "01") -> Path:
    """Write `colony` in the CTC layout and return `folder/<sequence>` (the images):
    `folder/01/tNNN.tif`, `folder/01_GT/TRA/man_trackNNN.tif` + `man_track.txt`,
    `folder/01_GT/SEG/man_segNNN.tif` (uint16 masks, label = track id). Files are written
    atomically; masks of an earlier, longer colony in the same folder are removed."""
    folder = Path(folder)
    if colony.labels.max(initial=0) > np.iinfo(np.uint16).max:
        raise ConfigError(f"{folder}: {int(colony.labels.max())} tracks do not fit the CTC uint16 "
                          "masks; simulate fewer frames or founders.")
    images, gt = folder / sequence, folder / f"{sequence}_GT"
    width = max(3, len(str(colony.labels.shape[0] - 1)))
    written = set()
    for t, (image, mask) in enumerate(zip(colony.images, colony.labels)):
        mask = mask.astype(np.uint16)
        for path, data in ((images / f"t{t:0{width}d}.tif", image),
                           (gt / "TRA" / f"man_track{t:0{width}d}.tif", mask),
                           (gt / "SEG" / f"man_seg{t:0{width}d}.tif", mask)):
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_tiff(path, data)
            written.add(path)
    for stale in [*images.glob("t*.tif"), *(gt / "TRA").glob("man_track*.tif"),
                  *(gt / "SEG").glob("man_seg*.tif")]:
        if stale not in written:
            stale.unlink()
    with atomic_write(gt / "TRA" / "man_track.txt") as tmp:
        colony.tracks[["label", "begin", "end", "parent"]].to_csv(tmp, sep=" ", header=False, index=False)
    return images


def params_dict(p: ColonyParams) -> dict[str, Any]:
    """Plain mapping of `p` (lists for tuples), e.g. for a benchmark's record of what it ran."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(p).items()}
