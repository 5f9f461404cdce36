"""Synthetic bone-marrow organoid time-lapse with ground truth (demo data and tests).

A 2D multichannel movie: channel `nuclei` plus the markers `CD34` (stem/progenitor), `CD235a`
(erythroid), `MPO` (myeloid) and `CD41` (megakaryocyte). Cells are elliptic nuclei that move
(random walk plus a pairwise repulsion that keeps nuclei `min_gap_px` apart, so a classic
threshold + watershed separates them), grow over their cell cycle and divide (mother ends at frame
t, the two daughters begin at t + 1 side by side, parent = mother's label: the Cell Tracking
Challenge convention). Progenitors commit to a lineage at `differentiation_rate_per_h` (per
lineage, competing risks); committed cells keep dividing, `differentiated_cycle_factor` times
slower, and daughters inherit the commitment.

Markers after commitment at time t_c (hours since commitment s = t - t_c, tau = marker_rise_h):
lineage marker level 1 - exp(-s / tau) (rises over a few hours, one way), CD34 level exp(-s / tau)
(progenitors: CD34 = 1, lineage markers 0). Levels scale the channel between `marker_basal` and
1 times a per-cell expression factor.

TRUE TYPE (the `cell_types` table): a cell is `progenitor` until the frame where its lineage
marker level first reaches half of its full level (s >= tau * ln 2), and its lineage from then
on. Types therefore never go back, and daughters carry their mother's type on.

The image: hard elliptic masks (the ground truth) filled with per-cell brightness (nuclei with a
little chromatin texture), blurred by a Gaussian PSF, on an uneven background (linear gradient +
a broad blob), then Poisson shot noise and Gaussian read noise, as uint16. By default cells are
kept fully inside the field (centres are confined); with `cells_leave_field` they may walk out:
their masks are clipped at the border and their track ends at the last frame their centre is
inside the field. In an overcrowded field a nucleus can be covered entirely by its neighbours;
it then leaves the simulation (its track ends at its last visible frame), so the ground truth
stays consistent.

CELL DEATH (off by default: `death_rate_per_h` is empty): a cell of true type k starts apoptosis
at rate `death_rate_per_h[k]` per hour; it then stops cycling and for `death_frames` frames its
nucleus shrinks (to 55 % of its radius) and brightens (to twice its intensity), as condensing
chromatin does, and is gone after. No random number is drawn for a type without a rate, so a
movie without deaths is the same array as before death existed.

PER-CELL TRUTH (`cell_truth`, written as GT/cell_truth.csv): one row per track with its mother,
sister, generation and founder, the committed lineage, the frame its lineage marker starts to
rise (`onset_<marker>_frame`, the commitment, sub-frame in frames since the start; for a
daughter of a committed mother it lies before her birth), the frame its true type switches
(`type_switch_frame`, the marker at half level), the first apoptotic frame, and why the track
ends (`end_cause`: divided, died, left_field, covered, end_of_movie).

Everything is drawn from `np.random.default_rng(seed)`: the same parameters and seed give
identical arrays.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import tifffile
from scipy import ndimage
from scipy.spatial import cKDTree

from marrowflow.errors import ConfigError
from marrowflow.io import atomic_write
from marrowflow.schema import check_keys, schema_fields

__all__ = [
    "CELL_TYPES",
    "CHANNEL_NAMES",
    "LINEAGES",
    "LINEAGE_MARKER",
    "OrganoidParams",
    "SyntheticMovie",
    "simulate_frames",
    "simulate_organoid",
    "true_counts",
    "write_synthetic",
]

LINEAGES = ("erythroid", "myeloid", "megakaryocyte")
CELL_TYPES = ("progenitor",) + LINEAGES
CHANNEL_NAMES = ("nuclei", "CD34", "CD235a", "MPO", "CD41")
LINEAGE_MARKER = {"erythroid": "CD235a", "myeloid": "MPO", "megakaryocyte": "CD41"}
_MARKERS = CHANNEL_NAMES[1:]

_schema = schema_fields("demo.*")


@dataclass(frozen=True)
class OrganoidParams:
    """Parameters of one synthetic organoid movie (the config's `demo.<name>` entries; defaults
    from the schema, which documents each key).

    Sizes are in pixels, times in hours, intensities in camera counts.
    """

    SECTION: ClassVar[str] = "demo.*"

    seed: int = _schema("seed")
    n_frames: int = _schema("n_frames")
    size: tuple[int, int] = _schema("size")
    n_founders: int = _schema("n_founders")
    pixel_size_um: float = _schema("pixel_size_um")
    time_step_h: float = _schema("time_step_h")
    radius_px: float = _schema("radius_px")  # nucleus radius just before division; a newborn's is radius / sqrt(2)
    elongation: float = _schema("elongation")  # nuclei have major/minor axis ratio 1 .. 1 + elongation
    cycle_time_h: float = _schema("cycle_time_h")
    cycle_time_cv: float = _schema("cycle_time_cv")
    differentiated_cycle_factor: float = _schema("differentiated_cycle_factor")
    differentiation_rate_per_h: dict[str, float] = _schema("differentiation_rate_per_h")
    marker_rise_h: float = _schema("marker_rise_h")
    motility_px: float = _schema("motility_px")  # random-walk step SD per axis per frame
    min_gap_px: float = _schema("min_gap_px")
    cells_leave_field: bool = _schema("cells_leave_field")
    psf_sigma_px: float = _schema("psf_sigma_px")
    background: float = _schema("background")
    background_unevenness: float = _schema("background_unevenness")
    nuclei_brightness: float = _schema("nuclei_brightness")
    marker_brightness: float = _schema("marker_brightness")
    marker_basal: float = _schema("marker_basal")
    read_noise: float = _schema("read_noise")
    death_rate_per_h: dict[str, float] = _schema("death_rate_per_h")
    death_frames: int = _schema("death_frames")
    ndim: int = _schema("ndim")  # 3: a spheroid imaged as z-stacks (marrowflow.synthetic_3d), keys below
    z_slices: int = _schema("z_slices")
    z_anisotropy: float = _schema("z_anisotropy")
    psf_sigma_z_px: float = _schema("psf_sigma_z_px")
    attenuation_length_px: float = _schema("attenuation_length_px")
    escape_rate_per_h: float = _schema("escape_rate_per_h")
    seg_every_frames: int = _schema("seg_every_frames")

    def __post_init__(self) -> None:
        _validate(self)
        rates = {k: float(v) for k, v in self.differentiation_rate_per_h.items()}
        object.__setattr__(self, "differentiation_rate_per_h", rates)  # own copy, not the config's
        deaths = {k: float(v) for k, v in self.death_rate_per_h.items()}
        object.__setattr__(self, "death_rate_per_h", deaths)
        object.__setattr__(self, "size", tuple(int(v) for v in self.size))

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, *, where: str = "demo") -> OrganoidParams:
        """Build from a `demo.<name>` entry (`size` may be one number for a square); unknown keys,
        lineages or bad values raise ConfigError naming `where` (e.g. "demo.control") and the key."""
        kwargs = dict(section or {})
        check_keys(kwargs, [f.name for f in dataclasses.fields(cls)], where)
        if "size" in kwargs:
            size = kwargs["size"]
            kwargs["size"] = (int(size), int(size)) if np.isscalar(size) else tuple(size)
        try:
            return cls(**kwargs)
        except (ConfigError, TypeError, ValueError) as err:
            raise ConfigError(f"{where}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (lists for tuples) that `from_config` reads back."""
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        return d


