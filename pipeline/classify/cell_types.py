"""Cell type per cell: gates from the config (ordered or SCIMAP-style hierarchy, thresholds given
or automatic per channel and sample) or a trained classifier. (Reviewed types, which always win,
are applied afterwards by `marrowflow.review.apply.apply_type_review`.)

Entry point: `classify_cells(cells, params, *, channel_names) -> (typed_cells, thresholds)`, with
`params` a `ClassificationParams` (the config's `classification` section).
A feature named in a condition is looked up as column `mean_<name>` (a channel), else as the
column `<name>` (area_um2, eccentricity, ...); "A/B" is the ratio of two such features.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from marrowflow.classify.gates import (
    ClassRule,
    apply_workflow,
    drop_rules_missing_features,
    rescale_at_threshold,
    rules_from_config,
)
from marrowflow.classify.thresholds import THRESHOLD_COLUMNS, compute_thresholds, normalize_per_frame
from marrowflow.classify.track_vote import TrackVoteParams
from marrowflow.contract import UNKNOWN
from marrowflow.errors import ConfigError, InputError
from marrowflow.io.checks import warn_if_no_cells
from marrowflow.schema import as_params, check_choice, check_keys, schema_fields

_schema = schema_fields("classification")


@dataclass(frozen=True)
class ClassificationParams:
    """The config's `classification` section (defaults from the schema, which documents each
    key): the classes and how they are gated, or the model; `track_vote` smooths the types along
    tracks after tracking."""

    SECTION: ClassVar[str] = "classification"

    method: str = _schema("method")
    order: str = _schema("order")
    threshold_method: str = _schema("threshold_method")
    threshold_scope: str = _schema("threshold_scope")
    threshold_log: bool = _schema("threshold_log")
    thresholds: dict[str, float] = _schema("thresholds")
    min_cells_for_threshold: int = _schema("min_cells_for_threshold")
    min_separation: float = _schema("min_separation")
    min_fold_change: float = _schema("min_fold_change")
    frame_normalization: str = _schema("frame_normalization")
    likely: bool = _schema("likely")
    model_path: str | None = _schema("model_path")
    model_trust: bool = _schema("model_trust")
    classes: list[dict[str, Any]] = _schema("classes")
    track_vote: TrackVoteParams = dataclasses.field(default_factory=TrackVoteParams)

    def __post_init__(self) -> None:
        for key in ("method", "order", "threshold_method", "threshold_scope", "frame_normalization"):
            check_choice(self.SECTION, key, getattr(self, key))

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ClassificationParams:
        """From the `classification` section (keys left out take the defaults; unknown keys raise
        ConfigError)."""
        section = dict(section or {})
        check_keys(section, [f.name for f in dataclasses.fields(cls)], cls.SECTION)
        track_vote = TrackVoteParams.from_config(section.pop("track_vote", None))
        return cls(**section, track_vote=track_vote)


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


def _groups(cells: pd.DataFrame, scope: str) -> pd.Series:
    if scope == "sample" and "sample" in cells.columns:
        return cells["sample"].astype(str)
    return pd.Series("all", index=cells.index)


def gate_features(features: pd.DataFrame, rules: list[ClassRule], params: ClassificationParams, *,
                  groups: pd.Series, frames: pd.Series | None = None,
                  normalize: list[str] | None = None) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Thresholds, rescaling and the workflow on a table of features -> (labels, support, thresholds).

    `normalize` names the features divided by their per-frame median (needs `frames`) when
    `params.frame_normalization` is "median".
    """
    normalized = params.frame_normalization == "median" and bool(normalize) and frames is not None
    if normalized:
        features = normalize_per_frame(features, normalize, frames, groups)
    auto_names = sorted({c.feature for r in rules for c in r.conditions if c.kind != "range" and c.threshold is None})
    thresholds = compute_thresholds(features, auto_names, method=params.threshold_method, groups=groups,
                                    manual=params.thresholds, log=params.threshold_log,
                                    min_cells=params.min_cells_for_threshold,
                                    min_separation=params.min_separation,
                                    min_fold_change=params.min_fold_change)
    if normalized:  # these cutoffs apply to frame-normalised values: say so
        on = thresholds["feature"].isin(normalize)
        thresholds.loc[on, "method"] = thresholds.loc[on, "method"] + FRAME_NORM_SUFFIX
    rescaled = rescale_conditions(features, rules, thresholds, groups)
    labels, support = apply_workflow(rescaled, features, rules, mode=params.order, likely=params.likely)
    return labels, support, thresholds


