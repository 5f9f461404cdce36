"""Lineage analysis: one tree per founder track, counts per type, fate map, production rates.

Input: the tracks table (`marrowflow.track.track_cells` + `cell_type`): one row per cell per frame
with `frame, time_h, track_id, parent_track_id, cell_type` and optionally `sample` (every
function works per sample). Tracks follow the Cell Tracking Challenge convention: a parent with
two or more children divided; a parent with one child is the same cell seen again after a gap
(not a division, not a new generation).

Definitions used throughout:
- lineage: all tracks descending from one founder (a track without parent); `lineage_id` numbers
  the founders 1.. by (first frame, track id) within a sample;
- generation: divisions between the founder and the track (founder = 0);
- cell cycle: a cell born by a division that divides again; its duration runs from its first
  frame to the frame after its last ((end - begin + 1) frames, as the CTC's CCA measure counts);
- production of a type: cells entering the type, by birth (a daughter whose first frame has the
  type) or by differentiation (the type changes along a cell's frames, gaps included; each cell
  enters a type at most once and never re-enters the type it started with, so flickering
  per-frame calls do not count);
- hours: frames times the time step read from `time_h` (NaN when `time_h` is missing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from marrowflow.contract import UNKNOWN
from marrowflow.errors import InputError

__all__ = ["track_summary", "lineage_table", "cell_cycles", "count_types",
           "count_types_per_lineage", "fate_map", "production_rates"]

REQUIRED = ("frame", "track_id", "parent_track_id")


def _check(tracks: pd.DataFrame, need_type: bool = True) -> None:
    need = list(REQUIRED) + (["cell_type"] if need_type else [])
    missing = [c for c in need if c not in tracks.columns]
    if missing:
        raise InputError(f"tracks table: column(s) {missing} missing; found {list(tracks.columns)}. "
                         "It must come from the track step (marrowflow.track.track_cells + cell types)")


def _per_sample(tracks: pd.DataFrame, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """Apply `fn` to each sample's rows and stack the results with a leading `sample` column."""
    if "sample" not in tracks.columns:
        out = fn(tracks)
        out.insert(0, "sample", "")
        return out
    parts = []
    for sample, rows in tracks.groupby("sample", sort=True):
        part = fn(rows)
        part.insert(0, "sample", sample)
        parts.append(part)
    if not parts:
        out = fn(tracks)
        out.insert(0, "sample", pd.Series(dtype=object))
        return out
    return pd.concat(parts, ignore_index=True)


def _time_step_h(tracks: pd.DataFrame) -> float:
    """Hours per frame from `time_h` (median of time_h / frame over frames > 0); NaN if unknown."""
    if "time_h" not in tracks.columns:
        return float("nan")
    later = tracks[tracks["frame"] > 0]
    ratio = (later["time_h"] / later["frame"]).dropna()
    return float(ratio.median()) if len(ratio) else float("nan")


def _frame_range(tracks: pd.DataFrame) -> tuple[int, int]:
    """The first and last frame with a cell; (0, -1) for a table without cells (an empty movie)."""
    if not len(tracks):
        return 0, -1
    return int(tracks["frame"].min()), int(tracks["frame"].max())


def _types(tracks: pd.DataFrame, classes: Sequence[str]) -> list[str]:
    """The classes in order, then `unknown`, then any other type found in the table (sorted)."""
    types = list(dict.fromkeys(list(classes) + [UNKNOWN]))
    if "cell_type" in tracks.columns:
        extra = sorted(set(tracks["cell_type"].dropna().astype(str)) - set(types))
        types += extra
    return types


