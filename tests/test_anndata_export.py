"""cells.h5ad: cells x markers with type, track, lineage and frame in obs, positions in
obsm["spatial"], units and marker names in uns; read back by anndata."""

import numpy as np
import pandas as pd
import pytest

from marrowflow.errors import InputError
from marrowflow.export import cells_anndata, write_cells_h5ad
from marrowflow.io import MovieMetadata, read_json, read_table

META = MovieMetadata(path="movie.tif", axes="TCYX", n_frames=2, n_channels=2, shape_zyx=(32, 32), dtype="uint16",
                     channel_names=["nuclei", "CD34"], pixel_size_um=0.5, time_step_h=0.25)


def _tracks() -> pd.DataFrame:
    return pd.DataFrame({"sample": "s1", "frame": [1, 0, 0, 1], "label": [3, 2, 1, 4], "time_h": [0.25, 0, 0, 0.25],
                         "y": [5.0, 6.0, 7.0, 8.0], "x": [1.0, 2.0, 3.0, 4.0], "area_px": [10, 11, 12, 13],
                         "area_um2": [2.5, 2.75, 3.0, 3.25], "mean_nuclei": [9.0, 8.0, 7.0, 6.0],
                         "mean_CD34": [1.0, 2.0, 3.0, 4.0], "cell_type": ["a", "b", "a", "b"],
                         "type_score": 0.5, "type_source": "rule", "track_id": [1, 2, 1, 3],
                         "parent_track_id": [0, 0, 0, 2]})


def test_h5ad_reads_back_with_anndata(tmp_path):
    import anndata as ad

    write_cells_h5ad(_tracks(), META, tmp_path / "cells.h5ad", sample="s1")
    adata = ad.read_h5ad(tmp_path / "cells.h5ad")
    assert adata.shape == (4, 2) and list(adata.var_names) == ["nuclei", "CD34"]
    assert list(adata.obs_names) == ["0_1", "0_2", "1_3", "1_4"]   # ordered by frame, label
    np.testing.assert_array_equal(adata.X, np.array([[7, 3], [8, 2], [9, 1], [6, 4]], np.float32))
    obs = adata.obs
    assert list(obs["cell_type"]) == ["a", "b", "a", "b"] and list(obs["track_id"]) == [1, 2, 1, 3]
    assert list(obs["lineage_id"]) == [1, 2, 1, 2]   # track 3 is a daughter of track 2
    assert list(obs["frame"]) == [0, 0, 1, 1] and obs["cell_type"].dtype == "category"
    assert list(obs["imageid"]) == ["s1"] * 4 and list(obs["X_centroid"]) == [3.0, 2.0, 1.0, 4.0]
    np.testing.assert_array_equal(adata.obsm["spatial"], [[3, 7], [2, 6], [1, 5], [4, 8]])
    uns = adata.uns["marrowflow"]
    assert list(uns["markers"]) == ["nuclei", "CD34"] and uns["pixel_size_um"] == 0.5 and uns["time_step_h"] == 0.25
    assert uns["units"]["area_um2"] == "µm²" and uns["z_step_um"] == "unknown"
    again = tmp_path / "again.h5ad"
    write_cells_h5ad(_tracks(), META, again, sample="s1")
    assert again.read_bytes() == (tmp_path / "cells.h5ad").read_bytes()   # same input, same bytes


def test_a_marker_without_its_mean_column_is_an_input_error():
    with pytest.raises(InputError, match=r"no mean_<marker> column for \['CD34'\]"):
        cells_anndata(_tracks().drop(columns="mean_CD34"), META)


def test_the_workflow_writes_cells_h5ad(tiny_demo_project):
    import anndata as ad

    results = tiny_demo_project / "results" / "tiny"
    adata = ad.read_h5ad(results / "cells.h5ad")
    tracks = read_table(results / "tracks.parquet")
    meta = read_json(results / "metadata.json")
    assert adata.shape == (len(tracks), meta["n_channels"]) and list(adata.var_names) == meta["channel_names"]
    lineages = read_table(results / "lineages.parquet")
    assert set(adata.obs["lineage_id"]) == set(lineages["lineage_id"])
    founders = adata.obs[adata.obs["track_id"].isin(lineages["founder_track_id"])]
    assert (founders["lineage_id"].to_numpy() == lineages.set_index("founder_track_id").loc[
        founders["track_id"], "lineage_id"].to_numpy()).all()
