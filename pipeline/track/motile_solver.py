"""Global tracking (`tracking.method: motile`): one ILP over a candidate graph, solved by motile
with ilpy and SCIP, in overlapping time windows for long movies.

The candidate graph: each detection links to its `candidate_neighbours` nearest detections of
the next frame (measured from its predicted position, within `max_distance_px`) and to every
object its mask overlaps. Every detection is kept (pinned selected); the solver chooses the
links. Costs (`marrowflow.track.costs`): a link costs its link cost; a division adds the
division cost of the (mother, daughter, daughter) triple to its two links' costs (motile's
`EdgeSplitPair` variables carry it; every cost is >= 0, which keeps the ILP's relaxation tight:
a negative pair cost made SCIP branch for minutes on 200 cells); a track that starts or ends costs
`track_start_cost` / `track_end_cost` (not in a window's first / last frame).

Windows: `window_frames` frames each, the next starting `window_frames - window_overlap_frames`
later; a window keeps the links whose source lies before the middle of its overlap with the
next one, and the next window is solved with those links pinned (selected or not). On a movie
no longer than one window this is the whole solve.

Hand-written parts: the candidate graph and the windowing (motile solves a given graph; it
has neither), and two small motile classes (a cost read from a table of division triples,
and a constraint that pins variables by index, cheaper than motile's expression-based `Pin`).
"""

from __future__ import annotations

from dataclasses import dataclass

import ilpy
import motile
import numpy as np
from motile.constraints import Constraint, MaxChildren, MaxParents
from motile.costs import Cost, EdgeSelectedCost, NodeAppearCost, NodeDisappearCost, Weight
from motile.variables import EdgeSelected, EdgeSplitPair, NodeSelected
from scipy.spatial import cKDTree

from marrowflow.track.costs import daughter_link_costs, division_pair_costs, link_costs

__all__ = ["CandidateGraph", "MotileCosts", "candidate_graph", "solve_windows"]


@dataclass(frozen=True)
class MotileCosts:
    """Weights of the global tracker's costs (`TrackingParams` fields of the same names)."""

    candidate_neighbours: int
    max_distance_px: float
    distance_weight: float
    overlap_weight: float
    area_weight: float
    track_start_cost: float
    track_end_cost: float
    division_cost: float
    division_area_weight: float
    division_overlap_weight: float


@dataclass
class CandidateGraph:
    """Candidate links (src -> dst, detection indices, with costs) and divisions (mother and two
    daughters, dau_1 < dau_2, with the cost added to the two links' costs)."""

    frame: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    link_cost: np.ndarray
    mother: np.ndarray
    dau_1: np.ndarray
    dau_2: np.ndarray
    division_cost: np.ndarray