def track_summary(tracks: pd.DataFrame) -> pd.DataFrame:
    """One row per track of one sample: `track_id, parent_track_id, begin, end, n_children,
    divides, born, lineage_id, founder_track_id, generation, cell_id, first_type, last_type`
    (`born`: the track starts at a division).

    `cell_id` joins tracks of one cell across gaps (the first track of that cell); a parent id
    that is not a track of the table counts as no parent.
    """
    _check(tracks, need_type=False)
    ordered = tracks.sort_values(["track_id", "frame"], kind="stable")
    g = ordered.groupby("track_id", sort=True)
    s = pd.DataFrame({"parent_track_id": g["parent_track_id"].max().astype(np.int64),
                      "begin": g["frame"].min().astype(np.int64), "end": g["frame"].max().astype(np.int64)})
    if "cell_type" in tracks.columns:
        s["first_type"] = g["cell_type"].first().astype(str)
        s["last_type"] = g["cell_type"].last().astype(str)
    s.loc[~s["parent_track_id"].isin(s.index), "parent_track_id"] = 0
    s["n_children"] = s["parent_track_id"].value_counts().reindex(s.index, fill_value=0).astype(np.int64)
    s["divides"] = s["n_children"] >= 2
    s["born"] = s["parent_track_id"].isin(s.index[s["divides"]])
    founders = s[s["parent_track_id"] == 0].sort_values(["begin"], kind="stable").index
    lineage_of_founder = {f: i + 1 for i, f in enumerate(founders)}
    founder, generation, cell = {}, {}, {}
    for tid, row in s.sort_values(["begin"], kind="stable").iterrows():
        par = row["parent_track_id"]
        if par == 0:
            founder[tid], generation[tid], cell[tid] = tid, 0, tid
        else:
            divided = bool(s.at[par, "divides"])
            founder[tid] = founder[par]
            generation[tid] = generation[par] + int(divided)
            cell[tid] = tid if divided else cell[par]
    s["founder_track_id"] = pd.Series(founder).reindex(s.index).astype(np.int64)
    s["lineage_id"] = s["founder_track_id"].map(lineage_of_founder).astype(np.int64)
    s["generation"] = pd.Series(generation).reindex(s.index).astype(np.int64)
    s["cell_id"] = pd.Series(cell).reindex(s.index).astype(np.int64)
    s.index.name = "track_id"
    return s.reset_index()


def cell_cycles(tracks: pd.DataFrame) -> pd.DataFrame:
    """Complete cell cycles (born by a division, divided again): `sample, lineage_id, cell_id,
    generation, begin, end, cycle_frames, cycle_h, cell_type` (type at the cell's last frame)."""
    _check(tracks, need_type=False)

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        s = track_summary(rows)
        dt = _time_step_h(rows)
        cells = s.groupby("cell_id").agg(lineage_id=("lineage_id", "first"), generation=("generation", "first"),
                                         begin=("begin", "min"), end=("end", "max"),
                                         divides=("divides", "any"), parent=("parent_track_id", "first"))
        if "last_type" in s.columns:
            cells["cell_type"] = s.sort_values("end").groupby("cell_id")["last_type"].last()
        born = cells["parent"] > 0
        done = cells[born & cells["divides"]].copy()
        done["cycle_frames"] = done["end"] - done["begin"] + 1
        done["cycle_h"] = done["cycle_frames"] * dt
        cols = ["lineage_id", "generation", "begin", "end", "cycle_frames", "cycle_h"]
        cols += ["cell_type"] if "cell_type" in done.columns else []
        return done.reset_index()[["cell_id"] + cols]

    return _per_sample(tracks, one)


