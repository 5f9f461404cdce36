"""Cells as AnnData (`cells.h5ad`): cells x markers (the per-cell marker means), one obs row per
cell per frame with its type, track, lineage, frame, time and shape, `obsm["spatial"]` and the
units and marker names in `uns`: what scanpy, squidpy and SCIMAP read.

SCIMAP's own column names (`imageid`, `X_centroid`, `Y_centroid`) are in obs as well, so its
functions run with their default arguments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from marrowflow.errors import InputError
from marrowflow.io.atomic import atomic_write
from marrowflow.io.metadata import MovieMetadata
from marrowflow.lineage.tables import track_summary

__all__ = ["cells_anndata", "write_cells_h5ad"]

_OBS = ("sample", "frame", "time_h", "label", "cell_type", "type_score", "type_source", "cell_type_frame",
        "track_id", "parent_track_id", "area_px", "area_um2", "eccentricity", "solidity", "major_axis_px")
_CATEGORIES = ("sample", "cell_type", "type_source", "cell_type_frame")


def _markers(tracks: pd.DataFrame, meta: MovieMetadata) -> list[str]:
    markers = list(meta.channel_names) or [c[len("mean_"):] for c in tracks.columns if c.startswith("mean_")]
    missing = [m for m in markers if f"mean_{m}" not in tracks.columns]
    if missing:
        raise InputError(f"tracks table: no mean_<marker> column for {missing} (channels of metadata.json); "
                         "expected the measure step's marker means. Fix: rerun the measure step")
    return markers


def cells_anndata(tracks: pd.DataFrame, meta: MovieMetadata, sample: str = ""):
    """An `anndata.AnnData` of the tracked cells (rows ordered by frame, label).

    X: float32 marker means (var: one row per channel of `meta`); obs: `sample, frame, time_h,
    label, cell_type, type_score, ..., track_id, parent_track_id, lineage_id, area_px, area_um2`
    where present, plus SCIMAP's `imageid, X_centroid, Y_centroid` (pixels); obs names
    `<frame>_<label>`; obsm["spatial"]: x, y[, z] in pixels; uns["marrowflow"]: units, pixel
    size (µm), time step (h), marker names, sample.
    """
    import anndata as ad

    if "frame" not in tracks.columns or "label" not in tracks.columns:
        raise InputError("tracks table: expected columns frame and label (one row per cell per frame)")
    cells = tracks.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    markers = _markers(cells, meta)
    obs = cells[[c for c in _OBS if c in cells.columns]].copy()
    if "track_id" in cells.columns and len(cells):
        lineage = track_summary(cells).set_index("track_id")["lineage_id"]
        obs["lineage_id"] = lineage.loc[cells["track_id"]].to_numpy(np.int64)
    for col in _CATEGORIES:
        if col in obs:
            obs[col] = pd.Categorical(obs[col].astype(str))
    obs["imageid"] = pd.Categorical([sample] * len(obs))
    obs["X_centroid"], obs["Y_centroid"] = cells["x"].to_numpy(float), cells["y"].to_numpy(float)
    obs.index = pd.Index([f"{f}_{lab}" for f, lab in zip(cells["frame"], cells["label"])], dtype=str)
    spatial_cols = ["x", "y", *(["z"] if "z" in cells.columns else [])]
    x = cells[[f"mean_{m}" for m in markers]].to_numpy(np.float32)
    var = pd.DataFrame(index=pd.Index(markers, dtype=str))
    uns = {"marrowflow": {"sample": sample, "markers": markers, "X": "mean intensity per cell (mean_<marker>)",
                          "spatial": "obsm['spatial'] columns " + ", ".join(spatial_cols) + " in pixels",
                          "pixel_size_um": meta.pixel_size_um if meta.pixel_size_um is not None else "unknown",
                          "z_step_um": meta.z_step_um if meta.z_step_um is not None else "unknown",
                          "time_step_h": meta.time_step_h if meta.time_step_h is not None else "unknown",
                          "units": {"time_h": "h", "area_um2": "µm²", "area_px": "pixels",
                                    "X_centroid": "pixels", "Y_centroid": "pixels"}}}
    return ad.AnnData(X=x, obs=obs, var=var, obsm={"spatial": cells[spatial_cols].to_numpy(float)}, uns=uns)


def write_cells_h5ad(tracks: pd.DataFrame, meta: MovieMetadata, out: str | Path, sample: str = "") -> None:
    """Write `cells_anndata(tracks, meta, sample)` to `out` (.h5ad), atomically."""
    adata = cells_anndata(tracks, meta, sample)
    with atomic_write(out) as tmp:
        adata.write_h5ad(tmp)
