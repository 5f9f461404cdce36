"""Tracking: link cells over time into tracks with divisions (LAP with gap closing and splitting).

The method is the two-step linear assignment of Jaqaman et al. (2008) that `laptrack` implements,
with the candidate pairs limited by KD-trees and one sparse assignment per frame pair
(`scipy.sparse.csgraph.min_weight_full_bipartite_matching`, the solver laptrack uses); ~40k
detections/s on 2 cores where laptrack itself does < 1k/s with gap closing and splitting (its
candidate search is a pandas row loop over all segment pairs).

1. frame to frame: each cell at t links to at most one cell at t+1 (cost: squared distance over
   the squared maximum distance, plus optional size and intensity terms), or the track ends/starts;
2. segments: a segment's end joins a later segment's start across up to `gap_closing_frames`
   missed frames, and a segment's start joins a cell of the previous frame that already continues
   (a division: the mother's last frame is t, both daughters start at t+1); the division cost
   asks for daughters on opposite sides of the mother (see `_division_costs`);
3. clean-up of false divisions from segmentation errors: two touching cells segmented as one
   object for up to `merge_max_frames` frames are relinked (`_resolve_merges`), and a daughter
   seen in fewer than `min_daughter_frames` frames is a fragment, not a cell.

`method: laptrack` runs `laptrack.LapTrack` itself instead (slower; kept as the reference; steps
1-2 with laptrack's own costs, position only). `method: motile` solves all links and divisions at
once as an ILP over a candidate graph with overlap-aware costs (`marrowflow.track.motile_solver`,
`marrowflow.track.costs`; needs the masks' overlaps, `costs.movie_overlaps`, for its overlap terms).
`method: auto` (the default) picks `motile` or `sparse_lap` per sample from how crowded the
detections are (`marrowflow.track.auto`; `chosen_method` tells callers whether to count the
overlaps).
Any method can first remove the stage drift from the positions (`drift`, see
`marrowflow.track.drift`).

Output conventions (the Cell Tracking Challenge's, as py-ctcmetrics checks them): a track is
present in every frame from its first to its last; a gap-closed jump ends the track and starts a
new one whose parent is the track before the gap (a parent with one child = the same cell seen
again; with two = a division). `track_id` >= 1, `parent_track_id` 0 = none.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from marrowflow.errors import ConfigError, InputError
from marrowflow.io.checks import warn_if_no_cells
from marrowflow.schema import as_params, check_choice, check_keys, schema_fields, section_defaults, section_schema
from marrowflow.track.auto import auto_method
from marrowflow.track.costs import OVERLAP_COLUMNS, cell_scale, local_flow
from marrowflow.track.motile_solver import MotileCosts, candidate_graph, solve_windows

__all__ = ["TrackingParams", "chosen_method", "track_cells"]

log = logging.getLogger(__name__)

EPS = 1e-6
LINK_COLUMNS = ("frame", "label", "next_frame", "next_label")

_schema = schema_fields("tracking")


@dataclass(frozen=True)
class TrackingParams:
    """Tracking parameters in pixels and frames, converted from the config's `tracking` section
    (physical units) by `from_config`; the other defaults are the schema's."""

    SECTION: ClassVar[str] = "tracking"
    # config keys that `from_config` converts into max_distance_px, division_max_distance_px and
    # intensity_column instead of copying them
    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ("max_distance_um", "max_speed_um_per_h", "max_distance_px",
                                              "division_max_distance_um", "intensity_channel")

    max_distance_px: float
    division_max_distance_px: float | None = None  # None: max_distance_px
    intensity_column: str | None = None  # mean_<intensity_channel>
    z_scale: float = 1.0  # z step / pixel size: z coordinates are multiplied by it
    method: str = _schema("method")
    auto_crowding: float = _schema("auto_crowding")
    gap_closing_frames: int = _schema("gap_closing_frames")
    gap_cost_per_frame: float = _schema("gap_cost_per_frame")
    divisions: bool = _schema("divisions")
    no_division_cost: float = _schema("no_division_cost")
    division_cost: float = _schema("division_cost")
    merge_max_frames: int = _schema("merge_max_frames")
    min_daughter_frames: int = _schema("min_daughter_frames")
    division_symmetry_weight: float = _schema("division_symmetry_weight")
    new_track_cost: float = _schema("new_track_cost")
    area_weight: float = _schema("area_weight")
    intensity_weight: float = _schema("intensity_weight")
    candidate_neighbours: int = _schema("candidate_neighbours")
    distance_weight: float = _schema("distance_weight")
    overlap_weight: float = _schema("overlap_weight")
    motile_area_weight: float = _schema("motile_area_weight")
    track_start_cost: float = _schema("track_start_cost")
    track_end_cost: float = _schema("track_end_cost")
    motile_division_cost: float = _schema("motile_division_cost")
    division_area_weight: float = _schema("division_area_weight")
    division_overlap_weight: float = _schema("division_overlap_weight")
    motion_model: str = _schema("motion_model")
    window_frames: int = _schema("window_frames")
    window_overlap_frames: int = _schema("window_overlap_frames")
    drift_correction: bool = _schema("drift_correction")

    def __post_init__(self) -> None:
        check_choice(self.SECTION, "method", self.method)
        check_choice(self.SECTION, "motion_model", self.motion_model)
        if self.window_overlap_frames >= self.window_frames:
            raise ConfigError(f"tracking.window_overlap_frames ({self.window_overlap_frames}) must be smaller "
                              f"than tracking.window_frames ({self.window_frames})")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, *, pixel_size_um: float | None = None,
                    time_step_h: float | None = None, z_step_um: float | None = None) -> TrackingParams:
        """Convert the `tracking` config section (keys left out: the schema's defaults) to pixels
        per frame.

        The largest step per frame is the smallest of `max_distance_um` and
        `max_speed_um_per_h * time_step_h` (both in µm, divided by the pixel size); without a pixel
        size, `max_distance_px` is used. Unknown keys raise ConfigError.
        """
        check_keys(cfg or {}, section_schema(cls.SECTION)["properties"], cls.SECTION)
        cfg = {**section_defaults(cls.SECTION), **(cfg or {})}
        if pixel_size_um:
            d_um, speed = cfg["max_distance_um"], cfg["max_speed_um_per_h"]
            if speed is not None and time_step_h:
                d_um = min(d_um, speed * time_step_h)
            max_px = d_um / pixel_size_um
        elif cfg["max_distance_px"] is not None:
            max_px = float(cfg["max_distance_px"])
        else:
            raise ConfigError("tracking: the pixel size is unknown, so tracking.max_distance_um cannot be "
                              "converted to pixels; give the pixel size (config key image.pixel_size_um, or "
                              "in the file's metadata), or set tracking.max_distance_px")
        div_um = cfg["division_max_distance_um"]
        # daughters separate fast: by default 1.5 x the largest step of one cell
        div_px = div_um / pixel_size_um if (div_um is not None and pixel_size_um) else 1.5 * max_px
        intensity = cfg["intensity_channel"]
        z_scale = (z_step_um / pixel_size_um) if (z_step_um and pixel_size_um) else 1.0
        copied = {k: v for k, v in cfg.items() if k not in cls.CONFIG_KEYS}
        return cls(max_distance_px=float(max_px), division_max_distance_px=div_px,
                   intensity_column=f"mean_{intensity}" if intensity else None, z_scale=float(z_scale), **copied)


