"""The global tracker (method motile) on a small synthetic colony: every division recovered, and
a movie solved in overlapping windows gives the whole solve's links; the track rule's script
with method motile."""

import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from marrowflow.io import write_json, write_table
from marrowflow.io.labels import LabelStackWriter
from marrowflow.measure.cells import measure_frame
from marrowflow.synthetic_colony import ColonyParams, make_colony
from marrowflow.track.costs import movie_overlaps
from marrowflow.track.ctc import tracks_to_ctc
from marrowflow.track.linking import TrackingParams, track_cells

SCRIPT = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "track.py"


@pytest.fixture(scope="module")
def colony():
    col = make_colony(ColonyParams(n_frames=14, size=(96, 96), n_founders=4, cycle_time_frames=5.0,
                                   cell_radius_px=5.0, spacing=0.9, seed=3))
    cells = pd.concat([measure_frame(lab, img[None], channel_names=["nuclei"], frame=t, time_h=float(t),
                                     pixel_size_um=None)
                       for t, (lab, img) in enumerate(zip(col.labels, col.images))], ignore_index=True)
    return col, cells, movie_overlaps(col.labels)


def _divisions(tracks: pd.DataFrame) -> set:
    """{(mother's last frame, mother's label there)} of the tracks' divisions."""
    ctc = tracks_to_ctc(tracks)
    kids = ctc.loc[ctc["parent"] > 0, "parent"].value_counts()
    last = tracks.sort_values("frame").groupby("track_id").last()
    return {(int(last.at[m, "frame"]), int(last.at[m, "label"])) for m in kids[kids == 2].index}


@pytest.mark.parametrize("motion_model", ["none", "own", "flow"])
def test_motile_recovers_every_division_of_a_small_colony(colony, motion_model):
    col, cells, overlaps = colony
    truth = col.tracks
    kids = truth.loc[truth["parent"] > 0, "parent"].value_counts()
    end = truth.set_index("label")["end"]
    true_divisions = {(int(end[m]), int(m)) for m in kids[kids == 2].index}
    assert len(true_divisions) >= 5
    tracks = track_cells(cells, {"method": "motile", "max_distance_px": 15.0, "motion_model": motion_model},
                         overlaps=overlaps)
    assert _divisions(tracks) == true_divisions
    # every link joins the same true cell (label = true track id) or a mother to its daughter
    parent = truth.set_index("label")["parent"]
    for _, track in tracks.groupby("track_id"):
        assert track["label"].nunique() == 1
    # a track's parent is the true mother
    first = tracks.sort_values("frame").groupby("track_id").first()
    last = tracks.sort_values("frame").groupby("track_id").last()
    for tid, row in first[first["parent_track_id"] > 0].iterrows():
        assert last.at[row["parent_track_id"], "label"] == parent[row["label"]], tid


def test_windowed_solve_equals_whole_solve(colony):
    _, cells, overlaps = colony
    base = {"method": "motile", "max_distance_px": 15.0}
    whole = track_cells(cells, {**base, "window_frames": 60}, overlaps=overlaps)
    windowed = track_cells(cells, {**base, "window_frames": 6, "window_overlap_frames": 2}, overlaps=overlaps)
    pd.testing.assert_frame_equal(whole, windowed)


def test_motile_without_overlaps_and_bad_windows(colony):
    _, cells, _ = colony
    tracks = track_cells(cells.drop(columns="area_px").assign(area_px=50.0),
                         {"method": "motile", "max_distance_px": 15.0, "divisions": False})
    assert (tracks["parent_track_id"] == 0).all()
    assert tracks.groupby(["track_id", "frame"]).size().max() == 1
    with pytest.raises(Exception, match="window_overlap_frames"):
        TrackingParams(max_distance_px=5.0, window_frames=5, window_overlap_frames=5)
    with pytest.raises(Exception, match="area_px"):
        track_cells(cells.drop(columns="area_px"), {"method": "motile", "max_distance_px": 15.0})


@pytest.mark.parametrize("method", ["motile", "auto"])
def test_track_script_runs_with_method_motile(tmp_path, method):
    """Named, or picked by auto on touching cells: the script counts the overlaps and motile links."""
    col = make_colony(ColonyParams(n_frames=6, size=(64, 64), n_founders=2, cycle_time_frames=3.0,
                                   cell_radius_px=5.0, seed=1))
    n, shape = col.labels.shape[0], col.labels.shape[1:]
    with LabelStackWriter(tmp_path / "labels.tif", n, shape) as writer:
        for t, frame in enumerate(col.labels):
            writer.write(t, frame)
    cells = pd.concat([measure_frame(lab, img[None], channel_names=["nuclei"], frame=t, time_h=float(t),
                                     pixel_size_um=None)
                       for t, (lab, img) in enumerate(zip(col.labels, col.images))], ignore_index=True)
    cells["cell_type"], cells["type_score"], cells["type_source"] = "unknown", 0.0, "rule"
    write_table(cells, tmp_path / "cells_typed.parquet")
    write_json({"path": "movie.tif", "axes": "TCYX", "n_frames": n, "n_channels": 1, "shape_zyx": list(shape),
                "dtype": "uint16", "channel_names": ["nuclei"]}, tmp_path / "metadata.json")
    smk = SimpleNamespace(
        input=SimpleNamespace(cells=str(tmp_path / "cells_typed.parquet"), metadata=str(tmp_path / "metadata.json"),
                              labels=str(tmp_path / "labels.tif"), drift=[], review_geff=[]),
        output=SimpleNamespace(tracks=str(tmp_path / "tracks.parquet"), ctc=str(tmp_path / "ctc")),
        params=SimpleNamespace(review_dir=str(tmp_path / "reviews"), track_vote={},
                               tracking={"method": method, "max_distance_px": 12.0}),
        log=[str(tmp_path / "track.log")], rule="track", wildcards=SimpleNamespace(sample="s1"))
    runpy.run_path(str(SCRIPT), init_globals={"snakemake": smk})
    tracks = pd.read_parquet(tmp_path / "tracks.parquet")
    assert len(tracks) == len(cells)
    assert tracks.groupby("track_id")["label"].nunique().max() == 1  # label = true track id
    truth_div = int((col.tracks["parent"] > 0).sum())
    assert int((tracks.groupby("track_id")["parent_track_id"].max() > 0).sum()) == truth_div
    assert (tmp_path / "ctc" / "res_track.txt").is_file()
    if method == "auto":
        assert "using motile" in (tmp_path / "track.log").read_text()