def lineage_table(tracks: pd.DataFrame, classes: Sequence[str] = ()) -> pd.DataFrame:
    """One row per lineage: `sample, lineage_id, founder_track_id, n_tracks, n_divisions,
    max_generation, mean_cycle_h, first_frame, last_frame, hours, divisions_per_h, births_per_h,
    divisions_per_cell_h, founder_type, n_final, final_<type>...` where `final_<type>` counts the
    lineage's cells at the sample's last frame and `divisions_per_cell_h` divides the divisions by
    the lineage's cell-hours."""
    _check(tracks)

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        s = track_summary(rows)
        dt = _time_step_h(rows)
        last_frame = _frame_range(rows)[1]
        types = _types(rows, classes)
        lin = rows[["track_id", "frame", "cell_type"]].merge(s[["track_id", "lineage_id"]], on="track_id")
        cycles = cell_cycles(rows).groupby("lineage_id")["cycle_h"].mean()
        g = s.groupby("lineage_id")
        out = pd.DataFrame({
            "founder_track_id": g["founder_track_id"].first(),
            "n_tracks": g.size(),
            "n_divisions": g["divides"].sum().astype(np.int64),
            "max_generation": g["generation"].max(),
            "mean_cycle_h": cycles.reindex(g.size().index),
            "first_frame": g["begin"].min(), "last_frame": g["end"].max(),
        })
        out["hours"] = (out["last_frame"] - out["first_frame"] + 1) * dt
        out["divisions_per_h"] = out["n_divisions"] / out["hours"]
        out["births_per_h"] = g["born"].sum() / out["hours"]
        out["divisions_per_cell_h"] = out["n_divisions"] / (lin.groupby("lineage_id").size() * dt)
        founders = s.set_index("track_id").loc[out["founder_track_id"]]
        out["founder_type"] = founders["first_type"].to_numpy()
        final = lin[lin["frame"] == last_frame].groupby(["lineage_id", "cell_type"]).size().unstack(fill_value=0)
        final = final.reindex(index=out.index, columns=types, fill_value=0).fillna(0).astype(np.int64)
        out["n_final"] = final.sum(axis=1)
        for t in types:
            out[f"final_{t}"] = final[t]
        return out.reset_index()

    return _per_sample(tracks, one)


def _frame_times(rows: pd.DataFrame, frames: np.ndarray) -> np.ndarray:
    known = rows.groupby("frame")["time_h"].first() if "time_h" in rows.columns else pd.Series(dtype=float)
    return known.reindex(frames).fillna(pd.Series(frames * _time_step_h(rows), index=frames)).to_numpy()