# ----------------------------------------------------------------------------- detections
@dataclass
class _Detections:
    """Detections sorted by (frame, label): positions in pixels (z scaled), features, frame index."""

    frame: np.ndarray
    pos: np.ndarray
    log_area: np.ndarray | None
    log_intensity: np.ndarray | None
    radius: np.ndarray | None  # equivalent radius in pixels (from area_px; 3D: of the ball), None if unknown
    starts: dict  # frame -> (first index, last index + 1)


def _detections(cells: pd.DataFrame, p: TrackingParams) -> tuple[_Detections, np.ndarray]:
    missing = [c for c in ("frame", "label", "y", "x") if c not in cells.columns]
    if missing:
        raise InputError(f"cells table: column(s) {missing} missing for tracking; found "
                         f"{list(cells.columns)}. It must come from marrowflow.measure (frame, label, y, x)")
    order = np.lexsort((cells["label"].to_numpy(), cells["frame"].to_numpy()))
    sub = cells.iloc[order]
    if sub.duplicated(["frame", "label"]).any():
        raise InputError("cells table: a (frame, label) pair appears twice; each object must have "
                         "one row per frame (rerun measure)")
    axes = ["z", "y", "x"] if "z" in cells.columns else ["y", "x"]
    pos = sub[axes].to_numpy(dtype=np.float64)
    if "z" in axes:
        pos[:, 0] *= p.z_scale
    if not np.isfinite(pos).all():
        raise InputError("cells table: non-finite coordinates in y/x/z; remove or fix those rows")
    log_area = None
    if p.area_weight > 0 and "area_px" in cells.columns:
        log_area = np.log(np.maximum(sub["area_px"].to_numpy(dtype=np.float64), 1.0))
    log_int = None
    if p.intensity_weight > 0:
        if p.intensity_column not in cells.columns:
            raise ConfigError(f"tracking.intensity_channel: column {p.intensity_column!r} is not in the "
                              f"cells table (columns: {list(cells.columns)}); name a measured channel")
        log_int = np.log(np.maximum(sub[p.intensity_column].to_numpy(dtype=np.float64), 1e-9))
    radius = None
    if "area_px" in cells.columns:
        size = np.maximum(sub["area_px"].to_numpy(dtype=np.float64), 0.0)
        # 3D: area_px counts voxels; the ball of that volume in pixel widths (z scaled like pos)
        radius = np.cbrt(3.0 * size * p.z_scale / (4.0 * np.pi)) if "z" in axes else np.sqrt(size / np.pi)
    frame = sub["frame"].to_numpy(dtype=np.int64)
    uniq, first = np.unique(frame, return_index=True)
    bounds = np.append(first, len(frame))
    starts = {int(t): (int(bounds[i]), int(bounds[i + 1])) for i, t in enumerate(uniq)}
    return _Detections(frame, pos, log_area, log_int, radius, starts), order


