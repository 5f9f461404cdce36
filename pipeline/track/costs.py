"""Overlap-aware costs between consecutive frames for the global tracker (`method: motile`).

Hand-written because the costs depend on the label masks, which no tracking library computes
from a label stack the way the pipeline stores it (frame by frame): motile takes costs as given,
laptrack and trackpy use centroids only. Everything is scale-free: distances are in units of the
cells' own radius, estimated from the data (`cell_scale`), areas enter as log ratios, overlaps as
fractions.

- link i (frame t) -> j (t+1): the smaller of two readings, the same cell (`link_costs`:
  `distance_weight` (d / s)^2 + `overlap_weight` (1 - IoU) + `area_weight` log(a_j / a_i)^2,
  with d measured from i's predicted position (motion model) and s the cell radius) or a
  daughter of i (`daughter_link_costs`);
- division m -> (d1, d2): `division_cost` + `distance_weight` (distance from m to the daughters'
  midpoint / s)^2 + `division_area_weight` log((a1 + a2) / a_m)^2 (daughters' areas add up to
  about the mother's) + `division_overlap_weight` (the fraction of the daughters' pixels that lie
  inside the masks of *other* objects of the mother's frame). Only other cells' pixels count:
  a daughter that jumps into empty space (sparse nuclei, SIM+ and GOWT1) is no evidence against
  the division, one that sits in a neighbour's mask is (a dense colony). The graph passes each
  daughter's covered pixels (`covered_px`); without them the older reading (1 - fraction inside
  the mother) is used.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

__all__ = ["cell_scale", "daughter_link_costs", "division_pair_costs", "frame_overlaps", "link_costs", "local_flow",
           "movie_overlaps", "shift_labels"]

OVERLAP_COLUMNS = ("frame", "label", "next_label", "overlap_px")


def shift_labels(labels: np.ndarray, shift: Iterable[int]) -> np.ndarray:
    """`labels` moved by whole pixels along its last axes (zeros fill what comes in)."""
    shift = tuple(int(s) for s in shift)
    out = np.zeros_like(labels)
    nd = len(shift)
    src = [slice(None)] * (labels.ndim - nd)
    dst = [slice(None)] * (labels.ndim - nd)
    for s, n in zip(shift, labels.shape[-nd:]):
        if abs(s) >= n:
            return out
        src.append(slice(max(0, -s), n - max(0, s)))
        dst.append(slice(max(0, s), n - max(0, -s)))
    out[tuple(dst)] = labels[tuple(src)]
    return out


def frame_overlaps(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """Pixels shared by each object of `a` and each object of `b` (same shape): columns label,
    next_label, overlap_px; only pairs that overlap."""
    if a.shape != b.shape:
        raise ValueError(f"frame_overlaps: frames of different shapes {a.shape} and {b.shape}")
    both = (a > 0) & (b > 0)
    la = a[both].astype(np.int64)
    lb = b[both].astype(np.int64)
    base = int(lb.max(initial=0)) + 1
    keys, counts = np.unique(la * base + lb, return_counts=True)
    return pd.DataFrame({"label": keys // base, "next_label": keys % base, "overlap_px": counts})


def movie_overlaps(label_frames: Iterable[np.ndarray], drift: np.ndarray | None = None) -> pd.DataFrame:
    """Overlaps of every pair of consecutive frames (columns frame, label, next_label,
    overlap_px; `frame` is the earlier one), read one frame at a time.

    `drift`: cumulative stage drift per frame (T, ndim) in pixels (`marrowflow.track.drift`);
    frame t+1 is moved back by the step between t and t+1 before the overlap is counted.
    """
    tables, prev = [], None
    for t, frame in enumerate(label_frames):
        frame = np.asarray(frame)
        if prev is not None:
            cur = frame
            if drift is not None:
                step = np.round(drift[t] - drift[t - 1]).astype(int)
                if step.any():
                    cur = shift_labels(frame, -step)
            ov = frame_overlaps(prev, cur)
            ov.insert(0, "frame", t - 1)
            tables.append(ov)
        prev = frame
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in OVERLAP_COLUMNS})
    return pd.concat(tables, ignore_index=True).astype(np.int64)


def cell_scale(area_px: np.ndarray, ndim: int = 2) -> float:
    """The cells' typical radius in pixels: the median equivalent radius of all objects."""
    area = np.asarray(area_px, dtype=np.float64)
    area = area[area > 0]
    if len(area) == 0:
        return 1.0
    r = np.sqrt(area / np.pi) if ndim == 2 else np.cbrt(3 * area / (4 * np.pi))
    return float(max(np.median(r), 1.0))


