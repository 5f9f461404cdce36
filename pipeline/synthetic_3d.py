"""The geometry of the 3D synthetic organoid (`demo.<name>.ndim: 3`): a spheroid of nuclei imaged
as z-stacks with anisotropic voxels.

The lineage model (cell cycle, division, commitment, marker onset, true types, death), the
per-cell truth and the CTC writer are those of `marrowflow.synthetic` (`simulate_organoid`
dispatches here on `ndim: 3`); this module only replaces where cells are and how they are drawn:

- Positions are in pixel widths on all three axes (z too, so distances are physical); plane k of
  the stack lies at z = k * `z_anisotropy` (the z step is `pixel_size_um * z_anisotropy`).
- Founders fill a ball at the volume's centre. Every frame each cell takes a random step, is
  pulled one pixel width towards the spheroid's centroid (cohesion) and overlapping nuclei are
  pushed apart until `min_gap_px` separates them: growth and division keep the spheroid densely
  packed and make it expand.
- Nuclei are prolate ellipsoids (axis ratio 1 .. 1 + elongation along a random axis that drifts);
  daughters are born side by side along a random direction.
- Cells on the surface (within one nucleus radius of the outermost cell's distance from the
  centroid) detach at `escape_rate_per_h` and then walk straight out at half a nucleus radius
  per frame; any cell whose centre leaves the imaged volume ends its track there (`left_field`),
  with its mask clipped at the volume's faces while it is still inside.
- The image: hard ellipsoid masks (the truth; a voxel claimed by two goes to the relatively
  closer nucleus) filled with per-cell signal and a little chromatin texture, attenuated with
  depth (`exp(-z / attenuation_length_px)` from the first plane), blurred by an anisotropic
  Gaussian PSF (`psf_sigma_px` lateral, `psf_sigma_z_px` axial), on the generator's uneven
  background (the same in every plane), then Poisson and read noise, as uint16 (T, C, Z, Y, X).

Hand-written because no installed package simulates a dividing, differentiating 3D tissue with
CTC ground truth; everything is drawn from the generator's seeded random stream.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from marrowflow.synthetic import CHANNEL_NAMES, OrganoidParams, _Cell, _Simulator

__all__ = ["Simulator3D"]


class Simulator3D(_Simulator):
    """`marrowflow.synthetic`'s agent simulation with 3D geometry (see the module docstring)."""

    POS_COLUMNS = ("z", "y", "x")

    def __init__(self, p: OrganoidParams, rng: np.random.Generator):
        super().__init__(p, rng)
        self.aniso = float(p.z_anisotropy)
        self.extent = np.array([(p.z_slices - 1) * self.aniso, p.size[0] - 1, p.size[1] - 1], float)
        self.axis: dict[int, np.ndarray] = {}  # label -> unit vector of the nucleus' long axis
        self.escaped: set[int] = set()
        self.centroid = self.extent / 2.0
        self.surface_r = 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.p.z_slices,) + tuple(self.p.size)

    def new_cell(self, parent: int, pos, *, age_h: float | None = 0.0, fate: str | None = None,
                 commit_h: float = math.nan) -> _Cell:
        cell = super().new_cell(parent, pos, age_h=age_h, fate=fate, commit_h=commit_h)
        self.axis[cell.label] = _unit(self.rng.standard_normal(3))
        return cell

    def semi_axes(self, c: _Cell) -> tuple[float, float]:
        """Long and short semi-axes of the prolate nucleus (volume of the ball of `radius`)."""
        r = self.radius(c)
        return r * c.aspect ** (2.0 / 3.0), r * c.aspect ** (-1.0 / 3.0)

    def founders(self) -> list[_Cell]:
        p = self.p
        ball = 1.1 * (p.radius_px + p.min_gap_px / 2) * max(p.n_founders, 1) ** (1.0 / 3.0)
        direction = np.array([_unit(v) for v in self.rng.standard_normal((p.n_founders, 3))]).reshape(-1, 3)
        dist = ball * self.rng.random(p.n_founders) ** (1.0 / 3.0)
        cells = [self.new_cell(0, self.centroid + d * r, age_h=None) for d, r in zip(direction, dist)]
        self.relax(cells)
        return cells

    def divide(self, mother: _Cell) -> list[_Cell]:
        direction = _unit(self.rng.standard_normal(3))
        r_daughter = self.p.radius_px * mother.size_factor / math.sqrt(2.0)
        offset = (r_daughter + self.p.min_gap_px / 2 + 0.5) * direction
        kids = [self.new_cell(mother.label, mother.pos + sign * offset, fate=mother.fate,
                              commit_h=mother.commit_h) for sign in (1.0, -1.0)]
        if mother.label in self.escaped:
            self.escaped.update(k.label for k in kids)
        return kids

    def move(self, c: _Cell) -> None:
        p, rng = self.p, self.rng
        c.pos = c.pos + p.motility_px * rng.standard_normal(3)
        self.axis[c.label] = _unit(self.axis[c.label] + 0.1 * rng.standard_normal(3))
        out = c.pos - self.centroid
        dist = float(np.linalg.norm(out))
        if c.label not in self.escaped and p.escape_rate_per_h > 0 and dist >= self.surface_r - p.radius_px:
            if rng.random() < 1.0 - math.exp(-p.escape_rate_per_h * self.dt):
                self.escaped.add(c.label)
        if c.label in self.escaped:
            c.pos = c.pos + 0.5 * p.radius_px * out / max(dist, 1e-6)

    def relax(self, cells: list[_Cell], n_iter: int = 30) -> None:
        """Cohesion towards the centroid, then pairwise repulsion until nuclei are `min_gap_px` apart."""
        if not cells:
            return
        pos = np.array([c.pos for c in cells])
        bound = np.array([c.label not in self.escaped for c in cells])
        if bound.any():
            centre = pos[bound].mean(axis=0)
            towards = centre - pos[bound]
            norm = np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-6)
            pos[bound] += towards / norm * np.minimum(norm, 1.0)
        reach = np.array([self.semi_axes(c)[0] for c in cells])
        pos = self.push_apart(pos, reach, n_iter)
        for c, xyz in zip(cells, pos):
            c.pos = xyz
        if bound.any():
            self.centroid = pos[bound].mean(axis=0)
            self.surface_r = float(np.linalg.norm(pos[bound] - self.centroid, axis=1).max())

    @staticmethod
    def distances(diff: np.ndarray) -> np.ndarray:
        """Lengths of the rows of `diff` (z, y, x offsets in pixel widths)."""
        return np.linalg.norm(diff, axis=1)

    def remove_leavers(self, cells: list[_Cell]) -> list[_Cell]:
        """End the tracks of cells whose centre left the imaged volume (through any face)."""
        inside = [bool(np.all((c.pos >= 0) & (c.pos <= self.extent))) for c in cells]
        self.end_cause.update({c.label: "left_field" for c, ok in zip(cells, inside) if not ok})
        return [c for c, ok in zip(cells, inside) if ok]

    def rasterise(self, cells: list[_Cell]) -> np.ndarray:
        """(Z, Y, X) label image of the ellipsoids; a voxel claimed twice goes to the nucleus it is
        relatively closer to."""
        shape = self.shape
        labels = np.zeros(shape, np.uint32)
        best = np.full(shape, np.inf)
        scale = np.array([self.aniso, 1.0, 1.0])
        for c in cells:
            a, b = self.semi_axes(c)
            lo = np.maximum(np.floor((c.pos - a) / scale).astype(int) - 1, 0)
            hi = np.minimum(np.ceil((c.pos + a) / scale).astype(int) + 2, shape)
            if np.any(lo >= hi):
                continue
            zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            d = [zz * self.aniso - c.pos[0], yy - c.pos[1], xx - c.pos[2]]
            u = self.axis[c.label]
            along = d[0] * u[0] + d[1] * u[1] + d[2] * u[2]
            sq = d[0] ** 2 + d[1] ** 2 + d[2] ** 2
            q = along ** 2 / a ** 2 + (sq - along ** 2) / b ** 2
            win = best[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            take = (q <= 1.0) & (q < win)
            win[take] = q[take]
            labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][take] = c.label
        return labels

    def render(self, labels: np.ndarray, values: np.ndarray, bg: np.ndarray) -> np.ndarray:
        """One (C, Z, Y, X) uint16 stack; `values` (n_labels + 1, C) is the signal per label."""
        p, rng = self.p, self.rng
        signal = values[labels]  # (Z, Y, X, C)
        texture = ndimage.gaussian_filter(rng.standard_normal(labels.shape), (1.5 / self.aniso, 1.5, 1.5))
        signal[..., 0] *= 1.0 + 0.6 * texture
        depth = np.arange(labels.shape[0]) * self.aniso
        signal *= np.exp(-depth / p.attenuation_length_px)[:, None, None, None]
        sigma = (p.psf_sigma_z_px / self.aniso, p.psf_sigma_px, p.psf_sigma_px)
        out = np.empty((len(CHANNEL_NAMES),) + labels.shape, np.uint16)
        for ch in range(len(CHANNEL_NAMES)):
            img = ndimage.gaussian_filter(signal[..., ch], sigma) if any(sigma) else signal[..., ch]
            expected = np.clip(img + p.background * bg[None], 0, None)
            noisy = rng.poisson(expected) + p.read_noise * rng.standard_normal(labels.shape)
            out[ch] = np.clip(np.rint(noisy), 0, np.iinfo(np.uint16).max)
        return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)