def _pair_costs(det: _Detections, i: np.ndarray, j: np.ndarray, d2: np.ndarray, dmax: float,
                p: TrackingParams) -> np.ndarray:
    """Normalised link cost: (d / dmax)^2 + weighted squared log ratios of area and intensity."""
    cost = d2 / dmax ** 2
    if det.log_area is not None:
        cost = cost + p.area_weight * (det.log_area[i] - det.log_area[j]) ** 2
    if det.log_intensity is not None:
        cost = cost + p.intensity_weight * (det.log_intensity[i] - det.log_intensity[j]) ** 2
    return cost


def _group_by_frame(idx: np.ndarray, frame: np.ndarray) -> dict[int, np.ndarray]:
    """{frame: detection indices} for the detections `idx` (sorted by frame already)."""
    if len(idx) == 0:
        return {}
    uniq, first = np.unique(frame[idx], return_index=True)
    return dict(zip(uniq.tolist(), np.split(idx, first[1:])))


# ----------------------------------------------------------------------------- LAP
def _solve_lap(rows: np.ndarray, cols: np.ndarray, costs: np.ndarray, n: int, m: int,
               row_alt: np.ndarray, col_alt: np.ndarray) -> np.ndarray:
    """Solve one Jaqaman assignment problem as a sparse minimum-weight matching.

    Candidate pairs (rows[k], cols[k]) between n sources and m targets cost costs[k]; leaving
    source i unassigned costs row_alt[i], target j col_alt[j]. Returns the assigned target of
    every source (-1 = none). (One matching per frame pair: LAPJVsp grows faster than linearly
    with the matrix, so a block-diagonal matrix of all frames is ~15x slower.)
    """
    if n == 0 or m == 0 or len(rows) == 0:
        return np.full(n, -1)
    min_val = min(row_alt.min(), col_alt.min())
    # upper left: candidate links; upper right: sources end; lower left: targets start;
    # lower right: the transposed candidates at the smallest alternative cost.
    r = np.concatenate([rows, np.arange(n), n + np.arange(m), n + cols])
    c = np.concatenate([cols, m + np.arange(n), np.arange(m), m + rows])
    v = np.concatenate([costs, row_alt, col_alt, np.full(len(rows), min_val)]) + EPS
    matrix = coo_matrix((v, (r, c)), shape=(n + m, n + m)).tocsr()
    row_ind, col_ind = min_weight_full_bipartite_matching(matrix)
    assigned = np.empty(n + m, dtype=np.int64)
    assigned[row_ind] = col_ind
    return np.where(assigned[:n] < m, assigned[:n], -1)