def _validate(p: OrganoidParams) -> None:
    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise ConfigError(f"`{key}` must be {expected}, found {getattr(p, key)!r}.")

    for name, kind in typing.get_type_hints(OrganoidParams).items():
        value = getattr(p, name, None)
        if kind is bool:
            need(isinstance(value, bool), name, "true or false")
        elif kind in (int, float):
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            need(ok and (kind is float or isinstance(value, numbers.Integral)), name,
                 "an integer" if kind is int else "a number")

    need(p.n_frames >= 1, "n_frames", "an integer >= 1")
    need(len(p.size) == 2 and min(p.size) >= 8 * p.radius_px, "size",
         f"[height, width] of at least 8 * radius_px = {8 * p.radius_px:g} pixels each")
    need(p.n_founders >= 0, "n_founders", ">= 0")
    need(p.radius_px >= 2, "radius_px", ">= 2")
    need(p.elongation >= 0, "elongation", ">= 0")
    for key in ("pixel_size_um", "time_step_h", "cycle_time_h", "marker_rise_h",
                "differentiated_cycle_factor"):
        need(getattr(p, key) > 0, key, "> 0")
    for key in ("cycle_time_cv", "motility_px", "min_gap_px", "psf_sigma_px", "background",
                "background_unevenness", "nuclei_brightness", "marker_brightness", "read_noise"):
        need(getattr(p, key) >= 0, key, ">= 0")
    need(0 <= p.marker_basal < 1, "marker_basal", "in [0, 1)")
    rates = p.differentiation_rate_per_h
    need(isinstance(rates, Mapping) and set(rates) <= set(LINEAGES)
         and all(float(v) >= 0 for v in rates.values()),
         "differentiation_rate_per_h", f"a mapping of some of {list(LINEAGES)} to rates >= 0 per h")
    deaths = p.death_rate_per_h
    need(isinstance(deaths, Mapping) and set(deaths) <= set(CELL_TYPES)
         and all(float(v) >= 0 for v in deaths.values()),
         "death_rate_per_h", f"a mapping of some of {list(CELL_TYPES)} to rates >= 0 per h")
    need(p.death_frames >= 1, "death_frames", "an integer >= 1")
    need(p.ndim in (2, 3), "ndim", "2 or 3")
    need(p.z_slices >= 2, "z_slices", "an integer >= 2")
    need(1 <= p.z_anisotropy <= 10, "z_anisotropy", "in [1, 10]")
    need(p.psf_sigma_z_px >= 0, "psf_sigma_z_px", ">= 0")
    need(p.attenuation_length_px > 0, "attenuation_length_px", "> 0")
    need(p.escape_rate_per_h >= 0, "escape_rate_per_h", ">= 0")
    need(p.seg_every_frames >= 1, "seg_every_frames", "an integer >= 1")


