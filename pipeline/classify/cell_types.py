"""Cell type per cell: gates from the config (ordered or SCIMAP-style hierarchy, thresholds given
or automatic per channel and sample) or a trained classifier; reviewed types always win.

Entry point: `classify_cells(cells, cfg, *, channel_names) -> (typed_cells, thresholds)`.
A feature named in a condition is looked up as column `mean_<name>` (a channel), else as the
column `<name>` (area_um2, eccentricity, ...); "A/B" is the ratio of two such features.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from marrowflow.errors import ConfigError, InputError
from marrowflow.classify.gates import (
    ClassRule,
    apply_workflow,
    drop_rules_missing_features,
    rescale_at_threshold,
    rules_from_config,
)
from marrowflow.classify.thresholds import THRESHOLD_COLUMNS, compute_thresholds, normalize_per_frame
from marrowflow.contract import UNKNOWN

DEFAULTS: dict[str, Any] = {
    "method": "gates",
    "order": "ordered",
    "threshold_method": "otsu",
    "threshold_scope": "sample",
    "threshold_log": True,
    "thresholds": {},
    "min_cells_for_threshold": 20,
    "min_separation": 3.0,
    "min_fold_change": 2.0,
    "frame_normalization": "none",
    "likely": False,
    "model_path": None,
    "classes": [],
}
TYPE_COLUMNS = ["cell_type", "type_score", "type_source"]
FRAME_NORM_SUFFIX = "+frame-median"  # method suffix of cutoffs on frame-normalised values
ROBUST_RANGE = (0.5, 99.5)  # percentiles that stand for "dimmest" and "brightest" when rescaling


def _column_for(cells: pd.DataFrame, name: str) -> pd.Series | None:
    for col in (f"mean_{name}", name):
        if col in cells.columns:
            return cells[col].astype(float)
    return None


def resolve_features(cells: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """One column per feature name that the table can provide (missing ones are left out).

    `X` -> column `mean_X`, else `X`; `A/B` -> ratio of A and B (NaN where B is 0).
    """
    out = {}
    for name in names:
        if "/" in name:
            num, den = (_column_for(cells, part.strip()) for part in name.split("/", 1))
            if num is not None and den is not None:
                out[name] = num / den.where(den != 0)
            continue
        col = _column_for(cells, name)
        if col is not None:
            out[name] = col
    return pd.DataFrame(out, index=cells.index)


def rescale_conditions(features: pd.DataFrame, rules: list[ClassRule], thresholds: pd.DataFrame,
                       groups: pd.Series, *, bounds: str = "robust") -> pd.DataFrame:
    """Rescaled (0..1, threshold at 0.5) values of every condition of `rules`, group by group.

    `thresholds` (sample, feature, threshold) gives each feature's cutoff per group, used by
    conditions without their own number. `bounds`: "robust" (0.5th-99.5th percentile of the
    group), "minmax" (SCIMAP's rescale) or "unit" (0 and 1: tables already rescaled).
    """
    conds = {c.key: c for rule in rules for c in rule.conditions if c.kind != "range"}
    cut = {(s, f): t for s, f, t in thresholds[["sample", "feature", "threshold"]].itertuples(index=False)}
    out = pd.DataFrame(index=features.index, columns=list(conds), dtype=float)
    for group, idx in groups.groupby(groups, sort=False).groups.items():
        for key, c in conds.items():
            x = features.loc[idx, c.feature].to_numpy(dtype=float)
            t = c.threshold if c.threshold is not None else cut.get((group, c.feature), np.nan)
            finite = x[np.isfinite(x)]
            if not np.isfinite(t) or finite.size == 0:
                warnings.warn(f"no usable threshold for {c.feature!r} in {group!r}; cells there count "
                              "as negative for it", stacklevel=2)
                out.loc[idx, key] = 0.0
                continue
            if bounds == "unit":
                lo, hi = 0.0, 1.0
            elif bounds == "minmax":
                lo, hi = finite.min(), finite.max()
            else:
                lo, hi = np.percentile(finite, ROBUST_RANGE)
            out.loc[idx, key] = np.nan_to_num(rescale_at_threshold(x, t, min(lo, t), max(hi, t)), nan=0.0)
    return out


def settings(cfg: dict | None) -> dict:
    """The classification section with defaults filled in for keys it leaves out."""
    merged = {**DEFAULTS, **(cfg or {})}
    if merged["method"] not in ("gates", "model"):
        raise ConfigError(f"classification.method is {merged['method']!r}; allowed: 'gates', 'model'")
    if merged["frame_normalization"] not in ("none", "median"):
        raise ConfigError(f"classification.frame_normalization is {merged['frame_normalization']!r}; "
                          "allowed: 'none', 'median'")
    return merged


def _groups(cells: pd.DataFrame, scope: str) -> pd.Series:
    if scope == "sample" and "sample" in cells.columns:
        return cells["sample"].astype(str)
    return pd.Series("all", index=cells.index)


def gate_features(features: pd.DataFrame, rules: list[ClassRule], cfg: dict, *,
                  groups: pd.Series, frames: pd.Series | None = None,
                  normalize: list[str] | None = None) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Thresholds, rescaling and the workflow on a table of features -> (labels, support, thresholds).

    `normalize` names the features divided by their per-frame median (needs `frames`) when
    cfg["frame_normalization"] is "median".
    """
    normalized = cfg["frame_normalization"] == "median" and bool(normalize) and frames is not None
    if normalized:
        features = normalize_per_frame(features, normalize, frames, groups)
    auto_names = sorted({c.feature for r in rules for c in r.conditions if c.kind != "range" and c.threshold is None})
    thresholds = compute_thresholds(features, auto_names, method=cfg["threshold_method"], groups=groups,
                                    manual=cfg["thresholds"], log=cfg["threshold_log"],
                                    min_cells=cfg["min_cells_for_threshold"],
                                    min_separation=cfg["min_separation"],
                                    min_fold_change=cfg["min_fold_change"])
    if normalized:  # these cutoffs apply to frame-normalised values: say so
        on = thresholds["feature"].isin(normalize)
        thresholds.loc[on, "method"] = thresholds.loc[on, "method"] + FRAME_NORM_SUFFIX
    rescaled = rescale_conditions(features, rules, thresholds, groups)
    labels, support = apply_workflow(rescaled, features, rules, mode=cfg["order"], likely=cfg["likely"])
    return labels, support, thresholds


def classify_cells(cells: pd.DataFrame, cfg: dict, *, channel_names: list[str],
                   reviewed: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add `cell_type`, `type_score` (0..1) and `type_source` to a cells table.

    cfg is the config's `classification` section. method "gates": the classes' conditions with
    thresholds per feature and sample (table returned: sample, feature, threshold, method,
    n_cells); method "model": the random forest at `model_path`. `reviewed` (frame, label,
    cell_type[, sample]) overrides both (type_source "review").
    """
    cfg = settings(cfg)
    typed = cells.drop(columns=[c for c in TYPE_COLUMNS if c in cells.columns])
    rules = rules_from_config(cfg["classes"])
    names = sorted({f.strip() for r in rules for c in r.conditions for f in c.feature.split("/")})
    features = resolve_features(cells, sorted({c.feature for r in rules for c in r.conditions}))
    absent = [n for n in names if _column_for(cells, n) is None]
    if absent:
        warnings.warn(f"feature(s) {absent} named in classification.classes are not in the cells table "
                      f"(channels here: {list(channel_names)})", stacklevel=2)
    rules = drop_rules_missing_features(rules, set(features.columns))
    groups = _groups(cells, cfg["threshold_scope"])
    frames = cells["frame"] if "frame" in cells.columns else None
    markers = [f for f in features.columns if "/" not in f and f in channel_names]
    if rules:
        labels, support, thresholds = gate_features(features, rules, cfg, groups=groups, frames=frames,
                                                    normalize=markers)
    else:
        labels = pd.Series(UNKNOWN, index=cells.index)
        support = pd.Series(0.0, index=cells.index)
        thresholds = pd.DataFrame(columns=THRESHOLD_COLUMNS)
    if cfg["method"] == "model":
        from marrowflow.classify.model import load_model, predict_types

        if not cfg["model_path"]:
            raise ConfigError("classification.method is 'model' but classification.model_path is not set; "
                              "train one with `marrowflow train-classifier` and give its path")
        labels, support = predict_types(load_model(cfg["model_path"]), cells)
        source = "model"
    else:
        source = "rule"
    typed["cell_type"] = labels.to_numpy(dtype=object)
    typed["type_score"] = support.to_numpy(dtype=float)
    typed["type_source"] = source
    if reviewed is not None:
        typed = apply_reviewed_types(typed, reviewed)
    return typed, thresholds


def apply_reviewed_types(cells: pd.DataFrame, reviewed: pd.DataFrame) -> pd.DataFrame:
    """Set the reviewer's `cell_type` (type_score 1, type_source "review") on the cells it names.

    `reviewed` has columns frame, label, cell_type (+ sample, used when both tables have it).
    Rows naming no cell of `cells` are ignored. Returns a new table.
    """
    need = {"frame", "label", "cell_type"}
    if not need <= set(reviewed.columns):
        raise InputError(f"reviewed cell types need columns {sorted(need)}; found {list(reviewed.columns)}. "
                         "Write reviews/<sample>/cell_types.csv from the napari review widget")
    keys = ["frame", "label"] + (["sample"] if "sample" in reviewed.columns and "sample" in cells.columns else [])
    rev = reviewed[keys + ["cell_type"]].drop_duplicates(keys, keep="last")
    rev = rev.rename(columns={"cell_type": "_reviewed"})
    out = cells.copy()
    if "type_source" not in out.columns:
        out["type_source"] = "rule"
    merged = out[keys].merge(rev, on=keys, how="left")
    hit = merged["_reviewed"].notna().to_numpy()
    out.loc[hit, "cell_type"] = merged.loc[hit, "_reviewed"].astype(str).to_numpy()
    out["type_score"] = out.get("type_score", pd.Series(np.nan, index=out.index)).astype(float)
    out.loc[hit, "type_score"] = 1.0
    out.loc[hit, "type_source"] = "review"
    return out


def phenotype_table(table: pd.DataFrame, rules: list[ClassRule], cfg: dict | None = None, *,
                    gate: float | None = None, gates: pd.DataFrame | None = None, log: bool = True,
                    groups: pd.Series | None = None) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Apply a gating workflow to any cell table (one row per cell, one column per marker).

    Thresholds: `gate` for every marker of a table already rescaled to 0..1; else `gates`
    (columns sample, feature, threshold; SCIMAP manual gates, in log1p units when `log`, as
    SCIMAP's rescale assumes); else the config's manual/auto thresholds. Returns
    (labels, support, thresholds used).
    """
    cfg = settings(cfg)
    groups = pd.Series("all", index=table.index) if groups is None else groups.astype(str)
    features = resolve_features(table, sorted({c.feature for r in rules for c in r.conditions}))
    rules = drop_rules_missing_features(rules, set(features.columns))
    marker_names = sorted({c.feature for r in rules for c in r.conditions if c.kind != "range"})
    if gate is None and gates is None:
        return gate_features(features, rules, cfg, groups=groups)
    if gate is not None:
        rows = [(g, f, float(gate), "manual", int((groups == g).sum())) for g in groups.unique() for f in marker_names]
        bounds = "unit"
    else:
        if log:
            features = features.copy()
            features[marker_names] = np.log1p(features[marker_names].clip(lower=0))
        cut = {(s, f): t for s, f, t in gates[["sample", "feature", "threshold"]].itertuples(index=False)}
        rows = []
        for g in groups.unique():
            for f in marker_names:
                t = cut.get((g, f), cut.get(("all", f)))
                if t is None:
                    raise InputError(f"the gates give no cutoff for marker {f!r} (sample {g!r}); add a "
                                     f"line '{f},<gate>' to the gates file")
                rows.append((g, f, float(t), "manual", int((groups == g).sum())))
        bounds = "minmax"
    thresholds = pd.DataFrame(rows, columns=THRESHOLD_COLUMNS)
    rescaled = rescale_conditions(features, rules, thresholds, groups, bounds=bounds)
    labels, support = apply_workflow(rescaled, features, rules, mode=cfg["order"], likely=cfg["likely"])
    return labels, support, thresholds
