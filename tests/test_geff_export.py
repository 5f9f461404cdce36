"""tracks.geff: written with geff, passing its validator, read back by geff and traccuracy with
every track and division; a reviewed geff (reviews/<sample>/tracks.geff) changes the tracks."""

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from marrowflow.errors import InputError
from marrowflow.export import track_edges, write_tracks_geff
from marrowflow.io import MovieMetadata, read_json, read_table
from marrowflow.review.geff_import import apply_geff_review, geff_track_edits, read_geff_links
from marrowflow.track.ctc import tracks_to_ctc

from workflow_helpers import run_snakemake

META = MovieMetadata(path="movie.tif", axes="TYX", n_frames=6, n_channels=2, shape_zyx=(64, 64), dtype="uint16",
                     channel_names=["nuclei", "CD34"], pixel_size_um=0.5, time_step_h=0.25)


def _tracks() -> pd.DataFrame:
    """Track 1 (frames 0-2) divides into 2 and 3 (frames 3-5); track 4 lives frames 0-5."""
    rows = []
    for tid, parent, frames in ((1, 0, range(0, 3)), (2, 1, range(3, 6)), (3, 1, range(3, 6)), (4, 0, range(0, 6))):
        for t in frames:
            rows.append({"frame": t, "label": tid + 10 * t, "y": 10.0 + tid, "x": 5.0 * t, "area_px": 30 + tid,
                         "area_um2": (30 + tid) * 0.25, "mean_nuclei": 100.0 + t, "mean_CD34": float(tid),
                         "cell_type": "progenitor" if tid != 4 else "myeloid", "type_score": 0.9,
                         "track_id": tid, "parent_track_id": parent})
    return pd.DataFrame(rows)


def _links(tracks) -> set:
    return set(map(tuple, track_edges(tracks).to_numpy()))


def test_written_geff_validates_and_reads_back_every_track_and_division(tmp_path):
    import geff
    from geff.validate.data import ValidationConfig

    tracks = _tracks()
    out = tmp_path / "tracks.geff"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no geff warning (units, related objects)
        write_tracks_geff(tracks, META, out, sample="s1")
    geff.validate_structure(str(out))
    graph, meta = geff.read(str(out), data_validation=ValidationConfig(graph=True, tracklet=True, lineage=True))
    assert graph.number_of_nodes() == len(tracks)
    assert graph.number_of_edges() == len(tracks) - 2   # one parent per cell but the founders' first cells
    cells = {(d["t"], d["seg_id"]): d for _, d in graph.nodes(data=True)}
    assert {(t, lab) for t, lab in zip(tracks["frame"], tracks["label"])} == set(cells)
    assert {d["track_id"] for d in cells.values()} == {1, 2, 3, 4}
    assert {d["lineage_id"] for d in cells.values() if d["track_id"] in (1, 2, 3)} == {1}
    mother = [n for n in graph if graph.out_degree(n) == 2]
    assert len(mother) == 1 and graph.nodes[mother[0]]["t"] == 2
    assert sorted(graph.nodes[c]["track_id"] for c in graph.successors(mother[0])) == [2, 3]
    assert cells[(0, 1)]["cell_type"] == "progenitor" and cells[(0, 1)]["mean_CD34"] == 1.0
    assert meta.track_node_props == {"tracklet": "tracklet_id", "lineage": "lineage_id"}
    assert [(a.name, a.type, a.scale, a.scaled_unit) for a in meta.axes] == [
        ("t", "time", 0.25, "hour"), ("y", "space", 0.5, "micrometer"), ("x", "space", 0.5, "micrometer")]
    labels = meta.related_objects[0]
    assert (labels.type, labels.path, labels.node_prop) == ("labels", "../labels.tif", "seg_id")
    again = tmp_path / "again.geff"
    write_tracks_geff(tracks, META, again, sample="s1")
    for path in out.rglob("*"):   # same input, same bytes
        if path.is_file():
            assert path.read_bytes() == (again / path.relative_to(out)).read_bytes(), path


def test_traccuracy_loads_the_geff(tmp_path):
    from geff import GeffMetadata
    from traccuracy.loaders import load_geff_data

    write_tracks_geff(_tracks(), META, tmp_path / "tracks.geff")
    loaded = load_geff_data(str(tmp_path / "tracks.geff"), load_all_props=True)
    assert loaded.graph.number_of_nodes() == len(_tracks()) and loaded.location_keys == ("y", "x")
    assert len(loaded.get_divisions()) == 1
    write_tracks_geff(_tracks(), META, tmp_path / "zarr.geff", labels_name="labels.ome.zarr")
    related = GeffMetadata.read(str(tmp_path / "zarr.geff")).related_objects[0]
    assert related.path == "../labels.ome.zarr/labels/segmentation"   # the NGFF label image inside