def candidate_graph(frame: np.ndarray, pos: np.ndarray, area: np.ndarray, overlaps: np.ndarray,
                    predicted: np.ndarray, scale: float, costs: MotileCosts, *,
                    divisions: bool = True, fixed: tuple[np.ndarray, np.ndarray] | None = None) -> CandidateGraph:
    """Build the candidate graph of detections sorted by frame.

    `overlaps`: (k, 3) int array of (index at t, index at t+1, shared pixels); `predicted`: each
    detection's predicted position in the next frame; `scale`: the cell radius in pixels.
    `fixed`: reviewed links (src, dst) that are kept; the cells they join get no other candidate
    on that side.
    """
    n = len(frame)
    uniq, first = np.unique(frame, return_index=True)
    bounds = dict(zip(uniq.tolist(), zip(first.tolist(), np.append(first[1:], n).tolist())))
    src_l, dst_l = [overlaps[:, 0]], [overlaps[:, 1]]
    for t, (a, b) in bounds.items():
        if t + 1 not in bounds:
            continue
        c, d = bounds[t + 1]
        k = min(costs.candidate_neighbours, d - c)
        dist, nn = cKDTree(pos[c:d]).query(predicted[a:b], k=k, distance_upper_bound=costs.max_distance_px)
        dist, nn = np.asarray(dist).reshape(b - a, k), np.asarray(nn).reshape(b - a, k)
        ok = np.isfinite(dist)
        src_l.append(np.repeat(np.arange(a, b), k)[ok.ravel()])
        dst_l.append(nn[ok] + c)
    src, dst = np.concatenate(src_l).astype(np.int64), np.concatenate(dst_l).astype(np.int64)
    pairs = np.unique(np.stack([src, dst], axis=1), axis=0)
    src, dst = pairs[:, 0], pairs[:, 1]
    shared = np.zeros(len(src))
    if len(overlaps):
        key = src * n + dst
        okey = overlaps[:, 0].astype(np.int64) * n + overlaps[:, 1]
        pos_in = np.searchsorted(key, okey)
        shared[pos_in] = overlaps[:, 2]
    if fixed is not None and len(fixed[0]):
        fsrc, fdst = fixed
        blocked_src, blocked_dst = np.zeros(n, bool), np.zeros(n, bool)
        blocked_src[fsrc], blocked_dst[fdst] = True, True
        keep = ~blocked_src[src] & ~blocked_dst[dst]
        src, dst, shared = src[keep], dst[keep], shared[keep]
    # pixels of each detection inside any object of the previous frame (the daughter readings
    # count only those inside other objects against it)
    covered = np.zeros(n)
    if len(overlaps):
        np.add.at(covered, overlaps[:, 1].astype(np.int64), overlaps[:, 2].astype(np.float64))
    cost = link_costs(predicted[src], pos[dst], area[src], area[dst], shared, scale,
                      distance_weight=costs.distance_weight, overlap_weight=costs.overlap_weight,
                      area_weight=costs.area_weight)
    if divisions:
        cost = np.minimum(cost, daughter_link_costs(predicted[src], pos[dst], area[src], area[dst], shared, scale,
                                                    distance_weight=costs.distance_weight,
                                                    overlap_weight=costs.overlap_weight,
                                                    area_weight=costs.area_weight, covered_px=covered[dst]))
    mother = dau_1 = dau_2 = np.zeros(0, np.int64)
    div_cost = np.zeros(0)
    if divisions and len(src):
        # every pair of candidate daughters of one mother (edges are sorted by src, then dst)
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        counts = np.diff(np.append(starts, len(src)))
        e1_l, e2_l = [], []
        for kk in range(2, int(counts.max(initial=0)) + 1):
            for s in starts[counts == kk]:
                i1, i2 = np.triu_indices(kk, 1)
                e1_l.append(s + i1)
                e2_l.append(s + i2)
        if e1_l:
            e1, e2 = np.concatenate(e1_l), np.concatenate(e2_l)
            mother, dau_1, dau_2 = src[e1], dst[e1], dst[e2]
            div_cost = division_pair_costs(predicted[mother], pos[dau_1], pos[dau_2], area[mother], area[dau_1],
                                           area[dau_2], shared[e1], shared[e2], scale,
                                           division_cost=costs.division_cost, distance_weight=costs.distance_weight,
                                           area_weight=costs.division_area_weight,
                                           overlap_weight=costs.division_overlap_weight,
                                           covered_1=covered[dau_1], covered_2=covered[dau_2])
    if fixed is not None and len(fixed[0]):
        src = np.concatenate([src, fixed[0]])
        dst = np.concatenate([dst, fixed[1]])
        cost = np.concatenate([cost, np.zeros(len(fixed[0]))])
    return CandidateGraph(frame, src, dst, cost, mother, dau_1, dau_2, div_cost)


class _DivisionCost(Cost):
    """Cost of each `EdgeSplitPair` variable (a division), looked up by (mother, d1, d2)."""

    def __init__(self, table: dict[tuple[int, int, int], float], weight: float = 1.0) -> None:
        self.weight = Weight(weight)
        self.table = table

    def apply(self, solver: motile.Solver) -> None:
        for (e1, e2), index in solver.get_variables(EdgeSplitPair).items():
            a, b = sorted((e1[1], e2[1]))
            solver.add_variable_cost(index, self.table.get((e1[0], a, b), 0.0), self.weight)


