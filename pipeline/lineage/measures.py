"""Lineage measures from the per-cell events (`cell_events`): fate per generation, sister-pair
symmetry, clone output per founder over time, death and exit rates per type, commitment times.

A "cell" here is one cell from its birth to its end: the tracks of one `cell_id` (a track
continued after a gap is the same cell). Its type is the type at its last frame, its cycle time
and onset those of `cell_events`. Hand-written: these are the definitions of time-lapse
haematopoiesis studies (fate per generation, sister concordance), which no library computes on a
tracks table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from marrowflow.lineage.events import timed_markers
from marrowflow.lineage.tables import (
    _check,
    _entries,
    _per_sample,
    _time_step_h,
    _types,
    count_types_per_lineage,
    track_summary,
)

__all__ = ["cell_table", "clone_output", "commitment_times", "death_exit_rates", "fate_by_generation",
           "sister_pairs"]


def cell_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (`cell_id`) of `cell_events` rows: `sample, cell_id, lineage_id,
    generation, mother_track_id, sister_track_id, begin, end, end_cause, cell_type` (last
    type), `cycle_h` and, per marker, `onset_<m>_h, onset_<m>_from_birth_h` (the cell's first
    onset, since the start and since the cell's first frame)."""
    if not len(events):
        cols = ["sample", "cell_id", "lineage_id", "generation", "mother_track_id", "sister_track_id", "begin",
                "end", "end_cause", "cycle_h", "cell_type"]
        cols += [f"onset_{m}_{s}" for m in timed_markers(events) for s in ("h", "from_birth_h")]
        ints = {"cell_id", "lineage_id", "generation", "mother_track_id", "sister_track_id", "begin", "end"}
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c in ints else object if c in (
            "sample", "end_cause", "cell_type") else float) for c in cols})
    ev = events.sort_values(["sample", "cell_id", "begin"], kind="stable")
    g = ev.groupby(["sample", "cell_id"], sort=True)
    out = g.agg(lineage_id=("lineage_id", "first"), generation=("generation", "first"),
                mother_track_id=("mother_track_id", "first"), sister_track_id=("sister_track_id", "first"),
                begin=("begin", "min"), end=("end", "max"), end_cause=("end_cause", "last"),
                cycle_h=("cycle_h", "first"))
    out["cell_type"] = g["last_type"].last() if "last_type" in ev.columns else np.nan
    birth_h = g["birth_h"].min()
    for m in timed_markers(ev):
        out[f"onset_{m}_h"] = g[f"onset_{m}_h"].min()
        out[f"onset_{m}_from_birth_h"] = out[f"onset_{m}_h"] - birth_h
    return out.reset_index()