def _motile_reference(g, edge_idx, div_idx, pinned, costs, divisions):
    """The same window solved by motile itself (its own node/edge/appear/disappear/split model)."""
    import ilpy
    import motile
    from motile.constraints import Constraint, MaxChildren, MaxParents
    from motile.costs import Cost, EdgeSelectedCost, NodeAppearCost, NodeDisappearCost, Weight
    from motile.variables import EdgeSelected, EdgeSplitPair, NodeSelected

    table = {(int(g.mother[k]), int(g.dau_1[k]), int(g.dau_2[k])): float(g.division_cost[k]) for k in div_idx}

    class PairCost(Cost):
        def __init__(self):
            self.weight = Weight(1.0)

        def apply(self, solver):
            for (e1, e2), index in solver.get_variables(EdgeSplitPair).items():
                a, b = sorted((e1[1], e2[1]))
                solver.add_variable_cost(index, table.get((e1[0], a, b), 0.0), self.weight)

    class Pins(Constraint):
        def instantiate(self, solver):
            nodes, edges = solver.get_variables(NodeSelected), solver.get_variables(EdgeSelected)
            for node in solver.graph.nodes:
                yield nodes[node] == 1
            for edge, value in pinned.items():
                yield edges[edge] == value

    frames = set(g.frame[g.src[edge_idx]].tolist())
    tg = motile.TrackGraph(frame_attribute="t")
    for i in np.flatnonzero(np.isin(g.frame, sorted(frames | {max(frames) + 1}))).tolist():
        tg.add_node(i, {"t": int(g.frame[i])})
    for e in edge_idx.tolist():
        tg.add_edge((int(g.src[e]), int(g.dst[e])), {"cost": float(g.link_cost[e])})
    solver = motile.Solver(tg)
    solver.add_cost(EdgeSelectedCost(weight=1.0, attribute="cost"), name="link")
    solver.add_cost(NodeAppearCost(constant=costs.track_start_cost), name="start")
    solver.add_cost(NodeDisappearCost(constant=costs.track_end_cost), name="end")
    if divisions:
        solver.add_cost(PairCost(), name="division")
    solver.add_constraint(MaxParents(1))
    solver.add_constraint(MaxChildren(2 if divisions else 1))
    solver.add_constraint(Pins())
    solution = solver.solve(num_threads=1, backend=ilpy.Preference.Scip)
    return {edge for edge, index in solver.get_variables(EdgeSelected).items() if solution[index] > 0.5}


@pytest.mark.parametrize("divisions", [True, False])
def test_compact_ilp_finds_motiles_own_optimum(colony, divisions):
    """`_solve_window`'s pruned link/pair ILP selects what motile's own model of the same costs
    selects, with some links pinned (as from an earlier window) and with divisions off."""
    from marrowflow.track import linking, motile_solver
    from marrowflow.track.costs import cell_scale

    _, cells, overlaps = colony
    p = TrackingParams(max_distance_px=15.0, method="motile", divisions=divisions)
    det, order = linking._detections(cells, p)
    area = cells["area_px"].to_numpy(float)[order]
    costs = motile_solver.MotileCosts(
        candidate_neighbours=p.candidate_neighbours, max_distance_px=p.max_distance_px,
        distance_weight=p.distance_weight, overlap_weight=p.overlap_weight, area_weight=p.motile_area_weight,
        track_start_cost=p.track_start_cost, track_end_cost=p.track_end_cost, division_cost=p.motile_division_cost,
        division_area_weight=p.division_area_weight, division_overlap_weight=p.division_overlap_weight)
    g = motile_solver.candidate_graph(det.frame, det.pos, area, linking._overlap_indices(cells.iloc[order], overlaps),
                                      det.pos, cell_scale(area), costs, divisions=divisions)
    edge_frame = g.frame[g.src]
    edge_idx = np.flatnonzero((edge_frame >= 3) & (edge_frame < 11))
    div_idx = np.flatnonzero((g.frame[g.mother] >= 3) & (g.frame[g.mother] < 11))
    first = edge_idx[edge_frame[edge_idx] == 3]
    # pin the cheapest link out of two frame-3 cells to 1 and one costly link to 0
    cheap = first[np.argsort(g.link_cost[first])[:2]]
    costly = first[np.argmax(g.link_cost[first])]
    pinned = {(int(g.src[e]), int(g.dst[e])): 1 for e in cheap} | {(int(g.src[costly]), int(g.dst[costly])): 0}
    ours = motile_solver._solve_window(g, edge_idx, div_idx, pinned, costs, divisions)
    reference = _motile_reference(g, edge_idx, div_idx, pinned, costs, divisions)
    assert len(ours) > 50
    assert ours == reference
