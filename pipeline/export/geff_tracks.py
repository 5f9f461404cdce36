"""Tracks as a geff graph (`tracks.geff`): one node per cell per frame, an edge per link and per
division, the track, tracklet and lineage ids as `track_node_props`, the labels as a related
object. The format motile_tracker / napari-track-edit, ultrack, TrackMate and traccuracy share.

Written through `geff.core_io.write_arrays` (geff's own writer and validator) rather than
`geff.write` on a networkx graph: that path collects the property names in a Python set, so the
order of the metadata (and the file's bytes) would change from one process to the next.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from marrowflow.errors import InputError
from marrowflow.io.atomic import atomic_dir
from marrowflow.io.labels import is_zarr_path
from marrowflow.io.metadata import MovieMetadata
from marrowflow.io.ome_zarr import LABEL_NAME
from marrowflow.lineage.tables import track_summary

__all__ = ["GEFF_SEG_PROP", "track_edges", "tracks_graph", "write_tracks_geff"]

GEFF_SEG_PROP = "seg_id"
"""The node property holding each cell's label in the sample's label image (per frame)."""

_NEED = ("frame", "label", "y", "x", "track_id", "parent_track_id")


def track_edges(tracks: pd.DataFrame) -> pd.DataFrame:
    """The links of a tracks table as `frame, label, next_frame, next_label` rows: each cell to the
    next cell of its track, and a mother track's last cell to each daughter track's first cell."""
    ordered = tracks.sort_values(["track_id", "frame"], kind="stable")
    tid = ordered["track_id"].to_numpy(np.int64)
    fr, lab = ordered["frame"].to_numpy(np.int64), ordered["label"].to_numpy(np.int64)
    same = tid[1:] == tid[:-1]
    within = pd.DataFrame({"frame": fr[:-1][same], "label": lab[:-1][same],
                           "next_frame": fr[1:][same], "next_label": lab[1:][same]})
    g = ordered.groupby("track_id", sort=True)
    first, last = g[["frame", "label"]].first(), g[["frame", "label"]].last()
    parents = g["parent_track_id"].max()
    kids = parents[(parents > 0) & parents.isin(first.index)]
    across = pd.DataFrame({"frame": last.loc[kids.to_numpy(), "frame"].to_numpy(np.int64),
                           "label": last.loc[kids.to_numpy(), "label"].to_numpy(np.int64),
                           "next_frame": first.loc[kids.index, "frame"].to_numpy(np.int64),
                           "next_label": first.loc[kids.index, "label"].to_numpy(np.int64)})
    out = pd.concat([within, across], ignore_index=True).astype(np.int64)
    return out.sort_values(["frame", "label", "next_frame", "next_label"]).reset_index(drop=True)


def _props(table: pd.DataFrame, columns: list[str]) -> dict[str, dict]:
    out = {}
    for col in columns:
        values = table[col].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        out[col] = {"values": values, "missing": None}
    return out


def tracks_graph(tracks: pd.DataFrame, markers: list[str] | None = None
                 ) -> tuple[np.ndarray, dict[str, dict], np.ndarray]:
    """(node ids, node properties, edges (n, 2)) of a tracks table, nodes ordered by (frame, label).

    Node properties: `t` (frame), `[z], y, x` (pixels), `seg_id` (the label), `track_id` (CTC
    track), `tracklet_id` (geff's tracklet: a track and its gap continuations), `lineage_id`,
    `parent_track_id`, `cell_type`, `type_score`, `area_px`, `area_um2` and `mean_<marker>` where
    present. `markers`: the channel names whose means to keep (default: every `mean_*` column).
    """
    missing = [c for c in _NEED if c not in tracks.columns]
    if missing:
        raise InputError(f"tracks table: column(s) {missing} missing; expected the track step's "
                         f"tracks.parquet (columns {list(_NEED)}, ...)")
    cells = tracks.sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    if cells.duplicated(["frame", "label"]).any():
        raise InputError("tracks table: a (frame, label) appears twice; expected one row per cell per frame")
    summary = track_summary(cells).set_index("track_id") if len(cells) else None
    cells["t"] = cells["frame"].astype(np.int64)
    cells[GEFF_SEG_PROP] = cells["label"].astype(np.int64)
    if summary is not None:
        cells["tracklet_id"] = summary.loc[cells["track_id"], "cell_id"].to_numpy(np.int64)
        cells["lineage_id"] = summary.loc[cells["track_id"], "lineage_id"].to_numpy(np.int64)
    else:
        cells["tracklet_id"] = cells["lineage_id"] = np.zeros(0, np.int64)
    mean_cols = ([f"mean_{m}" for m in markers] if markers is not None
                 else [c for c in cells.columns if c.startswith("mean_")])
    columns = ["t", *(["z"] if "z" in cells.columns else []), "y", "x", GEFF_SEG_PROP, "track_id",
               "tracklet_id", "lineage_id", "parent_track_id"]
    columns += [c for c in ("cell_type", "type_score", "area_px", "area_um2", *mean_cols) if c in cells.columns]
    node_ids = np.arange(1, len(cells) + 1, dtype=np.uint64)  # traccuracy wants ids > 0
    index = pd.MultiIndex.from_arrays([cells["frame"], cells["label"]])
    links = track_edges(cells)
    src = node_ids[index.get_indexer(pd.MultiIndex.from_arrays([links["frame"], links["label"]]))]
    dst = node_ids[index.get_indexer(pd.MultiIndex.from_arrays([links["next_frame"], links["next_label"]]))]
    edges = np.stack([src, dst], axis=1)
    return node_ids, _props(cells, columns), edges


def _axes(meta: MovieMetadata, has_z: bool) -> list:
    from geff_spec import Axis

    def space(name: str, scale: float | None) -> Axis:
        return Axis(name=name, type="space", scale=scale, scaled_unit="micrometer" if scale else None)

    t = Axis(name="t", type="time", unit="frame", scale=meta.time_step_h,
             scaled_unit="hour" if meta.time_step_h else None)
    z = [space("z", meta.z_step_um)] if has_z else []
    return [t, *z, space("y", meta.pixel_size_um), space("x", meta.pixel_size_um)]


def write_tracks_geff(tracks: pd.DataFrame, meta: MovieMetadata, out: str | Path, *,
                      labels_name: str = "labels.tif", sample: str = "") -> None:
    """Write `tracks` as the geff `out` (a zarr folder), validated by geff, all or nothing.

    Positions are in pixels with the pixel size (µm) and the time step (h) of `meta` as the axes'
    `scale`; `labels_name` (next to `out`: `labels.tif`, or `labels.ome.zarr`, whose NGFF label
    image `labels/segmentation` is then named) is the related label image whose labels the
    `seg_id` node property names. The folder is built under a temporary name and renamed.
    """
    from geff.core_io import write_arrays
    from geff_spec import GeffMetadata, RelatedObject

    node_ids, props, edges = tracks_graph(tracks, markers=list(meta.channel_names) or None)
    labels_path = f"../{labels_name}/labels/{LABEL_NAME}" if is_zarr_path(labels_name) else f"../{labels_name}"
    has_z = "z" in props
    metadata = GeffMetadata(
        directed=True, axes=_axes(meta, has_z),
        track_node_props={"tracklet": "tracklet_id", "lineage": "lineage_id"},
        related_objects=[RelatedObject(type="labels", path=labels_path, node_prop=GEFF_SEG_PROP)],
        node_props_metadata={}, edge_props_metadata={},
        extra={"marrowflow": {"sample": sample, "pixel_size_um": meta.pixel_size_um,
                              "z_step_um": meta.z_step_um, "time_step_h": meta.time_step_h,
                              "markers": list(meta.channel_names), "positions": "pixels",
                              "track_id": "Cell Tracking Challenge track (res_track.txt label)"}},
    )
    with atomic_dir(out) as tmp:
        tmp.rmdir()  # geff refuses to write into an existing folder
        write_arrays(str(tmp), node_ids, props, edges, {}, metadata, zarr_format=2, structure_validation=True)
