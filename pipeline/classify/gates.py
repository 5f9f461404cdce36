"""Gating workflows: classes defined by conditions on per-cell features, as an ordered list or a
hierarchy, with SCIMAP's `phenotype_cells` semantics.

A workflow is a list of `ClassRule` (name, parent group, conditions). Conditions act on values
rescaled to 0..1 with the feature's threshold at 0.5 (`rescale_at_threshold`), as SCIMAP's
`rescale` does, so one set of rules serves raw intensities with auto thresholds, manual gates
and tables already rescaled.

Evaluation (`apply_workflow`) follows `scimap.tl.phenotype_cells`: groups (parents) are visited in
the order they first appear; the first group sees every cell, every later group sees the cells
whose label (in any earlier group) equals the group's name. Within a group:

- mode "hierarchy" (SCIMAP): each class gets a score, the mean over the condition kinds it uses
  of: pos = mean of its markers, neg = mean of (1 - marker), anypos = max, anyneg = max(1 - x),
  allpos = max + 0.01 if every marker >= gate else 0, allneg likewise on 1 - x. A cell whose
  scores are all below the gate is "<group>-rest"; otherwise the highest score wins (ties: the
  first class listed). With `likely`, a winner defined by several `pos` (or `neg`) markers of
  which one fails the gate becomes "likely-<class>".
- mode "ordered": the first class (in list order) whose conditions all hold wins; else
  "<group>-rest".
Range conditions (`[low, high]` on a raw feature) are hard requirements in both modes.
A cell's final label is its label in the last group that labelled it ("-rest" labels do not
count); a cell no group labels is `unknown`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from marrowflow.contract import UNKNOWN
from marrowflow.errors import ConfigError, InputError

ROOT = "all"
TOKENS = ("pos", "neg", "anypos", "anyneg", "allpos", "allneg")
_COMPARISON = re.compile(r"^\s*(>=|<=|>|<)\s*(auto|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """One requirement on one feature.

    kind: one of TOKENS (relative to the threshold: the feature's own one when `threshold` is
    None, else this number) or "range" (low <= value <= high on the raw feature; None = open).
    """

    feature: str
    kind: str
    threshold: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def key(self) -> str:
        """Column name of this condition's rescaled values."""
        return f"{self.feature}@{'auto' if self.threshold is None else repr(self.threshold)}"


@dataclass(frozen=True)
class ClassRule:
    """A class: its name, the group (parent class, or ROOT) it refines, and its conditions."""

    name: str
    parent: str
    conditions: tuple[Condition, ...]

    @property
    def features(self) -> list[str]:
        return sorted({c.feature for c in self.conditions})


def parse_condition(feature: str, spec: object, *, where: str) -> Condition:
    """Parse a config value: a token (pos, neg, anypos, ...), "> 0.3" / "< auto", or [low, high]."""
    if isinstance(spec, str) and spec.strip().lower() in TOKENS:
        return Condition(feature, spec.strip().lower())
    if isinstance(spec, str) and (m := _COMPARISON.match(spec)):
        kind = "pos" if m.group(1).startswith(">") else "neg"
        value = None if m.group(2) == "auto" else float(m.group(2))
        return Condition(feature, kind, threshold=value)
    if isinstance(spec, (list, tuple)) and len(spec) == 2 and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in spec):
        low, high = (None if v is None else float(v) for v in spec)
        if low is not None and high is not None and low > high:
            raise ConfigError(f"{where}: range {list(spec)} for {feature!r} has low > high")
        return Condition(feature, "range", low=low, high=high)
    raise ConfigError(
        f"{where}: condition {feature}: {spec!r} is not understood; use one of "
        f"{', '.join(TOKENS)}, a comparison like \"> 0.3\" or \"< auto\", or a range [low, high]")


