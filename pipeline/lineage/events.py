"""Per-cell events: how each track begins and ends, its family, cycle time and marker onsets.

Input: the tracks table (`track_cells` + `cell_type`, with `y, x, area_px` and `mean_<channel>`
from the measure step), the classification's thresholds table (`sample, feature, threshold,
method`), the field's (height, width) and the movie's frame count. Written by hand: no tracking
or lineage library (traccuracy, motile, geff) classifies track ends or times marker onsets.

Birth (`birth_cause`): `division` (the parent divided), `continued` (the same cell after a gap:
a parent with one child), `founder` (present in the movie's first frame), `entered_field` (first
seen within reach of the border), `appeared` (first seen inside the field, later than frame 0).

End (`end_cause`), decided in this order:
- `divided` (two or more children), `continued` (one child: a gap), `end_of_movie` (present in
  the last frame);
- `died`: the nucleus shrank and brightened over the track's last `death_window_frames`
  frames, judged against the sample's own frame-to-frame noise: the smallest log area and the
  largest log nuclear mean intensity within that window, minus their values the frame before
  it, are turned into robust z-scores against the same statistic over every other window along
  the sample's tracks (median, 1.4826 x MAD); death needs `area_trend_z <= -z` and
  `intensity_trend_z >= z` with z = death_z / sqrt(2): two one-sided tests whose joint false
  alarm rate on ordinary windows (Phi(-z)^2, 3e-4 for death_z = 3) stays below that of one test
  at death_z (apoptosis condenses the nucleus; the largest intensity, not the last, because the
  smallest nuclei lose brightness to the optics' blur). `death_z` is a significance level on
  the sample's own noise, not a constant fitted to one movie;
- `left_field`: the last centroid lies within reach of the border: closer than the cell's own
  equivalent radius (sqrt(area / pi)) plus the sample's 95th percentile frame-to-frame step;
- `lost`: ended inside the field without any of the above (a tracking or segmentation miss).

Marker onset of a lineage marker (`onset_markers`: lineage -> channel): a frame is positive when
`mean_<channel>` is above the sample's threshold (frame-normalised first when the threshold says
`+frame-median`). The onset is the first frame of the first run of >= `onset_min_frames`
positive frames that follows a negative frame of the same cell (the mother's or the previous
track's last frame counts for a track's first frame); `onset_<m>_subframe` interpolates the
crossing of the threshold linearly between that negative frame and the onset frame (so an onset
at a daughter's first frame may lie up to one frame before her birth). A track
that is positive from its first frame on, without a negative frame before, inherited the marker
(`<m>_at_birth` true, onset NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from marrowflow.errors import ConfigError, InputError
from marrowflow.lineage.tables import _per_sample, _time_step_h, cell_cycles, track_summary
from marrowflow.schema import config_section, schema_fields

__all__ = ["BIRTH_CAUSES", "END_CAUSES", "EventParams", "cell_events", "lineage_markers", "timed_markers"]

BIRTH_CAUSES = ("division", "continued", "founder", "entered_field", "appeared")
END_CAUSES = ("divided", "continued", "end_of_movie", "died", "left_field", "lost")
_MAD_SD = 1.4826  # MAD of a normal distribution times this = its SD

_schema = schema_fields("lineage")


@dataclass(frozen=True)
class EventParams:
    """The config's `lineage` section (defaults from the schema, which documents each key)."""

    SECTION: ClassVar[str] = "lineage"

    onset_min_frames: int = _schema("onset_min_frames")
    death_window_frames: int = _schema("death_window_frames")
    death_z: float = _schema("death_z")
    onset_markers: dict[str, str] = _schema("onset_markers")

    def __post_init__(self) -> None:
        for key in ("onset_min_frames", "death_window_frames"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"lineage.{key} is {getattr(self, key)}; it must be an integer >= 1")
        if not float(self.death_z) > 0:
            raise ConfigError(f"lineage.death_z is {self.death_z}; it must be > 0")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> EventParams:
        """From the `lineage` section; unknown keys raise ConfigError."""
        section = dict(section or {})
        section["onset_markers"] = dict(section.get("onset_markers") or {})
        return config_section(cls, section)