def classify_cells(cells: pd.DataFrame, params: ClassificationParams | Mapping[str, Any] | None, *,
                   channel_names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add `cell_type`, `type_score` (0..1) and `type_source` to a cells table.

    `params`: the classification parameters (or the config section). method "gates": the
    classes' conditions with thresholds per feature and sample (table returned: sample, feature,
    threshold, method, n_cells); method "model": the random forest at `model_path`.
    """
    params = as_params(ClassificationParams, params)
    warn_if_no_cells(len(cells), "classify", "no threshold can be computed and the typed table is empty")
    typed = cells.drop(columns=[c for c in TYPE_COLUMNS if c in cells.columns])
    rules = rules_from_config(params.classes)
    names = sorted({f.strip() for r in rules for c in r.conditions for f in c.feature.split("/")})
    features = resolve_features(cells, sorted({c.feature for r in rules for c in r.conditions}))
    absent = [n for n in names if _column_for(cells, n) is None]
    if absent:
        warnings.warn(f"feature(s) {absent} named in classification.classes are not in the cells table "
                      f"(channels here: {list(channel_names)})", stacklevel=2)
    rules = drop_rules_missing_features(rules, set(features.columns))
    groups = _groups(cells, params.threshold_scope)
    frames = cells["frame"] if "frame" in cells.columns else None
    markers = [f for f in features.columns if "/" not in f and f in channel_names]
    if rules:
        labels, support, thresholds = gate_features(features, rules, params, groups=groups, frames=frames,
                                                    normalize=markers)
    else:
        labels = pd.Series(UNKNOWN, index=cells.index)
        support = pd.Series(0.0, index=cells.index)
        thresholds = pd.DataFrame(columns=THRESHOLD_COLUMNS)
    if params.method == "model":
        from marrowflow.classify.model import load_model, predict_types

        if not params.model_path:
            raise ConfigError("classification.method is 'model' but classification.model_path is not set; "
                              "train one with `marrowflow train-classifier` and give its path")
        labels, support = predict_types(load_model(params.model_path, trust=params.model_trust), cells)
        source = "model"
    else:
        source = "rule"
    typed["cell_type"] = labels.to_numpy(dtype=object)
    typed["type_score"] = support.to_numpy(dtype=float)
    typed["type_source"] = source
    return typed, thresholds


def review_classes(params: ClassificationParams | Mapping[str, Any] | None) -> list[str]:
    """The types a reviewer may give a cell: the configured classes, the model's classes (method
    model) and `unknown`, in that order without repeats."""
    params = as_params(ClassificationParams, params)
    names = [str(c["name"]) for c in params.classes]
    if params.method == "model" and params.model_path:
        from marrowflow.classify.model import load_model

        names += [str(c) for c in load_model(params.model_path, trust=params.model_trust)["classes"]]
    return list(dict.fromkeys([*names, UNKNOWN]))


def phenotype_table(table: pd.DataFrame, rules: list[ClassRule],
                    params: ClassificationParams | Mapping[str, Any] | None = None, *,
                    gate: float | None = None, gates: pd.DataFrame | None = None, log: bool = True,
                    groups: pd.Series | None = None) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Apply a gating workflow to any cell table (one row per cell, one column per marker).

    Thresholds: `gate` for every marker of a table already rescaled to 0..1; else `gates`
    (columns sample, feature, threshold; SCIMAP manual gates, in log1p units when `log`, as
    SCIMAP's rescale assumes); else the manual/auto thresholds of `params` (its classes are not
    used: `rules` are). Returns (labels, support, thresholds used).
    """
    params = as_params(ClassificationParams, params)
    groups = pd.Series("all", index=table.index) if groups is None else groups.astype(str)
    features = resolve_features(table, sorted({c.feature for r in rules for c in r.conditions}))
    rules = drop_rules_missing_features(rules, set(features.columns))
    marker_names = sorted({c.feature for r in rules for c in r.conditions if c.kind != "range"})
    if gate is None and gates is None:
        return gate_features(features, rules, params, groups=groups)
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
    labels, support = apply_workflow(rescaled, features, rules, mode=params.order, likely=params.likely)
    return labels, support, thresholds