def test_geff_review_turns_the_tracks_into_the_geff_graph(tmp_path):
    tracks = _tracks()
    reviewed = tracks.copy()
    reviewed.loc[reviewed["track_id"] == 3, "parent_track_id"] = 0   # daughter 3 becomes a founder,
    reviewed = reviewed[~((reviewed["frame"] == 5) & (reviewed["track_id"] == 4))]   # a false cell deleted
    write_tracks_geff(reviewed, META, tmp_path / "reviewed.geff")
    out = apply_geff_review(tracks, tracks, tmp_path / "reviewed.geff")
    assert _links(out) == _links(reviewed)
    assert len(out) == len(tracks) - 1 and (out.loc[out["label"] == 13, "parent_track_id"] == 0).all()
    tracks_to_ctc(out)   # still a valid CTC track set
    nodes, links = read_geff_links(tmp_path / "reviewed.geff")
    edits = geff_track_edits(nodes, links, tracks, tracks)
    assert {"unlink", "delete", "link", "divide"} >= set(edits["action"]) >= {"unlink", "delete"}


def test_a_geff_of_another_tool_is_matched_by_time_and_label(tmp_path):
    """A geff written by geff.write from networkx (float times, a `label` property, no related
    objects), as other trackers write them: its division is applied."""
    import geff
    import networkx as nx

    tracks = _tracks()
    graph = nx.DiGraph()
    for n, row in enumerate(tracks.itertuples(), start=100):
        graph.add_node(n, t=float(row.frame), label=int(row.label), y=row.y, x=row.x)
    ids = {(r.frame, r.label): n for n, r in enumerate(tracks.itertuples(), start=100)}
    graph.add_edges_from((ids[(a, b)], ids[(c, d)]) for a, b, c, d in track_edges(tracks).to_numpy()
                         if (c, d) != (3, 33))   # daughter 3 (label 33 at frame 3) starts a new track
    geff.write(graph, str(tmp_path / "other_tool.geff"), axis_names=["t", "y", "x"],
               axis_types=["time", "space", "space"])
    out = apply_geff_review(tracks, tracks, tmp_path / "other_tool.geff")
    assert out.loc[out["label"] == 33, "parent_track_id"].eq(0).all() and len(out) == len(tracks)
    assert _links(out) == _links(tracks) - {(2, 21, 3, 33)}


def test_a_geff_naming_unknown_cells_or_merging_tracks_is_refused(tmp_path):
    tracks = _tracks()
    other = tracks.assign(label=tracks["label"] + 1000)   # made on another segmentation
    write_tracks_geff(other, META, tmp_path / "other.geff")
    with pytest.raises(InputError, match=r"other.geff: 15 of 15 nodes are not cells of the sample"):
        apply_geff_review(tracks, tracks, tmp_path / "other.geff")
    import geff
    import networkx as nx

    merge = nx.DiGraph()
    merge.add_nodes_from([(1, {"t": 0, "seg_id": 1, "y": 1.0, "x": 1.0}),
                          (2, {"t": 0, "seg_id": 4, "y": 1.0, "x": 2.0}),
                          (3, {"t": 1, "seg_id": 11, "y": 1.0, "x": 1.0})])
    merge.add_edges_from([(1, 3), (2, 3)])
    geff.write(merge, str(tmp_path / "merge.geff"), axis_names=["t", "y", "x"], axis_types=["time", "space", "space"])
    with pytest.raises(InputError, match=r"merge.geff: .*two parents"):
        read_geff_links(tmp_path / "merge.geff")
    (tmp_path / "broken.geff").mkdir()
    with pytest.raises(InputError, match="broken.geff: not a valid geff"):
        read_geff_links(tmp_path / "broken.geff")


def test_the_workflow_writes_tracks_geff_and_a_reviewed_geff_changes_the_tracks(tiny_demo_project, tmp_path):
    import geff

    results = tiny_demo_project / "results" / "tiny"
    tracks = read_table(results / "tracks.parquet")
    graph, meta = geff.read(str(results / "tracks.geff"))
    assert graph.number_of_nodes() == len(tracks)
    assert graph.number_of_edges() == len(track_edges(tracks))
    parents = tracks.groupby("track_id")["parent_track_id"].max()
    n_div = int((parents[parents > 0].value_counts() >= 2).sum())
    assert sum(1 for n in graph if graph.out_degree(n) >= 2) == n_div > 0
    meta_json = MovieMetadata.from_dict(read_json(results / "metadata.json"))
    assert meta.axes[0].scale == meta_json.time_step_h and meta.axes[1].scale == meta_json.pixel_size_um
    assert (results / meta.related_objects[0].path.removeprefix("../")).exists()
    # a reviewed geff: every division undone (each daughter becomes a founder)
    project = tmp_path / "project"
    shutil.copytree(tiny_demo_project, project, symlinks=True)
    reviewed = tracks.copy()
    reviewed["parent_track_id"] = 0
    review_dir = project / "reviews" / "tiny"
    write_tracks_geff(reviewed, meta_json, review_dir / "tracks.geff")
    run = run_snakemake(project, "results/tiny/tracks.parquet")
    assert run.returncode == 0, run.stderr[-3000:]
    after = read_table(project / "results" / "tiny" / "tracks.parquet")
    assert (after["parent_track_id"] == 0).all() and len(after) == len(tracks)
    assert _links(after) == _links(reviewed)
    assert not np.array_equal(tracks["parent_track_id"], after["parent_track_id"])