def lineage_markers(classes: Sequence[Mapping[str, Any]], transitions: Mapping[str, Sequence[str]],
                    channels: Sequence[str]) -> dict[str, str]:
    """lineage -> marker channel: each type a cell may switch to (`track_vote.transitions`
    targets) whose class condition asks exactly one channel of `channels` to be `pos`."""
    targets = {t for ts in transitions.values() for t in ts}
    out = {}
    for c in classes:
        when = c.get("when") or {}
        pos = [k for k, v in when.items() if k in channels and str(v).strip() == "pos"]
        if c.get("name") in targets and len(pos) == 1:
            out[str(c["name"])] = pos[0]
    return out


def timed_markers(events: pd.DataFrame) -> list[str]:
    """The markers whose onsets a `cell_events` table holds (its `onset_<m>_subframe` columns)."""
    return [c[len("onset_"):-len("_subframe")] for c in events.columns
            if c.startswith("onset_") and c.endswith("_subframe")]


def _robust_z(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    """(values - median(null)) / (1.4826 MAD(null)); NaN without a usable null."""
    null = null[np.isfinite(null)]
    if len(null) < 5:
        return np.full(len(values), np.nan)
    med = np.median(null)
    mad = _MAD_SD * np.median(np.abs(null - med))
    return (values - med) / mad if mad > 0 else np.full(len(values), np.nan)


def _window_changes(rows: pd.DataFrame, column: str, window: int, extreme: str) -> tuple[pd.Series, np.ndarray]:
    """(per track: the `extreme` ("min" or "max") of log `column` over its last `window` frames
    minus its value the frame before (fewer frames for a short track, NaN for one frame); the same
    statistic for every window along the tracks that does not end one: the null)."""
    floor = max(float(rows[column].median()) * 1e-2, 1e-9) if len(rows) else 1e-9
    logv = pd.Series(np.log(np.clip(rows[column].to_numpy(float), floor, None)))
    tid = rows["track_id"].to_numpy()
    pos = rows.groupby("track_id").cumcount().to_numpy()
    size = rows.groupby("track_id")["frame"].transform("size").to_numpy()
    by_track = logv.groupby(tid)
    rolled = by_track.transform(lambda v: getattr(v.rolling(window, min_periods=1), extreme)()).to_numpy()
    stat = rolled - by_track.shift(window).to_numpy()
    null = stat[pos < size - 1]
    last = np.nonzero(pos == size - 1)[0]
    k = np.minimum(window, size[last] - 1)
    ends = np.array([getattr(logv.iloc[i - j + 1:i + 1], extreme)() - logv.iloc[i - j] if j > 0 else np.nan
                     for i, j in zip(last, k)])
    return pd.Series(ends, index=tid[last]), null


def _onsets(rows: pd.DataFrame, s: pd.DataFrame, values: pd.Series, threshold: float, n_min: int) -> pd.DataFrame:
    """Per track: onset frame, sub-frame crossing and positive-at-birth of one marker."""
    v = values.to_numpy(float)
    frames = rows["frame"].to_numpy()
    last_value = pd.Series(v).groupby(rows["track_id"].to_numpy()).last()
    parent = s.set_index("track_id")["parent_track_id"]
    out = {}
    for tid, idx in rows.groupby("track_id", sort=True).indices.items():
        x, f = v[idx], frames[idx]
        positive = x > threshold
        par = parent.get(tid, 0)
        before = last_value.get(par, np.nan) if par else np.nan
        prev_neg = np.r_[bool(np.isfinite(before) and before <= threshold), ~positive[:-1]]
        run = np.zeros(len(x), int)  # length of the positive run starting at each frame
        for i in range(len(x) - 1, -1, -1):
            run[i] = (run[i + 1] + 1 if i + 1 < len(x) else 1) if positive[i] else 0
        hits = np.nonzero(positive & prev_neg & (run >= n_min))[0]
        at_birth = bool(positive[0] and not prev_neg[0] and run[0] >= min(n_min, len(x)))
        if not len(hits):
            out[tid] = (np.nan, np.nan, at_birth)
            continue
        i = int(hits[0])
        if i:
            x0, f0 = x[i - 1], f[i - 1]
        else:
            x0, f0 = before, s.set_index("track_id").at[par, "end"]
        frac = (threshold - x0) / (x[i] - x0) if x[i] != x0 else 1.0
        out[tid] = (float(f[i]), float(f0 + np.clip(frac, 0.0, 1.0) * (f[i] - f0)), False)
    return pd.DataFrame.from_dict(out, orient="index", columns=["frame", "subframe", "at_birth"])


def _border_distance(rows: pd.DataFrame, height: int, width: int) -> np.ndarray:
    y, x = rows["y"].to_numpy(float), rows["x"].to_numpy(float)
    return np.minimum.reduce([y, x, height - 1 - y, width - 1 - x])


def _threshold_for(thresholds: pd.DataFrame, sample: str, marker: str) -> tuple[float, bool]:
    from marrowflow.classify.cell_types import FRAME_NORM_SUFFIX  # classify loads scikit-learn: only here

    rows = thresholds[thresholds["feature"].astype(str) == marker]
    if "sample" in rows.columns and (rows["sample"].astype(str) == str(sample)).any():
        rows = rows[rows["sample"].astype(str) == str(sample)]
    if not len(rows) or not np.isfinite(float(rows["threshold"].iloc[0])):
        return math.nan, False
    return float(rows["threshold"].iloc[0]), str(rows["method"].iloc[0]).endswith(FRAME_NORM_SUFFIX)


def cell_events(tracks: pd.DataFrame, thresholds: pd.DataFrame, *, field_shape: Sequence[int], n_frames: int,
                nuclear_channel: str, params: EventParams | Mapping[str, Any] | None = None,
                markers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per track: `sample, track_id, cell_id, lineage_id, founder_track_id,
    parent_track_id, mother_track_id, sister_track_id, generation, begin, end, n_frames,
    birth_h, end_h, birth_cause, end_cause, border_distance_px, area_trend_z, intensity_trend_z, cycle_frames,
    cycle_h, first_type, last_type`, then per marker m of `markers` (lineage -> channel, else
    `params.onset_markers`): `onset_<m>_frame, onset_<m>_subframe, onset_<m>_from_birth_h,
    onset_<m>_h, <m>_at_birth` (see the module docstring; hours from the tracks' `time_h`)."""
    p = params if isinstance(params, EventParams) else EventParams.from_config(params)
    markers = dict(markers if markers is not None else p.onset_markers)
    need = ["frame", "track_id", "parent_track_id", "y", "x", "area_px", f"mean_{nuclear_channel}"]
    need += [f"mean_{m}" for m in markers.values()]
    missing = [c for c in need if c not in tracks.columns]
    if missing:
        raise InputError(f"tracks table: column(s) {missing} missing for the cell events; found "
                         f"{list(tracks.columns)}. It must come from the track step of a measured movie")
    height, width = (int(v) for v in field_shape[-2:])
    last_frame = int(n_frames) - 1

    def one(rows: pd.DataFrame) -> pd.DataFrame:
        sample = str(rows["sample"].iloc[0]) if "sample" in rows.columns and len(rows) else ""
        rows = rows.sort_values(["track_id", "frame"], kind="stable").reset_index(drop=True)
        s = track_summary(rows).set_index("track_id")
        dt = _time_step_h(rows)
        g = rows.groupby("track_id", sort=True)
        first, last = g.first(), g.last()
        dist = _border_distance(last, height, width)
        dist0 = _border_distance(first, height, width)
        steps = np.hypot(g["y"].diff(), g["x"].diff()).dropna()
        reach_step = float(np.percentile(steps, 95)) if len(steps) else 0.0
        reach = np.sqrt(last["area_px"].to_numpy(float) / np.pi) + reach_step
        reach0 = np.sqrt(first["area_px"].to_numpy(float) / np.pi) + reach_step
        area_change, area_null = _window_changes(rows, "area_px", p.death_window_frames, "min")
        int_change, int_null = _window_changes(rows, f"mean_{nuclear_channel}", p.death_window_frames, "max")
        area_z = pd.Series(_robust_z(area_change.to_numpy(), area_null), index=area_change.index)
        int_z = pd.Series(_robust_z(int_change.to_numpy(), int_null), index=int_change.index)

        out = pd.DataFrame(index=s.index)
        out["cell_id"] = s["cell_id"]
        out["lineage_id"] = s["lineage_id"]
        out["founder_track_id"] = s["founder_track_id"]
        out["parent_track_id"] = s["parent_track_id"]
        first_of_cell = s["cell_id"]
        mother = s["parent_track_id"].where(s["born"], 0)
        out["mother_track_id"] = mother.reindex(first_of_cell.to_numpy()).to_numpy()
        children = s[s["born"]].groupby("parent_track_id").groups
        sister = {t: next((o for o in kids if o != t), 0) for kids in children.values() for t in kids}
        out["sister_track_id"] = pd.Series(sister, dtype=np.int64).reindex(first_of_cell.to_numpy(),
                                                                             fill_value=0).to_numpy()
        out["generation"] = s["generation"]
        out["begin"], out["end"] = s["begin"], s["end"]
        out["n_frames"] = g.size()
        out["birth_h"] = out["begin"] * dt
        out["end_h"] = out["end"] * dt
        has_parent = s["parent_track_id"] > 0
        birth = np.select([s["born"], has_parent, s["begin"] == 0, dist0 <= reach0],
                          ["division", "continued", "founder", "entered_field"], "appeared")
        out["birth_cause"] = birth
        each = p.death_z / math.sqrt(2.0)  # two one-sided tests that together are as strict as death_z
        died = ((area_z <= -each) & (int_z >= each)).reindex(s.index, fill_value=False)
        end = np.select([s["divides"], s["n_children"] == 1, s["end"] >= last_frame, died.to_numpy(),
                         dist <= reach],
                        ["divided", "continued", "end_of_movie", "died", "left_field"], "lost")
        out["end_cause"] = end
        out["border_distance_px"] = dist
        out["area_trend_z"] = area_z.reindex(s.index).to_numpy(float)
        out["intensity_trend_z"] = int_z.reindex(s.index).to_numpy(float)
        cycles = cell_cycles(rows).set_index("cell_id")
        out["cycle_frames"] = cycles["cycle_frames"].reindex(s["cell_id"].to_numpy()).to_numpy(float)
        out["cycle_h"] = out["cycle_frames"] * dt
        if "first_type" in s.columns:
            out["first_type"], out["last_type"] = s["first_type"], s["last_type"]
        for marker in markers.values():
            thr, normalised = _threshold_for(thresholds, sample, marker)
            col = f"mean_{marker}"
            values = rows[col].astype(float)
            if normalised:
                from marrowflow.classify.thresholds import normalize_per_frame

                values = normalize_per_frame(rows[[col]], [col], rows["frame"])[col]
            if np.isfinite(thr):
                on = _onsets(rows, s.reset_index(), values, thr, p.onset_min_frames).reindex(s.index)
            else:
                on = pd.DataFrame({"frame": np.nan, "subframe": np.nan, "at_birth": False}, index=s.index)
            out[f"onset_{marker}_frame"] = on["frame"].to_numpy(float)
            out[f"onset_{marker}_subframe"] = on["subframe"].to_numpy(float)
            out[f"onset_{marker}_from_birth_h"] = (on["subframe"] - s["begin"]).to_numpy(float) * dt
            out[f"onset_{marker}_h"] = on["subframe"].to_numpy(float) * dt
            out[f"{marker}_at_birth"] = on["at_birth"].fillna(False).astype(bool).to_numpy()
        ints = ["cell_id", "lineage_id", "founder_track_id", "parent_track_id", "mother_track_id",
                "sister_track_id", "generation", "begin", "end", "n_frames"]
        out.index.name = "track_id"
        return out.astype({c: np.int64 for c in ints}).reset_index()

    if not len(tracks):
        return _empty(markers, "first_type" if "cell_type" in tracks.columns else None)
    return _per_sample(tracks, one)


def _empty(markers: Mapping[str, str], typed: str | None) -> pd.DataFrame:
    ints = ["track_id", "cell_id", "lineage_id", "founder_track_id", "parent_track_id", "mother_track_id",
            "sister_track_id", "generation", "begin", "end", "n_frames"]
    cols: dict[str, Any] = {"sample": pd.Series(dtype=object)}
    cols.update({c: pd.Series(dtype=np.int64) for c in ints})
    cols.update({"birth_h": pd.Series(dtype=float), "end_h": pd.Series(dtype=float),
                 "birth_cause": pd.Series(dtype=object), "end_cause": pd.Series(dtype=object)})
    for c in ("border_distance_px", "area_trend_z", "intensity_trend_z", "cycle_frames", "cycle_h"):
        cols[c] = pd.Series(dtype=float)
    if typed:
        cols.update({"first_type": pd.Series(dtype=object), "last_type": pd.Series(dtype=object)})
    for m in markers.values():
        for suffix in ("frame", "subframe", "from_birth_h", "h"):
            cols[f"onset_{m}_{suffix}"] = pd.Series(dtype=float)
        cols[f"{m}_at_birth"] = pd.Series(dtype=bool)
    return pd.DataFrame(cols)