@dataclass
class SyntheticMovie:
    """A simulated movie with its ground truth.

    `movie` (T, C, [Z,] Y, X) uint16; `labels` (T, [Z,] Y, X) uint32 with label = track id; `tracks`
    `label, begin, end, parent` (CTC); `cell_types` `frame, label, cell_type`; `truth` one row per
    cell per frame: `frame, label, y, x, radius_px, cell_type, fate, level_<marker>...` (fate =
    the committed lineage or "progenitor"; levels in [0, 1] before per-cell scaling);
    `cell_truth` one row per track (`_cell_truth_table`: family, onsets, type switch, death, end cause).
    3D movies (`ndim: 3`) have a `z` column in `truth` (in pixel widths, like y and x) and
    `z_step_um`.
    """

    movie: np.ndarray
    labels: np.ndarray
    tracks: pd.DataFrame
    cell_types: pd.DataFrame
    truth: pd.DataFrame
    channel_names: list[str]
    pixel_size_um: float
    time_step_h: float
    params: OrganoidParams
    cell_truth: pd.DataFrame
    z_step_um: float | None = None


@dataclass
class _Cell:
    label: int
    pos: np.ndarray  # (y, x)
    age_h: float
    cycle_h: float
    size_factor: float
    aspect: float
    angle: float
    brightness: np.ndarray  # per channel expression factor
    fate: str | None = None  # committed lineage
    commit_h: float = math.nan
    dying: int = -1  # frames since apoptosis began (-1: alive)