def _link_frames(det: _Detections, p: TrackingParams, blocked_src: np.ndarray,
                 blocked_dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 1: frame-to-frame links (global source, target index arrays)."""
    src, dst = [], []
    trees = {t: cKDTree(det.pos[a:b]) for t, (a, b) in det.starts.items()}
    for t in sorted(det.starts):
        if t + 1 not in det.starts:
            continue
        a0, b0 = det.starts[t][0], det.starts[t + 1][0]
        sdm = trees[t].sparse_distance_matrix(trees[t + 1], p.max_distance_px, output_type="ndarray")
        i, j, d2 = sdm["i"] + a0, sdm["j"] + b0, sdm["v"] ** 2
        keep = ~blocked_src[i] & ~blocked_dst[j]
        i, j, d2 = i[keep], j[keep], d2[keep]
        cost = _pair_costs(det, i, j, d2, p.max_distance_px, p)
        n, m = det.starts[t][1] - a0, det.starts[t + 1][1] - b0
        assigned = _solve_lap(i - a0, j - b0, cost, n, m, np.full(n, p.new_track_cost),
                              np.full(m, p.new_track_cost))
        ok = np.flatnonzero(assigned >= 0)
        src.append(ok + a0)
        dst.append(assigned[ok] + b0)
    if not src:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(src), np.concatenate(dst)


def _division_costs(det: _Detections, mother: np.ndarray, sibling: np.ndarray, daughter: np.ndarray,
                     dmax: float, p: TrackingParams) -> np.ndarray:
    """Cost of `mother` (frame t) dividing into `sibling` (its continuation at t+1) and `daughter`.

    Daughters move apart on opposite sides of the mother: the cost is `division_cost` (so that a
    gap-closing link from a track that ended nearby, e.g. two touching cells segmented as one for
    a frame, explains a new object better than a division does), plus the squared distance from
    the mother to the daughters' midpoint over dmax^2, plus `division_symmetry_weight` times the
    squared relative difference of the two daughters' distances to the mother (0 when both moved
    equally far, 1 when one stayed put: the usual false division is a cell that just continues
    while an unrelated new object appears nearby), plus `area_weight` times the squared log
    ratio of the daughters' areas.
    """
    mid = 0.5 * (det.pos[sibling] + det.pos[daughter])
    cost = p.division_cost + np.sum((det.pos[mother] - mid) ** 2, axis=1) / dmax ** 2
    d_sib = np.linalg.norm(det.pos[sibling] - det.pos[mother], axis=1)
    d_dau = np.linalg.norm(det.pos[daughter] - det.pos[mother], axis=1)
    asym = (d_sib - d_dau) / np.maximum(d_sib + d_dau, EPS)
    cost = cost + p.division_symmetry_weight * asym ** 2
    if det.log_area is not None:
        cost = cost + p.area_weight * (det.log_area[sibling] - det.log_area[daughter]) ** 2
    return cost


def _close_gaps_and_divisions(det: _Detections, p: TrackingParams, nxt: np.ndarray, prv: np.ndarray,
                              blocked_src: np.ndarray, blocked_dst: np.ndarray):
    """Step 2: join segment ends to later segment starts (gaps) and starts to mothers (divisions).

    Returns (gap_src, gap_dst, div_mother, div_daughter) as global detection indices.
    """
    n = len(det.frame)
    is_end = (nxt < 0) & ~blocked_src
    is_start = (prv < 0) & ~blocked_dst
    ends, starts = np.flatnonzero(is_end), np.flatnonzero(is_start)
    # Candidates: rows = segment ends (gap closing) then mothers (cells that continue), cols = starts.
    rows, cols, costs = [], [], []
    end_by_frame = _group_by_frame(ends, det.frame)
    start_by_frame = _group_by_frame(starts, det.frame)
    trees = {t: cKDTree(det.pos[idx]) for t, idx in start_by_frame.items()}
    # gaps: dt = 1 offers again the links step 1 left out, dt > 1 skips dt - 1 frames
    for t, e_idx in end_by_frame.items():
        e_tree = cKDTree(det.pos[e_idx])
        for dt in range(1, p.gap_closing_frames + 2):
            if t + dt not in trees:
                continue
            s_idx = start_by_frame[t + dt]
            radius = p.max_distance_px * np.sqrt(dt)
            sdm = e_tree.sparse_distance_matrix(trees[t + dt], radius, output_type="ndarray")
            i, j = e_idx[sdm["i"]], s_idx[sdm["j"]]
            c = _pair_costs(det, i, j, sdm["v"] ** 2, radius, p) + p.gap_cost_per_frame * (dt - 1)
            rows.append(i)
            cols.append(j)
            costs.append(c)
    mothers = np.zeros(0, np.int64)
    if p.divisions:
        dmax = p.division_max_distance_px or p.max_distance_px
        continuing = np.flatnonzero((nxt >= 0) & ~blocked_src)
        mothers_by_frame = _group_by_frame(continuing, det.frame)
        m_rows, m_cols, m_costs = [], [], []
        for t, s_idx in start_by_frame.items():
            if t - 1 not in mothers_by_frame:
                continue
            m_idx = mothers_by_frame[t - 1]
            sdm = cKDTree(det.pos[m_idx]).sparse_distance_matrix(trees[t], dmax, output_type="ndarray")
            mother, daughter = m_idx[sdm["i"]], s_idx[sdm["j"]]
            c = _division_costs(det, mother, nxt[mother], daughter, dmax, p)
            m_rows.append(mother)
            m_cols.append(daughter)
            m_costs.append(c)
        if m_rows:
            mothers = np.unique(np.concatenate(m_rows))
            rows.append(np.concatenate(m_rows))
            cols.append(np.concatenate(m_cols))
            costs.append(np.concatenate(m_costs))
    if not rows:
        return (np.zeros(0, np.int64),) * 4
    row_nodes = np.concatenate([ends, mothers])
    row_pos = np.full(n, -1)  # ends and mothers are disjoint: a mother continues, an end does not
    row_pos[row_nodes] = np.arange(len(row_nodes))
    col_pos = np.full(n, -1)
    col_pos[starts] = np.arange(len(starts))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(costs)
    row_alt = np.concatenate([np.full(len(ends), p.new_track_cost), np.full(len(mothers), p.no_division_cost)])
    col_alt = np.full(len(starts), p.new_track_cost)
    assigned = _solve_lap(row_pos[r], col_pos[c], v, len(row_nodes), len(starts), row_alt, col_alt)
    src_rows = np.flatnonzero(assigned >= 0)
    src = row_nodes[src_rows]
    dst = starts[assigned[src_rows]]
    is_div = src_rows >= len(ends)
    return src[~is_div], dst[~is_div], src[is_div], dst[is_div]


# ----------------------------------------------------------------------------- tracks
def _fixed_link_indices(cells_sorted: pd.DataFrame, fixed_links: pd.DataFrame | None):
    if fixed_links is None or len(fixed_links) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    missing = [c for c in LINK_COLUMNS if c not in fixed_links.columns]
    if missing:
        raise InputError(f"fixed_links: column(s) {missing} missing; expected {list(LINK_COLUMNS)}")
    key = pd.MultiIndex.from_arrays([cells_sorted["frame"].to_numpy(), cells_sorted["label"].to_numpy()])
    index = pd.Series(np.arange(len(cells_sorted)), index=key)
    a = index.reindex(pd.MultiIndex.from_arrays([fixed_links["frame"], fixed_links["label"]]))
    b = index.reindex(pd.MultiIndex.from_arrays([fixed_links["next_frame"], fixed_links["next_label"]]))
    bad = a.isna().to_numpy() | b.isna().to_numpy()
    if bad.any():
        raise InputError(f"fixed_links: {int(bad.sum())} link(s) name a (frame, label) that is not in "
                         f"the cells table, e.g. {fixed_links[bad].iloc[0].to_dict()}; re-export the review")
    src, dst = a.to_numpy(np.int64), b.to_numpy(np.int64)
    if (fixed_links["next_frame"].to_numpy() <= fixed_links["frame"].to_numpy()).any():
        raise InputError("fixed_links: every link must go forward in time (next_frame > frame)")
    return src, dst


def _assign_tracks(frame: np.ndarray, edges_src: np.ndarray, edges_dst: np.ndarray):
    """Track ids (CTC convention) from a forest of links: a track is a chain of one-to-one links
    between consecutive frames; any other link (division, gap) starts a new track whose parent is
    the source's track. Returns (track_id, parent_track_id) per detection, ids 1.. by first frame."""
    n = len(frame)
    n_children = np.bincount(edges_src, minlength=n)
    if np.bincount(edges_dst, minlength=n).max(initial=0) > 1:
        raise InputError("tracking links: a cell has two predecessors (a merge); merges are not supported")
    chain = (n_children[edges_src] == 1) & (frame[edges_dst] == frame[edges_src] + 1)
    graph = coo_matrix((np.ones(chain.sum()), (edges_src[chain], edges_dst[chain])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    # number the components by (first frame, index of the first detection)
    first = pd.DataFrame({"comp": comp, "frame": frame, "idx": np.arange(n)}).groupby("comp").min()
    rank = np.empty(len(first), dtype=np.int64)
    rank[first.sort_values(["frame", "idx"]).index.to_numpy()] = np.arange(1, len(first) + 1)
    track_id = rank[comp]
    parent = np.zeros(n, dtype=np.int64)
    other = ~chain
    parent[edges_dst[other]] = track_id[edges_src[other]]
    # the parent is a property of the whole track: spread it from the track's first detection
    parent_of_track = pd.Series(parent).groupby(track_id).max()
    return track_id, parent_of_track.reindex(track_id).to_numpy()


def _resolve_merges(det: _Detections, p: TrackingParams, nxt: np.ndarray, blocked_src: np.ndarray,
                    gaps: tuple[np.ndarray, np.ndarray], divisions: tuple[np.ndarray, np.ndarray]):
    """Undo divisions that are two touching cells seen as one object for a few frames.

    Pattern: track A's last cell (frame e) lies inside cell B's object at e + 1 (closer than that
    object's equivalent radius, or than max_distance without areas), and
    B's object "divides" at t <= e + merge_max_frames, one daughter within one step of where A
    disappeared. Then A and B were merged by the segmentation and separate again: A continues
    (a gap-closing link) to that daughter and B to the other; no division. Returns the updated
    (nxt, gaps, divisions).
    """
    (g_src, g_dst), (m_src, m_dst) = gaps, divisions
    n = len(det.frame)
    has_out = (nxt >= 0) | blocked_src
    has_out[g_src] = True
    has_out[m_src] = True
    ends = np.flatnonzero(~has_out)
    if len(ends) == 0 or len(m_src) == 0:
        return nxt, gaps, divisions
    prv = np.full(n, -1)
    prv[nxt[nxt >= 0]] = np.flatnonzero(nxt >= 0)
    nxt = nxt.copy()
    tree = cKDTree(det.pos[ends])
    d2max, used = p.max_distance_px ** 2, np.zeros(n, bool)
    keep = np.ones(len(m_src), bool)
    new_src, new_dst = [], []
    for k in np.argsort(m_src, kind="stable"):
        m, d = m_src[k], m_dst[k]
        sib, t = nxt[m], det.frame[m]
        chain = {int(det.frame[m]): m}  # B's cells back in time, frame -> detection
        node = m
        while prv[node] >= 0 and det.frame[node] > t - p.merge_max_frames:
            node = prv[node]
            chain[int(det.frame[node])] = node
        best = None
        for e in ends[tree.query_ball_point(det.pos[m], p.max_distance_px * (p.merge_max_frames + 1))]:
            into = chain.get(int(det.frame[e]) + 1)
            if used[e] or into is None or det.frame[e] >= t:
                continue
            inside = p.max_distance_px if det.radius is None else min(p.max_distance_px, det.radius[into])
            if np.sum((det.pos[e] - det.pos[into]) ** 2) > inside ** 2:
                continue
            for a, b in ((d, sib), (sib, d)):  # A takes a, B continues to b
                d2a = np.sum((det.pos[e] - det.pos[a]) ** 2)
                cost = d2a + np.sum((det.pos[m] - det.pos[b]) ** 2)
                if d2a <= d2max and (best is None or cost < best[0]):
                    best = (cost, e, a, b)
        if best is None:
            continue
        _, e, a, b = best
        used[e], keep[k], nxt[m] = True, False, b
        new_src.append(e)
        new_dst.append(a)
    gaps = (np.concatenate([g_src, np.array(new_src, np.int64)]), np.concatenate([g_dst, np.array(new_dst, np.int64)]))
    return nxt, gaps, (m_src[keep], m_dst[keep])


def _drop_fragment_divisions(det: _Detections, p: TrackingParams, nxt: np.ndarray,
                             gaps: tuple[np.ndarray, np.ndarray], divisions: tuple[np.ndarray, np.ndarray]):
    """Drop divisions with a daughter seen in fewer than `min_daughter_frames` frames that then
    vanishes before the movie's last frame without dividing: a fragment of an over-segmented
    cell, not a cell. The fragment stays as a track of its own."""
    m_src, m_dst = divisions
    if p.min_daughter_frames <= 1 or len(m_src) == 0:
        return divisions
    after = nxt.copy()
    after[gaps[0]] = gaps[1]
    divides = np.zeros(len(det.frame), bool)
    divides[m_src] = True
    last_frame = det.frame.max()
    keep = np.ones(len(m_src), bool)
    for k, d in enumerate(m_dst):
        seen, node = 1, d
        while after[node] >= 0 and seen < p.min_daughter_frames and not divides[node]:
            node = after[node]
            seen += 1
        if seen < p.min_daughter_frames and not divides[node] and det.frame[node] < last_frame:
            keep[k] = False
    return m_src[keep], m_dst[keep]


def _links_sparse_lap(det: _Detections, p: TrackingParams, fixed_src: np.ndarray, fixed_dst: np.ndarray):
    n = len(det.frame)
    blocked_src = np.zeros(n, bool)
    blocked_dst = np.zeros(n, bool)
    blocked_src[fixed_src] = True
    blocked_dst[fixed_dst] = True
    src, dst = _link_frames(det, p, blocked_src, blocked_dst)
    nxt = np.full(n, -1)
    prv = np.full(n, -1)
    nxt[src] = dst
    prv[dst] = src
    one_step = det.frame[fixed_dst] == det.frame[fixed_src] + 1
    nxt[fixed_src[one_step]] = fixed_dst[one_step]
    prv[fixed_dst] = fixed_src
    g_src, g_dst, m_src, m_dst = _close_gaps_and_divisions(det, p, nxt, prv, blocked_src, blocked_dst)
    if p.divisions and p.merge_max_frames > 0:
        nxt, (g_src, g_dst), (m_src, m_dst) = _resolve_merges(det, p, nxt, blocked_src, (g_src, g_dst),
                                                              (m_src, m_dst))
    m_src, m_dst = _drop_fragment_divisions(det, p, nxt, (g_src, g_dst), (m_src, m_dst))
    src = np.flatnonzero((nxt >= 0) & ~blocked_src)
    return (np.concatenate([src, g_src, m_src, fixed_src]).astype(np.int64),
            np.concatenate([nxt[src], g_dst, m_dst, fixed_dst]).astype(np.int64))


def _links_laptrack(det: _Detections, p: TrackingParams, fixed_src: np.ndarray, fixed_dst: np.ndarray):
    """The reference path: laptrack.LapTrack on positions (size/intensity terms not used)."""
    from laptrack import LapTrack

    frames = np.arange(det.frame.max() + 1) if len(det.frame) else np.zeros(0, int)
    coords = [det.pos[slice(*det.starts[t])] if t in det.starts else np.zeros((0, det.pos.shape[1]))
              for t in frames]
    d2 = p.max_distance_px ** 2
    alt = d2 * p.new_track_cost
    lt = LapTrack(cutoff=d2, gap_closing_cutoff=d2 * (p.gap_closing_frames + 1),
                  gap_closing_max_frame_count=p.gap_closing_frames + 1,
                  splitting_cutoff=(p.division_max_distance_px or p.max_distance_px) ** 2 if p.divisions else False,
                  track_start_cost=alt, track_end_cost=alt, segment_start_cost=alt, segment_end_cost=alt,
                  no_splitting_cost=d2 * p.no_division_cost, no_merging_cost=alt)
    connected = [((int(det.frame[a]), a - det.starts[int(det.frame[a])][0]),
                  (int(det.frame[b]), b - det.starts[int(det.frame[b])][0])) for a, b in zip(fixed_src, fixed_dst)]
    tree = lt.predict(coords, connected_edges=connected or None)
    edges = np.array([(det.starts[a[0]][0] + a[1], det.starts[b[0]][0] + b[1]) for a, b in tree.edges()],
                     dtype=np.int64).reshape(-1, 2)
    return edges[:, 0], edges[:, 1]


def _overlap_indices(cells_sorted: pd.DataFrame, overlaps: pd.DataFrame | None) -> np.ndarray:
    """(k, 3) array of (detection at t, detection at t+1, shared pixels) from an overlaps table."""
    if overlaps is None or len(overlaps) == 0:
        return np.zeros((0, 3), np.int64)
    missing = [c for c in OVERLAP_COLUMNS if c not in overlaps.columns]
    if missing:
        raise InputError(f"overlaps: column(s) {missing} missing; expected {list(OVERLAP_COLUMNS)} "
                         "(marrowflow.track.costs.movie_overlaps)")
    key = pd.MultiIndex.from_arrays([cells_sorted["frame"].to_numpy(), cells_sorted["label"].to_numpy()])
    index = pd.Series(np.arange(len(cells_sorted)), index=key)
    a = index.reindex(pd.MultiIndex.from_arrays([overlaps["frame"], overlaps["label"]])).to_numpy()
    b = index.reindex(pd.MultiIndex.from_arrays([overlaps["frame"] + 1, overlaps["next_label"]])).to_numpy()
    ok = ~(np.isnan(a) | np.isnan(b))  # objects the cells table dropped (e.g. too small) have no row
    return np.stack([a[ok], b[ok], overlaps["overlap_px"].to_numpy()[ok]], axis=1).astype(np.int64)


def _predicted_positions(det: _Detections, overlaps: np.ndarray, area: np.ndarray, model: str) -> np.ndarray:
    """Each detection's expected position in the next frame under the motion model."""
    if model == "none" or len(overlaps) == 0:
        return det.pos
    # provisional steps: each cell's best-IoU match in the next frame
    a, b, shared = overlaps[:, 0], overlaps[:, 1], overlaps[:, 2].astype(np.float64)
    iou = shared / (area[a] + area[b] - shared)
    order = np.lexsort((-iou, a))
    first = np.r_[True, a[order][1:] != a[order][:-1]]
    src, dst = a[order][first], b[order][first]
    if model == "flow":
        return det.pos + local_flow(det.pos, det.frame, src, dst)
    step = np.zeros_like(det.pos)  # own: repeat the step from the best-IoU predecessor
    back = np.lexsort((-iou, b))
    firstb = np.r_[True, b[back][1:] != b[back][:-1]]
    child, parent = b[back][firstb], a[back][firstb]
    step[child] = det.pos[child] - det.pos[parent]
    return det.pos + step


def _links_motile(det: _Detections, p: TrackingParams, fixed_src: np.ndarray, fixed_dst: np.ndarray,
                  overlaps: np.ndarray, area: np.ndarray):
    """Global links and divisions: one ILP per window (`marrowflow.track.motile_solver`)."""
    costs = MotileCosts(candidate_neighbours=p.candidate_neighbours, max_distance_px=p.max_distance_px,
                        distance_weight=p.distance_weight, overlap_weight=p.overlap_weight,
                        area_weight=p.motile_area_weight, track_start_cost=p.track_start_cost,
                        track_end_cost=p.track_end_cost, division_cost=p.motile_division_cost,
                        division_area_weight=p.division_area_weight,
                        division_overlap_weight=p.division_overlap_weight)
    predicted = _predicted_positions(det, overlaps, area, p.motion_model)
    ndim = det.pos.shape[1]  # 3D: voxels of z_scale pixel widths in z, like the positions
    scale = cell_scale(area * (p.z_scale if ndim == 3 else 1.0), ndim=ndim)
    fixed = (fixed_src, fixed_dst) if len(fixed_src) else None
    graph = candidate_graph(det.frame, det.pos, area, overlaps, predicted, scale, costs,
                            divisions=p.divisions, fixed=fixed)
    return solve_windows(graph, costs, window_frames=p.window_frames, window_overlap_frames=p.window_overlap_frames,
                         divisions=p.divisions, fixed=fixed)


def _remove_drift(cells: pd.DataFrame, drift: pd.DataFrame) -> pd.DataFrame:
    """Positions minus the cumulative stage drift of their frame (drift columns frame, d<axis>)."""
    axes = [a for a in ("z", "y", "x") if a in cells.columns and f"d{a}" in drift.columns]
    if "frame" not in drift.columns or not axes:
        raise InputError(f"drift table: expected columns frame and dy, dx (found {list(drift.columns)}); "
                         "it must come from marrowflow.track.drift.estimate_drift")
    shift = drift.set_index("frame")[[f"d{a}" for a in axes]].reindex(cells["frame"].to_numpy())
    if shift.isna().any().any():
        raise InputError("drift table: some frames of the cells table have no drift row; re-estimate the drift")
    out = cells.copy()
    for a in axes:
        out[a] = cells[a].to_numpy(np.float64) - shift[f"d{a}"].to_numpy()
    return out


def _resolve(det: _Detections, p: TrackingParams, *,
             overlaps_given: bool = True) -> tuple[TrackingParams, float | None]:
    """`p` with `method: auto` replaced by the method the detections' crowding picks (logged).
    Crowded but without the masks' overlaps (`overlaps_given` False), auto keeps `sparse_lap`:
    motile's costs rest on them."""
    if p.method != "auto":
        return p, None
    method, value = auto_method(det.frame, det.pos, det.radius, p.auto_crowding)
    if value is None:
        log.info("tracking.method auto: no area_px column, so no crowding figure; using sparse_lap")
    elif method == "motile" and not overlaps_given:
        method = "sparse_lap"
        log.warning("tracking.method auto: crowding %.3f >= tracking.auto_crowding %.2f asks for motile, but no "
                    "mask overlaps were given (marrowflow.track.costs.movie_overlaps); using sparse_lap",
                    value, p.auto_crowding)
    else:
        log.info("tracking.method auto: crowding %.3f (share of cells touching a neighbour) %s "
                 "tracking.auto_crowding %.2f: using %s", value, ">=" if method == "motile" else "<",
                 p.auto_crowding, method)
    return dataclasses.replace(p, method=method), value


def chosen_method(cells: pd.DataFrame, params: TrackingParams | Mapping[str, Any] | None, *,
                  pixel_size_um: float | None = None, time_step_h: float | None = None,
                  z_step_um: float | None = None) -> str:
    """The method `track_cells` uses for this cells table when given the masks' overlaps:
    `method: auto` resolved by the cells' crowding (`marrowflow.track.auto`), any other method as
    set. Callers use it to decide whether to count the overlaps (only motile needs them)."""
    p = as_params(TrackingParams, params, pixel_size_um=pixel_size_um, time_step_h=time_step_h,
                  z_step_um=z_step_um)
    if p.method != "auto" or len(cells) == 0:
        return p.method if p.method != "auto" else "sparse_lap"
    det, _ = _detections(cells, p)
    return auto_method(det.frame, det.pos, det.radius, p.auto_crowding)[0]


def track_cells(cells: pd.DataFrame, params: TrackingParams | Mapping[str, Any] | None, *,
                pixel_size_um: float | None = None, time_step_h: float | None = None,
                z_step_um: float | None = None, fixed_links: pd.DataFrame | None = None,
                overlaps: pd.DataFrame | None = None, drift: pd.DataFrame | None = None) -> pd.DataFrame:
    """Link the cells of a movie into tracks; return `cells` + `track_id`, `parent_track_id`.

    `params`: the tracking parameters, or the config's `tracking` section, converted to pixels
    with `pixel_size_um`, `time_step_h` and `z_step_um` (which a `TrackingParams`, already in
    pixels, does not need). `fixed_links` (columns frame, label, next_frame, next_label) are links
    a person confirmed in review: they are kept as given, and the cells they join take part in no
    other link on that side (two links from one cell = a confirmed division). `overlaps`
    (`marrowflow.track.costs.movie_overlaps` of the label frames) feed the overlap terms of
    `method: motile`; without them its costs use distance and area only. `drift` (columns frame,
    dy, dx[, dz]: `marrowflow.track.drift.estimate_drift`) is subtracted from the positions
    before linking (the output keeps the measured positions). Rows keep the input order; the
    input table is not modified. `method: auto` is resolved here (`chosen_method`); the output's
    `attrs["tracking"]` records the method asked for, the one used and the crowding figure.
    """
    p = as_params(TrackingParams, params, pixel_size_um=pixel_size_um, time_step_h=time_step_h,
                  z_step_um=z_step_um)
    out = cells.copy()
    if warn_if_no_cells(len(cells), "track", "the tracks table is empty"):
        out["track_id"] = pd.Series(dtype=np.int64)
        out["parent_track_id"] = pd.Series(dtype=np.int64)
        return out
    det, order = _detections(cells if drift is None else _remove_drift(cells, drift), p)
    requested = p.method
    p, crowding_value = _resolve(det, p, overlaps_given=overlaps is not None)
    fixed_src, fixed_dst = _fixed_link_indices(cells.iloc[order], fixed_links)
    if p.method == "motile":
        if "area_px" not in cells.columns:
            raise InputError("cells table: column area_px missing; tracking.method motile needs the objects' "
                             "areas (measure them with marrowflow.measure)")
        area = cells["area_px"].to_numpy(np.float64)[order]
        src, dst = _links_motile(det, p, fixed_src, fixed_dst, _overlap_indices(cells.iloc[order], overlaps), area)
    else:
        link = _links_laptrack if p.method == "laptrack" else _links_sparse_lap
        src, dst = link(det, p, fixed_src, fixed_dst)
    track_id, parent = _assign_tracks(det.frame, src, dst)
    tid = np.empty(len(cells), dtype=np.int64)
    par = np.empty(len(cells), dtype=np.int64)
    tid[order] = track_id
    par[order] = parent
    out["track_id"] = tid
    out["parent_track_id"] = par
    out.attrs["tracking"] = {"method_requested": requested, "method": p.method, "crowding": crowding_value}
    return out
