"""`tracking.method: auto`: choose `sparse_lap` or `motile` per sample from how crowded the cells are.

Why: `sparse_lap` is ~1000x faster and at least as good on sparse nuclei (SIM+, GOWT1), while on
colonies whose cells touch the nearest centroid is often a neighbour or a daughter and only the
overlap-aware global solve (`motile`) keeps LNK and BC(2) up (docs/tracking.md). Both readings
are about contact, so the measure is contact, from the cells table alone (positions, area_px):

    crowding = the share of detections whose nearest neighbour in the same frame lies closer than
               `CONTACT_RATIO` (1.1) times the sum of the two cells' equivalent radii

(discs closer than the sum of their radii overlap; the 10 % margin allows for masks that a
segmentation draws a pixel short of their neighbour). `motile` is chosen where crowding >=
`auto_crowding` (schema default 0.5). Measured (docs/tracking.md): synthetic colonies sparse
0.004-0.017, medium 0.987-0.991, dense 0.997-0.998; SIM+ 0.10, GOWT1 0.004 (TRA markers) and
0.35 (its 30 SEG frames), MSC (whole cells, SEG frames) 0.13.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["CONTACT_RATIO", "auto_method", "crowding"]

CONTACT_RATIO = 1.1
_NEIGHBOURS = 8  # the nearest centres searched for the smallest gap relative to the radii


def crowding(frame: np.ndarray, pos: np.ndarray, radius: np.ndarray, *, ratio: float = CONTACT_RATIO) -> float:
    """Share of detections with a neighbour of the same frame closer than `ratio` x (r_i + r_j).

    `frame` (n,), `pos` (n, ndim) and `radius` (n,) (equivalent radius, same units as `pos`).
    Among the `_NEIGHBOURS` nearest centres the one with the smallest distance over summed radii
    counts (a big neighbour a little further away may touch where a small near one does not).
    A detection alone in its frame has no neighbour. 0.0 for an empty table.
    """
    frame, pos, radius = np.asarray(frame), np.asarray(pos, dtype=np.float64), np.asarray(radius, dtype=np.float64)
    if len(frame) == 0:
        return 0.0
    close = 0
    order = np.argsort(frame, kind="stable")
    uniq, first = np.unique(frame[order], return_index=True)
    for idx in np.split(order, first[1:]):
        if len(idx) < 2:
            continue
        k = min(_NEIGHBOURS, len(idx) - 1) + 1
        dist, nn = cKDTree(pos[idx]).query(pos[idx], k=k)
        summed = radius[idx, None] + radius[idx][nn[:, 1:]]
        rel = dist[:, 1:] / np.maximum(summed, 1e-12)
        close += int(np.sum(rel.min(axis=1) < ratio))
    return close / len(frame)


def auto_method(frame: np.ndarray, pos: np.ndarray, radius: np.ndarray | None, cut: float) -> tuple[str, float | None]:
    """(method, crowding): `motile` where crowding >= `cut`, else `sparse_lap`; without radii
    (no area_px column) `sparse_lap` and None (motile needs the areas anyway)."""
    if radius is None:
        return "sparse_lap", None
    value = crowding(frame, pos, radius)
    return ("motile" if value >= cut else "sparse_lap"), value