def rules_from_config(classes: list[dict], *, where: str = "classification.classes") -> list[ClassRule]:
    """Turn the config's `classes` list ({name, when, [parent]}) into rules; checks names."""
    rules = []
    names = [c.get("name") for c in classes]
    for i, item in enumerate(classes):
        here = f"{where}[{i}]"
        name = item.get("name")
        if not isinstance(name, str) or not name or name == UNKNOWN:
            raise ConfigError(f"{here}: every class needs a 'name' (a non-empty string other than '{UNKNOWN}')")
        unknown_keys = set(item) - {"name", "when", "parent"}
        if unknown_keys:
            raise ConfigError(f"{here} ({name}): unknown key(s) {sorted(unknown_keys)}; allowed: name, when, parent")
        when = item.get("when") or {}
        if not isinstance(when, dict) or not when:
            raise ConfigError(f"{here} ({name}): 'when' must map features to conditions, "
                              "e.g. when: {CD235a: pos}")
        parent = item.get("parent") or ROOT
        if parent != ROOT and parent not in names and not parent.endswith("-rest"):
            raise ConfigError(f"{here} ({name}): parent {parent!r} is not a class name; "
                              f"classes: {[n for n in names if n]}")
        conds = tuple(parse_condition(str(f), s, where=f"{here} ({name})") for f, s in when.items())
        rules.append(ClassRule(name, parent, conds))
    if len(set(names)) != len(names) and not any(r.parent != ROOT for r in rules):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{where}: class name(s) {dup} appear twice in a flat list; give each class once")
    return rules