class _Simulator:
    """Agent simulation: `founders()` gives the cells of frame 0, `step()` advances one frame.

    The lineage model (cycle, division, commitment, markers, death) lives here; the geometry
    (placement, motion, packing, leaving, drawing) is in the methods a 3D subclass overrides
    (`marrowflow.synthetic_3d`)."""

    POS_COLUMNS: ClassVar[tuple[str, ...]] = ("y", "x")

    def __init__(self, p: OrganoidParams, rng: np.random.Generator):
        self.p, self.rng = p, rng
        self.dt = p.time_step_h
        self.next_label = 1
        self.parents: dict[int, int] = {}  # label -> parent label (0 = founder)
        self.end_cause: dict[int, str] = {}  # label -> why its track ended (before the last frame)
        self.apoptosis: dict[int, int] = {}  # label -> first apoptotic frame
        self.commit: dict[int, float] = {}  # label -> commitment time in hours
        rates = p.differentiation_rate_per_h
        self.rates = np.array([float(rates.get(k, 0.0)) for k in LINEAGES])
        self.death_p = {k: 1.0 - math.exp(-r * self.dt) for k, r in p.death_rate_per_h.items() if r > 0}

    def new_cell(self, parent: int, pos, *, age_h: float | None = 0.0, fate: str | None = None,
                 commit_h: float = math.nan) -> _Cell:
        """A new track; `age_h=None` draws a random cell-cycle phase (founders)."""
        p, rng = self.p, self.rng
        cycle = p.cycle_time_h * (p.differentiated_cycle_factor if fate else 1.0)
        cycle *= max(0.5, 1.0 + p.cycle_time_cv * rng.standard_normal())
        cell = _Cell(
            label=self.next_label, pos=np.asarray(pos, float),
            age_h=rng.uniform(0, cycle) if age_h is None else age_h, cycle_h=cycle,
            size_factor=float(np.exp(0.06 * rng.standard_normal())),
            aspect=1.0 + p.elongation * rng.random(), angle=rng.uniform(0, np.pi),
            brightness=np.exp(0.15 * rng.standard_normal(len(CHANNEL_NAMES))),
            fate=fate, commit_h=commit_h,
        )
        self.parents[cell.label] = parent
        self.next_label += 1
        return cell

    def radius(self, c: _Cell) -> float:
        phase = min(c.age_h / c.cycle_h, 1.0)
        r = self.p.radius_px * c.size_factor * math.sqrt((1.0 + phase) / 2.0)
        if c.dying >= 0:  # apoptosis: the nucleus condenses
            r *= 1.0 - 0.45 * (c.dying + 1) / self.p.death_frames
        return r

    def semi_axes(self, c: _Cell) -> tuple[float, float]:
        r = self.radius(c)
        return r * math.sqrt(c.aspect), r / math.sqrt(c.aspect)

    def founders(self) -> list[_Cell]:
        p = self.p
        margin = p.radius_px * 1.5
        pos = self.rng.uniform([margin, margin], [p.size[0] - margin, p.size[1] - margin],
                               size=(p.n_founders, 2))
        cells = [self.new_cell(0, xy, age_h=None) for xy in pos]
        self.relax(cells)
        return cells

    def divide(self, mother: _Cell) -> list[_Cell]:
        theta = self.rng.uniform(0, np.pi)
        r_daughter = self.p.radius_px * mother.size_factor / math.sqrt(2.0)
        offset = (r_daughter + self.p.min_gap_px / 2 + 0.5) * np.array([np.sin(theta), np.cos(theta)])
        return [
            self.new_cell(mother.label, mother.pos + sign * offset,
                          fate=mother.fate, commit_h=mother.commit_h)
            for sign in (1.0, -1.0)
        ]

    def relax(self, cells: list[_Cell], n_iter: int = 30) -> None:
        """Push overlapping nuclei apart (pairwise, symmetric) and confine them to the field."""
        if not cells:
            return
        pos = np.array([c.pos for c in cells])
        reach = np.array([self.semi_axes(c)[0] for c in cells])
        confine = None if self.p.cells_leave_field else (lambda q: self.confine(q, reach))
        pos = self.push_apart(pos, reach, n_iter, after_round=confine)
        if confine is not None:
            pos = confine(pos)
        for c, xy in zip(cells, pos):
            c.pos = xy

    def push_apart(self, pos: np.ndarray, reach: np.ndarray, n_iter: int, *,
                   after_round: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Positions after at most `n_iter` rounds of pairwise, symmetric repulsion until nuclei of
        radius `reach` are `min_gap_px` apart; `after_round(pos)` (e.g. confinement) ends each round."""
        cutoff = 2 * reach.max() + self.p.min_gap_px
        for _ in range(n_iter):
            pairs = cKDTree(pos).query_pairs(cutoff, output_type="ndarray")
            i, j = pairs[:, 0], pairs[:, 1]
            diff = pos[i] - pos[j]
            dist = self.distances(diff)
            overlap = np.clip(reach[i] + reach[j] + self.p.min_gap_px - dist, 0, None)
            if not overlap.any():
                break
            push = 0.5 * overlap[:, None] * diff / np.maximum(dist, 1e-6)[:, None]
            np.add.at(pos, i, push)
            np.add.at(pos, j, -push)
            if after_round is not None:
                pos = after_round(pos)
        return pos

    @staticmethod
    def distances(diff: np.ndarray) -> np.ndarray:
        """Lengths of the rows of `diff` (y, x offsets)."""
        return np.hypot(diff[:, 0], diff[:, 1])

    def confine(self, pos: np.ndarray, reach: np.ndarray) -> np.ndarray:
        lo = reach[:, None] + 2.0
        hi = np.array(self.p.size, float)[None, :] - 1.0 - lo
        return np.clip(pos, lo, hi)

    def step(self, frame: int, cells: list[_Cell]) -> list[_Cell]:
        """Advance from frame - 1 to frame: divisions, commitment, motion, leaving."""
        p, rng, dt = self.p, self.rng, self.dt
        t_h = frame * dt
        nxt: list[_Cell] = []
        for c in cells:
            if c.dying >= 0:
                c.dying += 1
                if c.dying >= p.death_frames:
                    self.end_cause[c.label] = "died"
                    continue
                nxt.append(c)
                continue
            c.age_h += dt
            if c.age_h >= c.cycle_h:
                self.end_cause[c.label] = "divided"
                nxt.extend(self.divide(c))
                continue
            if c.fate is None and self.rates.sum() > 0:
                if rng.random() < 1.0 - math.exp(-self.rates.sum() * dt):
                    c.fate = LINEAGES[rng.choice(len(LINEAGES), p=self.rates / self.rates.sum())]
                    c.commit_h = t_h
            kind = _true_type(c, _levels(c, t_h, p.marker_rise_h)) if self.death_p else None
            if kind in self.death_p and rng.random() < self.death_p[kind]:
                c.dying = 0
                self.apoptosis[c.label] = frame
            self.move(c)
            nxt.append(c)
        self.relax(nxt)
        return self.remove_leavers(nxt)

    def move(self, c: _Cell) -> None:
        """One frame of random walk (and rotation) of a live cell."""
        c.pos = c.pos + self.p.motility_px * self.rng.standard_normal(2)
        c.angle += 0.1 * self.rng.standard_normal()

    def remove_leavers(self, cells: list[_Cell]) -> list[_Cell]:
        """With `cells_leave_field`, end the tracks of cells whose centre left the field."""
        if not self.p.cells_leave_field:
            return cells
        inside = [bool(np.all((c.pos >= 0) & (c.pos <= np.array(self.p.size) - 1))) for c in cells]
        self.end_cause.update({c.label: "left_field" for c, ok in zip(cells, inside) if not ok})
        return [c for c, ok in zip(cells, inside) if ok]

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one label image."""
        return tuple(self.p.size)

    def background_field(self) -> np.ndarray:
        return _background_field(self.p, self.rng)

    def rasterise(self, cells: list[_Cell]) -> np.ndarray:
        return _rasterise(self, cells, self.p.size)

    def render(self, labels: np.ndarray, values: np.ndarray, bg: np.ndarray) -> np.ndarray:
        return _render(self.p, labels, values, bg, self.rng)


def _levels(c: _Cell, t_h: float, tau: float) -> dict[str, float]:
    """Marker levels in [0, 1] (before basal offset and per-cell factor)."""
    levels = dict.fromkeys(_MARKERS, 0.0)
    if c.fate is None:
        levels["CD34"] = 1.0
        return levels
    s = max(t_h - c.commit_h, 0.0)
    levels["CD34"] = math.exp(-s / tau)
    levels[LINEAGE_MARKER[c.fate]] = 1.0 - math.exp(-s / tau)
    return levels


def _true_type(c: _Cell, levels: Mapping[str, float]) -> str:
    if c.fate is not None and levels[LINEAGE_MARKER[c.fate]] >= 0.5:
        return c.fate
    return "progenitor"


def _rasterise(sim: _Simulator, cells: list[_Cell], shape: tuple[int, int]) -> np.ndarray:
    """Label image of elliptic nuclei; a pixel claimed by two ellipses goes to the one it is
    relatively closer to, so labels never overlap."""
    labels = np.zeros(shape, np.uint32)
    best = np.full(shape, np.inf)
    for c in cells:
        a, b = sim.semi_axes(c)
        y0, x0 = c.pos
        y_lo, y_hi = max(int(y0 - a) - 1, 0), min(int(y0 + a) + 2, shape[0])
        x_lo, x_hi = max(int(x0 - a) - 1, 0), min(int(x0 + a) + 2, shape[1])
        if y_lo >= y_hi or x_lo >= x_hi:
            continue
        yy, xx = np.mgrid[y_lo:y_hi, x_lo:x_hi]
        dy, dx = yy - y0, xx - x0
        u = dy * math.sin(c.angle) + dx * math.cos(c.angle)
        v = dy * math.cos(c.angle) - dx * math.sin(c.angle)
        q = (u / a) ** 2 + (v / b) ** 2
        win = best[y_lo:y_hi, x_lo:x_hi]
        take = (q <= 1.0) & (q < win)
        win[take] = q[take]
        labels[y_lo:y_hi, x_lo:x_hi][take] = c.label
    return labels


def _background_field(p: OrganoidParams, rng: np.random.Generator) -> np.ndarray:
    """Smooth uneven illumination, mean about 1: linear gradient plus a broad blob."""
    h, w = p.size
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (yy - 0.5) * np.sin(theta) + (xx - 0.5) * np.cos(theta)
    cy, cx = rng.uniform(0.2, 0.8, 2)
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.25**2))
    field_ = 1.0 + p.background_unevenness * (ramp + blob - blob.mean())
    return np.clip(field_, 0.1, None)


