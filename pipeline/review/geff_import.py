"""Reviewed tracks given as a geff graph (`reviews/<sample>/tracks.geff`, e.g. curated in
napari-track-edit / motile_tracker, or the export rule's `tracks.geff` edited elsewhere).

The geff is turned into the track edits the track step already replays (`tracks.csv` rows, see
`marrowflow.review.files`): every link of the tracks table that the geff lacks is unlinked, every
cell the geff lacks is deleted, and every geff edge becomes a `link` (one child) or a `divide`
(two or more children). Replayed on the tracks table, they give the geff's graph. Nodes are
matched to the sample's cells by (frame, label): the geff's time axis and its segmentation id
(the labels related object's `node_prop`, else `seg_id`, else `label`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from marrowflow.errors import InputError
from marrowflow.review.apply import apply_track_review
from marrowflow.review.files import EDIT_COLUMNS, Review, empty_edits

__all__ = ["GEFF_REVIEW", "apply_geff_review", "geff_track_edits", "read_geff_links"]

GEFF_REVIEW = "tracks.geff"
"""The name of a reviewed geff in `reviews/<sample>/`."""

_FIX = ("Fix: make the geff on this sample's current segmentation (its segmentation ids are the labels "
        "of results/<sample>/labels), e.g. start from results/<sample>/tracks.geff, or remove it")


def _seg_prop(meta, props: set[str], path: Path) -> str:
    for obj in meta.related_objects or []:
        if obj.type == "labels" and obj.node_prop:
            return obj.node_prop
    for name in ("seg_id", "label"):
        if name in props:
            return name
    raise InputError(f"{path}: no node property names each node's segmentation label (expected a labels "
                     f"related object with node_prop, or a 'seg_id' or 'label' property; found {sorted(props)}). "
                     + _FIX)


def _time_prop(meta, props: set[str], path: Path) -> str:
    names = [ax.name for ax in meta.axes or [] if ax.type == "time"] or (["t"] if "t" in props else [])
    if not names:
        raise InputError(f"{path}: no time axis (an axis of type 'time' or a 't' property); found {sorted(props)}")
    return names[0]


def read_geff_links(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(nodes `frame, label`, links `frame, label, next_frame, next_label`) of a geff, checked:
    integer frames, one node per (frame, label), edges forward in time, at most one parent."""
    import geff

    path = Path(path)
    try:
        graph, meta = geff.read(str(path), backend="networkx")
    except (ValueError, KeyError, FileNotFoundError, OSError) as err:
        raise InputError(f"{path}: not a valid geff ({err}). Fix: export it again from the tracking tool") from err
    if not meta.directed:
        raise InputError(f"{path}: the graph is undirected; expected tracks (edges from earlier to later cells)")
    props = {k for _, data in graph.nodes(data=True) for k in data}
    t_key, seg_key = _time_prop(meta, props, path), _seg_prop(meta, props, path)
    ids = list(graph.nodes)
    lacking = [n for n in ids if t_key not in graph.nodes[n] or seg_key not in graph.nodes[n]]
    if lacking:
        raise InputError(f"{path}: {len(lacking)} node(s) lack '{t_key}' or '{seg_key}', e.g. node {lacking[0]}")
    t = np.array([graph.nodes[n][t_key] for n in ids], dtype=float)
    seg = np.array([graph.nodes[n][seg_key] for n in ids], dtype=float)
    if (t % 1 != 0).any() or (seg % 1 != 0).any():
        raise InputError(f"{path}: '{t_key}' and '{seg_key}' must be whole numbers (frame index, label)")
    nodes = pd.DataFrame({"frame": t.astype(np.int64), "label": seg.astype(np.int64)}, index=ids)
    dup = nodes.duplicated(keep=False)
    if dup.any():
        f, lab = nodes[dup].iloc[0]
        raise InputError(f"{path}: {int(dup.sum())} nodes share a (frame, label), e.g. frame {f}, {seg_key} {lab}; "
                         "expected one node per cell per frame")
    src, dst = [u for u, _ in graph.edges], [v for _, v in graph.edges]
    links = pd.DataFrame({"frame": nodes.loc[src, "frame"].to_numpy(np.int64),
                          "label": nodes.loc[src, "label"].to_numpy(np.int64),
                          "next_frame": nodes.loc[dst, "frame"].to_numpy(np.int64),
                          "next_label": nodes.loc[dst, "label"].to_numpy(np.int64)})
    back = links["next_frame"] <= links["frame"]
    if back.any():
        row = links[back].iloc[0]
        raise InputError(f"{path}: {int(back.sum())} edge(s) do not go forward in time, e.g. frame {row['frame']} "
                         f"label {row['label']} -> frame {row['next_frame']} label {row['next_label']}")
    merged = links.duplicated(["next_frame", "next_label"], keep=False)
    if merged.any():
        row = links[merged].iloc[0]
        raise InputError(f"{path}: {int(merged.duplicated(keep='first').sum() or 1)} cell(s) have two parents "
                         f"(a merge), e.g. frame {row['next_frame']} label {row['next_label']}; tracks may "
                         "only divide. Fix: remove one of its incoming edges")
    return nodes.reset_index(drop=True), links.sort_values(list(links.columns)).reset_index(drop=True)


def _keys(df: pd.DataFrame, frame: str = "frame", label: str = "label") -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([df[frame].to_numpy(np.int64), df[label].to_numpy(np.int64)])


def geff_track_edits(nodes: pd.DataFrame, links: pd.DataFrame, cells: pd.DataFrame, tracks: pd.DataFrame, *,
                     source: str = "geff") -> pd.DataFrame:
    """The track edits (`tracks.csv` rows) that turn `tracks` into the graph of (`nodes`, `links`)
    (from `read_geff_links`). Raises InputError naming `source` when a node is no cell of `cells`."""
    from marrowflow.export.geff_tracks import track_edges

    unknown = ~_keys(nodes).isin(_keys(cells))
    if unknown.any():
        f, lab = nodes[unknown].iloc[0]
        raise InputError(f"{source}: {int(unknown.sum())} of {len(nodes)} nodes are not cells of the sample "
                         f"(no cell with label {lab} in frame {f}). " + _FIX)
    current = track_edges(tracks)
    wanted = pd.MultiIndex.from_frame(links)
    drop = current[~pd.MultiIndex.from_frame(current).isin(wanted)]
    gone = tracks[~_keys(tracks).isin(_keys(nodes))].sort_values(["frame", "label"])
    n_children = links.groupby(["frame", "label"])["next_frame"].transform("size").to_numpy()
    action = np.where(n_children > 1, "divide", "link")
    rows = [drop.assign(action="unlink"),
            gone[["frame", "label"]].assign(action="delete", next_frame=-1, next_label=-1),
            links.assign(action=action).sort_values(["next_frame", "next_label"])]
    rows = [r for r in rows if len(r)]
    if not rows:
        return empty_edits()
    out = pd.concat(rows, ignore_index=True)[list(EDIT_COLUMNS)]
    return out.astype({c: np.int64 for c in EDIT_COLUMNS if c != "action"})


def apply_geff_review(tracks: pd.DataFrame, cells: pd.DataFrame, geff_path: str | os.PathLike) -> pd.DataFrame:
    """`tracks` changed to the reviewed geff `geff_path` (`geff_track_edits` replayed by
    `marrowflow.review.apply.apply_track_review`); `cells`: the sample's cells (frame, label)."""
    nodes, links = read_geff_links(geff_path)
    edits = geff_track_edits(nodes, links, cells, tracks, source=str(geff_path))
    return apply_track_review(tracks, Review(track_edits=edits)) if len(edits) else tracks.copy()