def count_types(tracks: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Cells per type per frame, long format `sample, frame, time_h, cell_type, n`: every frame
    from 0 to the last, every class plus `unknown` (and any other type found), zeros included."""
    if "cell_type" not in tracks.columns or "frame" not in tracks.columns:
        raise InputError(f"tracks table: needs columns frame and cell_type; found {list(tracks.columns)}")

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        types = _types(rows, classes)
        frames = np.arange(_frame_range(rows)[1] + 1)
        n = rows.groupby(["frame", "cell_type"]).size()
        grid = pd.MultiIndex.from_product([frames, types], names=["frame", "cell_type"])
        out = n.reindex(grid, fill_value=0).rename("n").reset_index()
        out.insert(1, "time_h", np.repeat(_frame_times(rows, frames), len(types)))
        return out.astype({"frame": np.int64, "n": np.int64})

    return _per_sample(tracks, one)


def count_types_per_lineage(tracks: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Like `count_types` per lineage: `sample, lineage_id, frame, time_h, cell_type, n` for
    every frame from the founder's first frame to the sample's last frame, zeros included."""
    _check(tracks)

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        s = track_summary(rows)
        types = _types(rows, classes)
        last = _frame_range(rows)[1]
        lin = rows[["track_id", "frame", "cell_type"]].merge(s[["track_id", "lineage_id"]], on="track_id")
        n = lin.groupby(["lineage_id", "frame", "cell_type"]).size()
        start = s.groupby("lineage_id")["begin"].min()
        parts = []
        for lid, first in start.items():
            frames = np.arange(first, last + 1)
            grid = pd.MultiIndex.from_product([[lid], frames, types], names=["lineage_id", "frame", "cell_type"])
            part = n.reindex(grid, fill_value=0).rename("n").reset_index()
            part.insert(2, "time_h", np.repeat(_frame_times(rows, frames), len(types)))
            parts.append(part)
        if not parts:
            return pd.DataFrame({"lineage_id": pd.Series(dtype=np.int64), "frame": pd.Series(dtype=np.int64),
                                 "time_h": pd.Series(dtype=float), "cell_type": pd.Series(dtype=object),
                                 "n": pd.Series(dtype=np.int64)})
        return pd.concat(parts, ignore_index=True).astype({"lineage_id": np.int64, "frame": np.int64, "n": np.int64})

    return _per_sample(tracks, one)


def fate_map(tracks: pd.DataFrame, classes: Sequence[str], *,
             founder_types: Sequence[str] | None = None) -> pd.DataFrame:
    """For each founder (only those whose first-frame type is in `founder_types`, default all):
    its progeny at the sample's last frame per type. Columns `sample, lineage_id,
    founder_track_id, founder_type, n_final, n_<type>..., frac_<type>...` (fractions NaN when no
    progeny is left in the field)."""
    table = lineage_table(tracks, classes)
    types = [c[len("final_"):] for c in table.columns if c.startswith("final_")]
    out = table[["sample", "lineage_id", "founder_track_id", "founder_type", "n_final"]].copy()
    for t in types:
        out[f"n_{t}"] = table[f"final_{t}"]
    total = out["n_final"].where(out["n_final"] > 0)
    for t in types:
        out[f"frac_{t}"] = out[f"n_{t}"] / total
    if founder_types is not None:
        out = out[out["founder_type"].isin(list(founder_types))].reset_index(drop=True)
    return out


def _entries(rows: pd.DataFrame, s: pd.DataFrame) -> pd.DataFrame:
    """Events where a cell enters a type: `lineage_id, frame, cell_type, how` (birth or
    differentiation)."""
    first = rows.sort_values("frame").groupby("track_id").first()
    born = s[s["born"]]
    births = pd.DataFrame({"lineage_id": born["lineage_id"].to_numpy(),
                           "frame": born["begin"].to_numpy(),
                           "cell_type": first.loc[born["track_id"], "cell_type"].astype(str).to_numpy(),
                           "how": "birth"})
    seq = rows[["track_id", "frame", "cell_type"]].merge(s[["track_id", "cell_id", "lineage_id"]], on="track_id")
    seq = seq.sort_values(["cell_id", "frame"], kind="stable")
    same_cell = seq["cell_id"].to_numpy()[1:] == seq["cell_id"].to_numpy()[:-1]
    changed = seq["cell_type"].astype(str).to_numpy()[1:] != seq["cell_type"].astype(str).to_numpy()[:-1]
    hit = np.r_[False, same_cell & changed]
    # a cell enters each type at most once, and never the type it started with: per-frame calls
    # that flicker between two types do not inflate the rates
    first_type = seq.groupby("cell_id")["cell_type"].transform("first").astype(str)
    diffs = seq[hit & (seq["cell_type"].astype(str) != first_type).to_numpy()]
    diffs = diffs.drop_duplicates(["cell_id", "cell_type"])[["lineage_id", "frame", "cell_type"]]
    diffs = diffs.assign(how="differentiation", cell_type=diffs["cell_type"].astype(str))
    return pd.concat([births, diffs], ignore_index=True)


def production_rates(tracks: pd.DataFrame, classes: Sequence[str], *, per_lineage: bool = False) -> pd.DataFrame:
    """New cells of each type per hour: `sample, [lineage_id,] cell_type, births,
    differentiations, new_cells, hours, rate_per_h`, over the hours between the sample's first
    and last frame (every class plus `unknown`, zeros included)."""
    _check(tracks)

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        s = track_summary(rows)
        types = _types(rows, classes)
        ev = _entries(rows, s)
        first, last = _frame_range(rows)
        hours = max(last - first, 0) * _time_step_h(rows)
        keys = (["lineage_id"] if per_lineage else []) + ["cell_type"]
        counts = ev.groupby(keys + ["how"]).size().unstack("how", fill_value=0)
        counts = counts.reindex(columns=["birth", "differentiation"], fill_value=0)
        if per_lineage:
            grid = pd.MultiIndex.from_product([sorted(s["lineage_id"].unique()), types], names=keys)
        else:
            grid = pd.Index(types, name="cell_type")
        counts = counts.reindex(grid, fill_value=0).astype(np.int64)
        out = pd.DataFrame({"births": counts["birth"], "differentiations": counts["differentiation"]})
        out["new_cells"] = out["births"] + out["differentiations"]
        out["hours"] = hours
        out["rate_per_h"] = out["new_cells"] / hours if hours > 0 else np.nan
        return out.reset_index()

    return _per_sample(tracks, one)