def read_scimap_workflow(path: str | Path) -> list[ClassRule]:
    """Read SCIMAP's phenotype_workflow.csv: columns parent, class, then one column per marker
    holding pos/neg/anypos/anyneg/allpos/allneg or nothing."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, encoding="utf-8-sig").fillna("")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"Gating workflow {path} cannot be read as CSV: {exc}") from exc
    if table.shape[1] < 3:
        raise InputError(f"Gating workflow {path}: expected columns parent, class, <markers...> "
                         f"(SCIMAP phenotype_workflow.csv); found {list(table.columns)}")
    rules = []
    markers = list(table.columns[2:])
    for row_no, row in enumerate(table.itertuples(index=False), start=2):
        parent, name, values = row[0].strip(), row[1].strip(), row[2:]
        conds = []
        for marker, value in zip(markers, values):
            token = value.strip().lower()
            if not token:
                continue
            if token not in TOKENS:
                raise InputError(f"Gating workflow {path}, line {row_no}, column {marker}: {value!r} "
                                 f"is not one of {', '.join(TOKENS)}")
            conds.append(Condition(marker.strip(), token))
        if not parent or not name or not conds:
            raise InputError(f"Gating workflow {path}, line {row_no}: needs a parent, a class name "
                             "and at least one marker condition")
        rules.append(ClassRule(name, parent, tuple(conds)))
    return rules


def drop_rules_missing_features(rules: list[ClassRule], available: set[str]) -> list[ClassRule]:
    """Remove rules needing a feature not in `available`, with a warning per removed class."""
    kept = []
    for rule in rules:
        missing = [f for f in rule.features if f not in available]
        if missing:
            warnings.warn(f"class {rule.name!r} (under {rule.parent!r}) needs feature(s) {missing} that "
                          "the cells table lacks; no cell can be typed as it here", stacklevel=2)
        else:
            kept.append(rule)
    return kept


def rescale_at_threshold(values: np.ndarray, threshold: float, low: float, high: float) -> np.ndarray:
    """Map values piecewise-linearly: [low, threshold] -> [0, 0.5], [threshold, high] -> [0.5, 1].

    Clipped to 0..1; NaN stays NaN. With low=0, high=1, threshold=0.5 this is the identity.
    """
    x = np.asarray(values, dtype=float)
    below = 0.5 * (x - low) / max(threshold - low, 1e-12)
    above = 0.5 + 0.5 * (x - threshold) / max(high - threshold, 1e-12)
    return np.clip(np.where(x < threshold, below, above), 0.0, 1.0)


def _class_score(r: dict[str, np.ndarray], raw: pd.DataFrame, rule: ClassRule, gate: float,
                 n: int) -> tuple[np.ndarray, np.ndarray]:
    """SCIMAP score of one class for every cell, and its 'likely' flag (pos/neg partial fail)."""
    by_kind: dict[str, list[np.ndarray]] = {}
    for c in rule.conditions:
        if c.kind != "range":
            by_kind.setdefault(c.kind, []).append(r[c.key])
    parts = []
    likely = np.zeros(n, dtype=bool)
    for kind, arrays in by_kind.items():
        m = np.column_stack(arrays)
        if kind == "pos":
            parts.append(m.mean(axis=1))
            if m.shape[1] > 1:
                likely |= (m < gate).any(axis=1)
        elif kind == "neg":
            parts.append((1 - m).mean(axis=1))
            if m.shape[1] > 1:
                likely |= (m > gate).any(axis=1)
        elif kind == "anypos":
            parts.append(m.max(axis=1))
        elif kind == "anyneg":
            parts.append((1 - m).max(axis=1))
        elif kind == "allpos":
            parts.append(np.where((m < gate).any(axis=1), 0.0, m.max(axis=1)) + 0.01)
        else:  # allneg
            parts.append(np.where((1 - m < gate).any(axis=1), 0.0, (1 - m).max(axis=1)) + 0.01)
    score = np.mean(parts, axis=0) if parts else np.ones(n)
    inside = _inside_ranges(raw, rule)
    return np.where(inside, score, 0.0), likely


def _inside_ranges(raw: pd.DataFrame, rule: ClassRule) -> np.ndarray:
    ok = np.ones(len(raw), dtype=bool)
    for c in rule.conditions:
        if c.kind == "range":
            x = raw[c.feature].to_numpy(dtype=float)
            ok &= (x >= (-np.inf if c.low is None else c.low)) & (x <= (np.inf if c.high is None else c.high))
    return ok


def condition_support(r: dict[str, np.ndarray], raw: pd.DataFrame, rule: ClassRule) -> np.ndarray:
    """How clearly a cell meets all of a class's conditions, in -1..1 (> 0: every condition holds).

    Per condition, the signed distance to its threshold on the 0..1 rescaled axis (x2), so 1 is
    as far above the threshold as the brightest cells; the class's support is the weakest one.
    Ranges: signed distance to the nearer bound relative to half the range's width.
    """
    supports = []
    for c in rule.conditions:
        if c.kind == "range":
            x = raw[c.feature].to_numpy(dtype=float)
            lo = -np.inf if c.low is None else c.low
            hi = np.inf if c.high is None else c.high
            half = (hi - lo) / 2 if np.isfinite(hi - lo) and hi > lo else max(np.nanstd(x), 1e-12)
            supports.append(np.clip(np.minimum(x - lo, hi - x) / half, -1, 1))
            continue
        s = 2 * r[c.key] - 1
        supports.append(s if c.kind.endswith("pos") else -s)
    # group any*/all* markers of the same kind: any -> best marker, all -> worst marker
    by_kind: dict[str, list[np.ndarray]] = {}
    plain = []
    for c, s in zip(rule.conditions, supports):
        (by_kind.setdefault(c.kind, []) if c.kind.startswith("any") else plain).append(s)
    plain += [np.max(np.column_stack(v), axis=1) for v in by_kind.values()]
    return np.min(np.column_stack(plain), axis=1)


def _groups_in_order(rules: list[ClassRule]) -> list[str]:
    seen: list[str] = []
    for rule in rules:
        if rule.parent not in seen:
            seen.append(rule.parent)
    if ROOT in seen:
        seen.remove(ROOT)
        seen.insert(0, ROOT)
    return seen


def apply_workflow(rescaled: pd.DataFrame, raw: pd.DataFrame, rules: list[ClassRule], *,
                   mode: str = "hierarchy", gate: float = 0.5, likely: bool = False,
                   unknown: str = UNKNOWN) -> tuple[pd.Series, pd.Series]:
    """Label every cell (row) from a workflow; see the module docstring for the semantics.

    `rescaled` has one column per condition key (`Condition.key`), values 0..1 with the threshold
    at `gate`; `raw` has the raw features named in range conditions. Returns (labels, support):
    support in 0..1 is how clearly the cell meets its class's conditions and its ancestors'
    (for `unknown`, how clearly every first-level class fails).
    """
    if mode not in ("hierarchy", "ordered"):
        raise ConfigError(f"classification.order is {mode!r}; allowed: 'ordered', 'hierarchy'")
    n = len(rescaled)
    index = rescaled.index
    r = {k: rescaled[k].to_numpy(dtype=float) for k in rescaled.columns}
    support = {rule.name: condition_support(r, raw, rule) for rule in rules} if rules else {}
    columns: dict[str, np.ndarray] = {}
    for gi, group in enumerate(_groups_in_order(rules)):
        members = [rule for rule in rules if rule.parent == group]
        if gi == 0:
            sel = np.ones(n, dtype=bool)
        else:
            sel = np.zeros(n, dtype=bool)
            for col in columns.values():
                sel |= col == group
        labels = np.full(n, None, dtype=object)
        if sel.any():
            labels[sel] = _label_group({k: v[sel] for k, v in r.items()}, raw[sel], members, group,
                                       mode, gate, likely)
        columns[group] = labels
    final = np.full(n, unknown, dtype=object)
    for col in columns.values():
        labels = pd.Series(col, dtype=object)
        ok = (labels.notna() & ~labels.astype(str).str.endswith("-rest")).to_numpy()
        final[ok] = col[ok]
    roots = [rule.name for rule in rules if rule.parent == next(iter(columns), None)]
    return (pd.Series(final, index=index, name="cell_type"),
            _final_support(final, support, rules, roots, unknown, index))


def _label_group(r: dict[str, np.ndarray], raw: pd.DataFrame, members: list[ClassRule], group: str,
                 mode: str, gate: float, likely: bool) -> np.ndarray:
    n = len(raw)
    rest = f"{group}-rest"
    if mode == "ordered":
        out = np.full(n, rest, dtype=object)
        open_ = np.ones(n, dtype=bool)
        for rule in members:
            hit = open_ & (condition_support(r, raw, rule) > 0)
            out[hit] = rule.name
            open_ &= ~hit
        return out
    scores, flags = zip(*(_class_score(r, raw, rule, gate, n) for rule in members))
    table = np.column_stack(scores)
    best = np.argmax(table, axis=1)
    all_below = (table < gate).all(axis=1)
    names = np.array([rule.name for rule in members], dtype=object)
    out = names[best].copy()
    if likely:
        flagged = np.column_stack(flags)[np.arange(n), best]
        out[flagged] = np.array([f"likely-{v}" for v in out[flagged]], dtype=object)
    # SCIMAP adds a "-rest" column worth 1 when every score is below the gate (so it wins), else 0
    out[all_below] = rest
    return out


def _final_support(final: np.ndarray, support: dict[str, np.ndarray], rules: list[ClassRule],
                   roots: list[str], unknown: str, index: pd.Index) -> pd.Series:
    parent_of = {rule.name: rule.parent for rule in rules}
    out = np.zeros(len(final))
    for name in pd.unique(final):
        sel = final == name
        base = name[len("likely-"):] if isinstance(name, str) and name.startswith("likely-") else name
        if name == unknown:
            if roots:
                out[sel] = -np.max(np.column_stack([support[k][sel] for k in roots]), axis=1)
            continue
        s = np.full(sel.sum(), np.inf)
        seen = set()
        while base in support and base not in seen:
            seen.add(base)
            s = np.minimum(s, support[base][sel])
            base = parent_of.get(base, ROOT)
        out[sel] = s
    return pd.Series(np.clip(np.where(np.isfinite(out), out, 0.0), 0.0, 1.0), index=index, name="type_score")