def fate_by_generation(events: pd.DataFrame, classes: Sequence[str] = ()) -> pd.DataFrame:
    """Fraction of each type among the cells of each generation: `sample, generation,
    cell_type, n, n_cells, fraction` (type at each cell's last frame; zeros included)."""
    cells = cell_table(events)
    parts = []
    for sample, rows in cells.groupby("sample", sort=True):
        types = _types(rows, classes)
        n = rows.groupby(["generation", "cell_type"]).size()
        grid = pd.MultiIndex.from_product([sorted(rows["generation"].unique()), types],
                                          names=["generation", "cell_type"])
        part = n.reindex(grid, fill_value=0).rename("n").reset_index()
        part["n_cells"] = part.groupby("generation")["n"].transform("sum")
        part["fraction"] = part["n"] / part["n_cells"]
        part.insert(0, "sample", sample)
        parts.append(part)
    if not parts:
        return pd.DataFrame({"sample": pd.Series(dtype=object), "generation": pd.Series(dtype=np.int64),
                             "cell_type": pd.Series(dtype=object), "n": pd.Series(dtype=np.int64),
                             "n_cells": pd.Series(dtype=np.int64), "fraction": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True).astype({"generation": np.int64, "n": np.int64, "n_cells": np.int64})


def sister_pairs(events: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of sisters (two cells born by one division, both tracked): `sample,
    mother_track_id, generation, cell_a, cell_b, cycle_h_a, cycle_h_b, cycle_diff_h (b - a),
    type_a, type_b, same_fate` and per marker `onset_<m>_a_h, onset_<m>_b_h, onset_<m>_diff_h`
    (from birth; NaN where a sister has no onset)."""
    cells = cell_table(events)
    born = cells[(cells["mother_track_id"] > 0) & (cells["sister_track_id"] > 0)]
    a = born[born["cell_id"] < born["sister_track_id"]]
    b = born.set_index(["sample", "cell_id"])
    keys = list(zip(a["sample"], a["sister_track_id"]))
    keep = np.array([k in b.index for k in keys], dtype=bool)
    a = a[keep]
    other = b.loc[[k for k, ok in zip(keys, keep) if ok]].reset_index()
    out = pd.DataFrame({"sample": a["sample"].to_numpy(), "mother_track_id": a["mother_track_id"].to_numpy(),
                        "generation": a["generation"].to_numpy(), "cell_a": a["cell_id"].to_numpy(),
                        "cell_b": other["cell_id"].to_numpy(),
                        "cycle_h_a": a["cycle_h"].to_numpy(float), "cycle_h_b": other["cycle_h"].to_numpy(float)})
    out["cycle_diff_h"] = out["cycle_h_b"] - out["cycle_h_a"]
    out["type_a"] = a["cell_type"].to_numpy()
    out["type_b"] = other["cell_type"].to_numpy()
    out["same_fate"] = out["type_a"] == out["type_b"]
    for m in timed_markers(events):
        out[f"onset_{m}_a_h"] = a[f"onset_{m}_from_birth_h"].to_numpy(float)
        out[f"onset_{m}_b_h"] = other[f"onset_{m}_from_birth_h"].to_numpy(float)
        out[f"onset_{m}_diff_h"] = out[f"onset_{m}_b_h"] - out[f"onset_{m}_a_h"]
    return out.astype({"mother_track_id": np.int64, "generation": np.int64, "cell_a": np.int64,
                       "cell_b": np.int64, "same_fate": bool})


def clone_output(tracks: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Per founder (lineage) per frame per type: `sample, lineage_id, frame, time_h, cell_type,
    n_alive` (cells of the type in the field then) and `n_produced` (cells that entered the type
    by birth or differentiation up to that frame, whatever became of them later)."""
    _check(tracks)
    alive = count_types_per_lineage(tracks, classes).rename(columns={"n": "n_alive"})

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        s = track_summary(rows)
        ev = _entries(rows, s)
        founders = s[s["parent_track_id"] == 0]
        first = rows.sort_values("frame").groupby("track_id")["cell_type"].first()
        ev = pd.concat([ev, pd.DataFrame({"lineage_id": founders["lineage_id"].to_numpy(),
                                          "frame": founders["begin"].to_numpy(),
                                          "cell_type": first.loc[founders["track_id"]].astype(str).to_numpy(),
                                          "how": "founder"})], ignore_index=True)
        return ev.groupby(["lineage_id", "frame", "cell_type"]).size().rename("new").reset_index()

    new = _per_sample(tracks, one) if len(tracks) else pd.DataFrame(
        columns=["sample", "lineage_id", "frame", "cell_type", "new"])
    out = alive.merge(new, on=["sample", "lineage_id", "frame", "cell_type"], how="left")
    out["new"] = out["new"].fillna(0).astype(np.int64)
    out["n_produced"] = out.groupby(["sample", "lineage_id", "cell_type"])["new"].cumsum().astype(np.int64)
    return out.drop(columns="new")


def death_exit_rates(events: pd.DataFrame, tracks: pd.DataFrame, classes: Sequence[str] = ()) -> pd.DataFrame:
    """Per type: `sample, cell_type, cell_hours, deaths, exits, lost, death_rate_per_h,
    exit_rate_per_h, lost_rate_per_h`: track ends of each cause (type at the track's last frame)
    per cell-hour observed in that type (frames of the type x the time step)."""
    _check(tracks)

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        sample = rows["sample"].iloc[0] if "sample" in rows.columns and len(rows) else ""
        ev = events[events["sample"] == sample] if "sample" in events.columns else events
        types = _types(rows, classes)
        hours = rows.groupby("cell_type").size().reindex(types, fill_value=0) * _time_step_h(rows)
        ends = ev.groupby(["last_type", "end_cause"]).size().unstack(fill_value=0) if len(ev) else pd.DataFrame()
        ends = ends.reindex(index=types, columns=["died", "left_field", "lost"], fill_value=0)
        out = pd.DataFrame({"cell_type": types, "cell_hours": hours.to_numpy(float),
                            "deaths": ends["died"].to_numpy(np.int64), "exits": ends["left_field"].to_numpy(np.int64),
                            "lost": ends["lost"].to_numpy(np.int64)})
        per_h = out["cell_hours"].where(out["cell_hours"] > 0)
        for col, name in (("deaths", "death"), ("exits", "exit"), ("lost", "lost")):
            out[f"{name}_rate_per_h"] = out[col] / per_h
        return out

    return _per_sample(tracks, one)


def commitment_times(events: pd.DataFrame, markers: Mapping[str, str]) -> pd.DataFrame:
    """The distribution of marker onsets per lineage, one row per cell with an onset: `sample,
    lineage, marker, cell_id, generation, onset_h` (since the start) and `onset_from_birth_h`."""
    cells = cell_table(events)
    parts = []
    for lineage, m in markers.items():
        if f"onset_{m}_h" not in cells.columns:
            continue
        rows = cells[cells[f"onset_{m}_h"].notna()]
        parts.append(pd.DataFrame({"sample": rows["sample"].to_numpy(), "lineage": lineage, "marker": m,
                                   "cell_id": rows["cell_id"].to_numpy(), "generation": rows["generation"].to_numpy(),
                                   "onset_h": rows[f"onset_{m}_h"].to_numpy(float),
                                   "onset_from_birth_h": rows[f"onset_{m}_from_birth_h"].to_numpy(float)}))
    if not parts:
        return pd.DataFrame({"sample": pd.Series(dtype=object), "lineage": pd.Series(dtype=object),
                             "marker": pd.Series(dtype=object), "cell_id": pd.Series(dtype=np.int64),
                             "generation": pd.Series(dtype=np.int64), "onset_h": pd.Series(dtype=float),
                             "onset_from_birth_h": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True).astype({"cell_id": np.int64, "generation": np.int64})