def local_flow(pos: np.ndarray, frame: np.ndarray, src: np.ndarray, dst: np.ndarray,
               neighbours: int = 8) -> np.ndarray:
    """Predicted displacement of every detection to the next frame from the local flow: the
    median step of its `neighbours` nearest detections of the same frame that have a
    provisional link (`src` -> `dst`, e.g. the best-overlap matches). Zero where none."""
    flow = np.zeros_like(pos)
    step = np.full(pos.shape, np.nan)
    step[src] = pos[dst] - pos[src]
    for t in np.unique(frame):
        idx = np.flatnonzero(frame == t)
        known = idx[np.isfinite(step[idx, 0])]
        if len(known) == 0:
            continue
        k = min(neighbours, len(known))
        _, nn = cKDTree(pos[known]).query(pos[idx], k=k)
        nn = np.asarray(nn).reshape(len(idx), k)
        flow[idx] = np.median(step[known][nn], axis=1)
    return flow


def link_costs(pos_from: np.ndarray, pos_to: np.ndarray, area_from: np.ndarray, area_to: np.ndarray,
               overlap_px: np.ndarray, scale: float, *, distance_weight: float, overlap_weight: float,
               area_weight: float) -> np.ndarray:
    """Cost of each candidate link (rows of the arrays): see the module docstring."""
    d2 = np.sum((pos_to - pos_from) ** 2, axis=1) / scale ** 2
    iou = overlap_px / np.maximum(area_from + area_to - overlap_px, 1.0)
    log_ratio = np.log(np.maximum(area_to, 1.0) / np.maximum(area_from, 1.0))
    return distance_weight * d2 + overlap_weight * (1.0 - iou) + area_weight * log_ratio ** 2


def daughter_link_costs(pos_from: np.ndarray, pos_to: np.ndarray, area_from: np.ndarray, area_to: np.ndarray,
                        overlap_px: np.ndarray, scale: float, *, distance_weight: float, overlap_weight: float,
                        area_weight: float, covered_px: np.ndarray | None = None) -> np.ndarray:
    """Cost of each candidate link read as mother -> daughter: the daughter lies inside the
    mother's mask (`overlap_weight` (1 - overlap / daughter's area)), has about half its area
    (`area_weight` log(2 a_j / a_i)^2) and its centre within one cell radius of the mother's
    (`distance_weight` max(0, d / s - 1)^2). A division pays this for both daughters plus
    `division_pair_costs`, so a true division is not charged for the daughters being smaller
    than, and offset from, the mother.

    `covered_px`: the daughter's pixels inside any object of the earlier frame. Given, only the
    pixels inside *other* objects count against it (`overlap_weight` (covered - overlap) /
    daughter's area): a daughter that moved into empty space is no evidence against its mother
    (sparse nuclei, whose daughters jump apart), one sitting in a neighbour's mask is."""
    d = np.sqrt(np.sum((pos_to - pos_from) ** 2, axis=1)) / scale
    area_j = np.maximum(area_to, 1.0)
    outside = 1.0 - overlap_px / area_j if covered_px is None else np.maximum(covered_px - overlap_px, 0.0) / area_j
    log_ratio = np.log(2.0 * area_j / np.maximum(area_from, 1.0))
    return (distance_weight * np.maximum(d - 1.0, 0.0) ** 2 + overlap_weight * np.clip(outside, 0.0, 1.0)
            + area_weight * log_ratio ** 2)


def division_pair_costs(pos_mother: np.ndarray, pos_1: np.ndarray, pos_2: np.ndarray,
                        area_mother: np.ndarray, area_1: np.ndarray, area_2: np.ndarray,
                        overlap_1: np.ndarray, overlap_2: np.ndarray, scale: float, *,
                        division_cost: float, distance_weight: float, area_weight: float,
                        overlap_weight: float, covered_1: np.ndarray | None = None,
                        covered_2: np.ndarray | None = None) -> np.ndarray:
    """Cost of each candidate division (mother, daughter 1, daughter 2): see the module docstring.

    `pos_mother` is the mother's predicted position; overlaps are the daughters' pixels inside
    the mother's mask. `covered_1`, `covered_2`: the daughters' pixels inside any object of the
    mother's frame; given, only pixels inside other objects count against the division (as in
    `daughter_link_costs`)."""
    mid = (pos_1 + pos_2) / 2.0
    d2 = np.sum((mid - pos_mother) ** 2, axis=1) / scale ** 2
    area_d = np.maximum(area_1 + area_2, 1.0)
    conserve = np.log(area_d / np.maximum(area_mother, 1.0)) ** 2
    if covered_1 is None or covered_2 is None:
        outside = 1.0 - (overlap_1 + overlap_2) / area_d
    else:
        outside = (np.maximum(covered_1 - overlap_1, 0.0) + np.maximum(covered_2 - overlap_2, 0.0)) / area_d
    return (division_cost + distance_weight * d2 + area_weight * conserve
            + overlap_weight * np.clip(outside, 0.0, 1.0))