def _render(
    p: OrganoidParams, labels: np.ndarray, values: np.ndarray, bg: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One (C, Y, X) uint16 frame. `values` (n_labels + 1, C) is the signal per label."""
    signal = values[labels]  # (Y, X, C)
    texture = ndimage.gaussian_filter(rng.standard_normal(labels.shape), 1.5)
    signal[..., 0] *= 1.0 + 0.6 * texture
    out = np.empty((len(CHANNEL_NAMES),) + labels.shape, np.uint16)
    for ch in range(len(CHANNEL_NAMES)):
        img = ndimage.gaussian_filter(signal[..., ch], p.psf_sigma_px) if p.psf_sigma_px else signal[..., ch]
        expected = np.clip(img + p.background * bg, 0, None)
        noisy = rng.poisson(expected) + p.read_noise * rng.standard_normal(labels.shape)
        out[ch] = np.clip(np.rint(noisy), 0, np.iinfo(np.uint16).max)
    return out


def _simulator(p: OrganoidParams, seed: int | None) -> _Simulator:
    rng = np.random.default_rng(p.seed if seed is None else seed)
    if p.ndim == 3:
        from marrowflow.synthetic_3d import Simulator3D
        return Simulator3D(p, rng)
    return _Simulator(p, rng)


def _frames(sim: _Simulator) -> Iterator[tuple[np.ndarray, np.ndarray, list[tuple]]]:
    """(image, labels, truth rows) of each frame in turn; `sim` holds the lineage as it grows."""
    p = sim.p
    bg = sim.background_field()
    scale = np.array([p.nuclei_brightness] + [p.marker_brightness] * len(_MARKERS))
    cells = sim.founders()
    for t in range(p.n_frames):
        if t:
            cells = sim.step(t, cells)
        t_h = t * p.time_step_h
        values = np.zeros((sim.next_label, len(CHANNEL_NAMES)))
        rows: list[tuple] = []
        for c in cells:
            lv = _levels(c, t_h, p.marker_rise_h)
            marker = [p.marker_basal + (1 - p.marker_basal) * lv[m] for m in _MARKERS]
            values[c.label] = scale * c.brightness * np.array([1.0] + marker)
            if c.dying >= 0:  # apoptosis: the condensing chromatin brightens
                values[c.label, 0] *= 1.0 + (c.dying + 1) / p.death_frames
            sim.commit[c.label] = c.commit_h
            rows.append((t, c.label, *c.pos, sim.radius(c), _true_type(c, lv),
                         c.fate or "progenitor", *(lv[m] for m in _MARKERS)))
        labels = sim.rasterise(cells)
        image = sim.render(labels, values, bg)
        visible = set(np.unique(labels).tolist())
        sim.end_cause.update({c.label: "covered" for c in cells if c.label not in visible})
        cells = [c for c in cells if c.label in visible]  # fully covered by neighbours: gone
        yield image, labels, rows


def simulate_frames(params: OrganoidParams | None = None, seed: int | None = None
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, dict[int, str], dict[int, int]]]:
    """The frames of `simulate_organoid` one at a time, without holding the movie (for movies
    larger than memory): `(image (C, [Z,] Y, X) uint16, labels ([Z,] Y, X) uint32, {label: true
    type} of the cells in view, parents)`, where `parents` (label -> parent label, 0 for a
    founder) grows as cells are born."""
    sim = _simulator(params or OrganoidParams(), seed)
    type_at = 3 + len(sim.POS_COLUMNS)  # rows: frame, label, *position, radius, type, ...
    for image, labels, rows in _frames(sim):
        visible = set(np.unique(labels).tolist())
        yield image, labels, {row[1]: row[type_at] for row in rows if row[1] in visible}, sim.parents


def simulate_organoid(params: OrganoidParams | None = None, seed: int | None = None) -> SyntheticMovie:
    """Simulate one organoid movie; `seed` overrides `params.seed`. Deterministic."""
    p = params or OrganoidParams()
    sim = _simulator(p, seed)
    movie = np.empty((p.n_frames, len(CHANNEL_NAMES)) + sim.shape, np.uint16)
    labels = np.empty((p.n_frames,) + sim.shape, np.uint32)
    rows: list[tuple] = []
    for t, (image, frame_labels, frame_rows) in enumerate(_frames(sim)):
        movie[t], labels[t] = image, frame_labels
        rows += frame_rows
    truth = pd.DataFrame(rows, columns=["frame", "label", *sim.POS_COLUMNS, "radius_px", "cell_type", "fate",
                                        *(f"level_{m}" for m in _MARKERS)])
    truth = truth.astype({"frame": "int64", "label": "int64"})
    present = _present_labels(labels)
    truth = truth.merge(present, on=["frame", "label"])  # drop rows of cells with no pixel
    tracks = _tracks_from_truth(truth, sim.parents)
    return SyntheticMovie(
        movie=movie, labels=labels, tracks=tracks,
        cell_types=truth[["frame", "label", "cell_type"]].reset_index(drop=True),
        truth=truth.reset_index(drop=True), channel_names=list(CHANNEL_NAMES),
        pixel_size_um=p.pixel_size_um, time_step_h=p.time_step_h, params=p,
        cell_truth=_cell_truth_table(tracks, truth, sim, p),
        z_step_um=p.pixel_size_um * p.z_anisotropy if p.ndim == 3 else None,
    )


def _cell_truth_table(tracks: pd.DataFrame, truth: pd.DataFrame, sim: _Simulator, p: OrganoidParams) -> pd.DataFrame:
    """One row per track: `label, begin, end, parent, sister, generation, founder, fate,
    onset_<marker>_frame... (per lineage marker), type_switch_frame, apoptosis_frame, end_cause`
    (frames since the start, sub-frame; NaN where it does not happen; 0 = no parent/sister)."""
    t = tracks.set_index("label")
    kids = t[t["parent"] > 0].groupby("parent").groups
    sister = {int(k): int(next((o for o in ks if o != k), 0)) for ks in kids.values() for k in ks}
    generation: dict[int, int] = {}
    founder: dict[int, int] = {}
    for lab, par in t["parent"].sort_index().items():  # a mother's label is below her daughters'
        generation[lab] = generation[par] + 1 if par else 0
        founder[lab] = founder[par] if par else lab
    fate = truth.groupby("label")["fate"].last()
    commit_frame = pd.Series({lab: sim.commit.get(lab, math.nan) / p.time_step_h for lab in t.index})
    last = p.n_frames - 1
    out = pd.DataFrame({
        "label": t.index.astype("int64"), "begin": t["begin"].to_numpy(), "end": t["end"].to_numpy(),
        "parent": t["parent"].to_numpy(), "sister": [sister.get(lab, 0) for lab in t.index],
        "generation": [generation[lab] for lab in t.index], "founder": [founder[lab] for lab in t.index],
        "fate": fate.reindex(t.index).to_numpy(),
    })
    for lineage, marker in LINEAGE_MARKER.items():
        out[f"onset_{marker}_frame"] = np.where(out["fate"] == lineage, commit_frame.to_numpy(), np.nan)
    switch_h = p.marker_rise_h * math.log(2.0)
    out["type_switch_frame"] = commit_frame.to_numpy() + switch_h / p.time_step_h
    out["apoptosis_frame"] = [float(sim.apoptosis.get(lab, math.nan)) for lab in t.index]
    out["end_cause"] = [sim.end_cause.get(lab, "end_of_movie" if end == last else "covered")
                        for lab, end in zip(t.index, t["end"])]
    return out.astype({"label": "int64", "begin": "int64", "end": "int64", "parent": "int64",
                       "sister": "int64", "generation": "int64", "founder": "int64"})


def _present_labels(labels: np.ndarray) -> pd.DataFrame:
    rows = [(t, int(lab)) for t in range(labels.shape[0]) for lab in np.unique(labels[t]) if lab]
    return pd.DataFrame(rows, columns=["frame", "label"]).astype("int64")


def _tracks_from_truth(truth: pd.DataFrame, parents: Mapping[int, int]) -> pd.DataFrame:
    """CTC track table from the frames where each label is visible (every track is contiguous
    because a cell is drawn at every frame of its life)."""
    span = truth.groupby("label")["frame"].agg(["min", "max", "count"])
    tracks = pd.DataFrame({
        "label": span.index.astype("int64"),
        "begin": span["min"].to_numpy(),
        "end": span["max"].to_numpy(),
        "parent": [parents[lab] if parents[lab] in span.index else 0 for lab in span.index],
    })
    if not (span["max"] - span["min"] + 1 == span["count"]).all():
        raise AssertionError("synthetic track with a gap; cells must be drawn in every frame")
    return tracks.astype("int64")


def true_counts(
    cell_types: pd.DataFrame, time_step_h: float, *, n_frames: int | None = None,
) -> pd.DataFrame:
    """Cells of each type per frame: `frame, time_h, cell_type, n` for all 4 types x all frames
    (0 .. n_frames - 1, or up to the last frame in the table), zeros included."""
    last = int(cell_types["frame"].max()) + 1 if len(cell_types) else 0
    frames = np.arange(last if n_frames is None else n_frames)
    grid = pd.MultiIndex.from_product([frames, CELL_TYPES], names=["frame", "cell_type"])
    n = cell_types.groupby(["frame", "cell_type"]).size().reindex(grid, fill_value=0)
    out = n.rename("n").reset_index()
    out["time_h"] = out["frame"] * float(time_step_h)
    out = out[["frame", "time_h", "cell_type", "n"]]
    return out.astype({"frame": "int64", "n": "int64"})


def _write_tiff(path: Path, data: np.ndarray, **kwargs: Any) -> None:
    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, data, compression="zlib", **kwargs)


def _write_csv(path: Path, df: pd.DataFrame, **kwargs: Any) -> None:
    with atomic_write(path) as tmp:
        df.to_csv(tmp, index=False, **kwargs)


def write_synthetic(sim: SyntheticMovie, movie_path: str | os.PathLike, gt_dir: str | os.PathLike) -> None:
    """Write the movie as OME-TIFF (uint16, TCYX or TCZYX, zlib; pixel size, z step, time step
    in h, channel names) and the ground truth in the Cell Tracking Challenge layout under `gt_dir`:
    `TRA/man_track.txt`, `TRA/man_trackNNN.tif`, `SEG/man_segNNN.tif` (uint16, label = track
    id; SEG for every `params.seg_every_frames`-th frame and the last), `cell_types.csv`
    (`frame, label, cell_type`), `cell_truth.csv` (`.cell_truth`) and
    `counts.csv` (`true_counts`).
    Every file is written atomically."""
    movie_path, gt_dir = Path(movie_path), Path(gt_dir)
    if sim.labels.max(initial=0) > np.iinfo(np.uint16).max:
        raise ConfigError(
            f"{gt_dir}: {int(sim.labels.max())} tracks do not fit the CTC uint16 masks; "
            "simulate fewer frames or founders."
        )
    metadata = {
        "axes": "TCYX",
        "PhysicalSizeX": sim.pixel_size_um, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": sim.pixel_size_um, "PhysicalSizeYUnit": "µm",
        "TimeIncrement": sim.time_step_h, "TimeIncrementUnit": "h",
        "Channel": {"Name": list(sim.channel_names)},
    }
    if sim.movie.ndim == 5:
        metadata = {**metadata, "axes": "TCZYX", "PhysicalSizeZ": sim.z_step_um, "PhysicalSizeZUnit": "µm"}
    _write_tiff(movie_path, sim.movie, ome=True, photometric="minisblack", metadata=metadata)
    width = max(3, len(str(sim.labels.shape[0] - 1)))
    written = set()
    n, every = sim.labels.shape[0], sim.params.seg_every_frames
    for t, frame in enumerate(sim.labels):
        mask = frame.astype(np.uint16)
        paths = [gt_dir / "TRA" / f"man_track{t:0{width}d}.tif"]
        if t % every == 0 or t == n - 1:
            paths.append(gt_dir / "SEG" / f"man_seg{t:0{width}d}.tif")
        for path in paths:
            _write_tiff(path, mask)
            written.add(path)
    for stale in [*(gt_dir / "TRA").glob("man_track*.tif"), *(gt_dir / "SEG").glob("man_seg*.tif")]:
        if stale not in written:  # masks of an earlier, longer simulation would break CTC tools
            stale.unlink()
    _write_csv(gt_dir / "TRA" / "man_track.txt", sim.tracks[["label", "begin", "end", "parent"]],
               sep=" ", header=False)
    _write_csv(gt_dir / "cell_types.csv", sim.cell_types)
    _write_csv(gt_dir / "cell_truth.csv", sim.cell_truth)
    counts = true_counts(sim.cell_types, sim.time_step_h, n_frames=sim.labels.shape[0])
    _write_csv(gt_dir / "counts.csv", counts)