class _PinIndices(Constraint):
    """Pin node variables to 1 and the given edge variables to 0 or 1."""

    def __init__(self, edges: dict[tuple[int, int], int]) -> None:
        self.edges = edges

    def instantiate(self, solver: motile.Solver):
        nodes = solver.get_variables(NodeSelected)
        for node in solver.graph.nodes:
            yield nodes[node] == 1
        edges = solver.get_variables(EdgeSelected)
        for edge, value in self.edges.items():
            yield edges[edge] == value


def _solve_window(g: CandidateGraph, node_idx: np.ndarray, edge_idx: np.ndarray, div_idx: np.ndarray,
                  pinned: dict[tuple[int, int], int], costs: MotileCosts, divisions: bool) -> set[tuple[int, int]]:
    tg = motile.TrackGraph(frame_attribute="t")
    for i in node_idx.tolist():
        tg.add_node(i, {"t": int(g.frame[i])})
    for e in edge_idx.tolist():
        tg.add_edge((int(g.src[e]), int(g.dst[e])), {"cost": float(g.link_cost[e])})
    solver = motile.Solver(tg)
    solver.add_cost(EdgeSelectedCost(weight=1.0, attribute="cost"), name="link")
    solver.add_cost(NodeAppearCost(constant=costs.track_start_cost), name="start")
    solver.add_cost(NodeDisappearCost(constant=costs.track_end_cost), name="end")
    if divisions and len(div_idx):
        table = {(int(g.mother[k]), int(g.dau_1[k]), int(g.dau_2[k])): float(g.division_cost[k]) for k in div_idx}
        solver.add_cost(_DivisionCost(table), name="division")
    solver.add_constraint(MaxParents(1))
    solver.add_constraint(MaxChildren(2 if divisions else 1))
    solver.add_constraint(_PinIndices(pinned))
    solution = solver.solve(num_threads=1, backend=ilpy.Preference.Scip)
    selected = solver.get_variables(EdgeSelected)
    return {edge for edge, index in selected.items() if solution[index] > 0.5}


def solve_windows(g: CandidateGraph, costs: MotileCosts, *, window_frames: int, window_overlap_frames: int,
                  divisions: bool = True,
                  fixed: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Solve the candidate graph window by window; return the selected links (src, dst)."""
    if len(g.frame) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    t0, t_end = int(g.frame.min()), int(g.frame.max()) + 1
    step = max(window_frames - window_overlap_frames, 1)
    fixed_set = set() if fixed is None else set(zip(fixed[0].tolist(), fixed[1].tolist()))
    edge_frame = g.frame[g.src]
    committed: dict[tuple[int, int], int] = {}
    start = t0
    while True:
        stop = min(start + window_frames, t_end)
        last = stop >= t_end
        commit_until = t_end if last else start + step + window_overlap_frames // 2
        node_idx = np.flatnonzero((g.frame >= start) & (g.frame < stop))
        edge_idx = np.flatnonzero((edge_frame >= start) & (edge_frame < stop - 1))
        div_idx = np.flatnonzero((g.frame[g.mother] >= start) & (g.frame[g.mother] < stop - 1))
        pinned = {}
        for e in edge_idx.tolist():
            key = (int(g.src[e]), int(g.dst[e]))
            if key in fixed_set:
                pinned[key] = 1
            elif key in committed:
                pinned[key] = committed[key]
        chosen = _solve_window(g, node_idx, edge_idx, div_idx, pinned, costs, divisions)
        for e in edge_idx.tolist():
            key = (int(g.src[e]), int(g.dst[e]))
            if edge_frame[e] < commit_until and key not in committed:
                committed[key] = int(key in chosen)
        if last:
            break
        start += step
    links = np.array(sorted(k for k, v in committed.items() if v), dtype=np.int64).reshape(-1, 2)
    return links[:, 0], links[:, 1]
