"""Audit of a sample's calls: a stratified random sample of cells to check by eye, and from the
answers each called type's error rate and the counts corrected for the confusion.

`propose_audit` draws, per called type, up to n cells (seeded) from all frames; the user writes
each one's true type into `true_type` of reviews/<sample>/audit.csv (the review plugin writes the
file). `audit_confusion` is the table called x true of the answers; `corrected_counts` turns the
called counts per frame into expected true counts, N_true(k) = sum_j N_called(j) P(true k | called
j), with an interval from a Bayesian bootstrap: P(. | called j) drawn from Dirichlet(answers +
1/2) (Jeffreys; a type whose answers are all right still gets an interval), then each frame's
true counts drawn as multinomials of its called counts. The confusion is assumed the same in
every frame. Error rates get Jeffreys Beta intervals (Beta quantiles by
`scipy.special.betaincinv`, which is `scipy.stats.beta.ppf` without loading scipy.stats). Written here: no
library does the stratified proposal or this correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import betaincinv

from marrowflow.errors import InputError
from marrowflow.io.tables import read_table, write_table

AUDIT_NAME = "audit.csv"
AUDIT_COLUMNS = ["frame", "label", "track_id", "z", "y", "x", "called_type", "type_score",
                 "true_type"]
NEED = ("frame", "label", "called_type", "true_type")
ERROR_COLUMNS = ["called_type", "n_audited", "n_wrong", "error_rate", "ci_low", "ci_high"]
CORRECTED_COLUMNS = ["sample", "frame", "time_h", "cell_type", "n_called", "corrected", "ci_low", "ci_high"]


def propose_audit(cells: pd.DataFrame, n_per_type: int, *, seed: int = 0) -> pd.DataFrame:
    """Up to `n_per_type` cells per called type, drawn at random (seeded) from all frames, with an
    empty `true_type` to fill; sorted by called type, frame and label. Columns: those of
    `AUDIT_COLUMNS` that `cells` has (frame, label and cell_type are needed; `z` in a 3D sample)."""
    if n_per_type < 1:
        raise ValueError(f"n_per_type must be >= 1, got {n_per_type}")
    rng = np.random.default_rng(seed)
    picked = []
    ordered = cells.sort_values(["frame", "label"], kind="stable")
    for _, rows in ordered.groupby(ordered["cell_type"].astype(str), sort=True):
        take = rng.choice(len(rows), size=min(n_per_type, len(rows)), replace=False)
        picked.append(rows.iloc[np.sort(take)])
    out = pd.concat(picked) if picked else cells.iloc[:0]
    table = out[[c for c in AUDIT_COLUMNS[:-3] if c in out.columns]].copy()
    table["called_type"] = out["cell_type"].astype(str)
    table["type_score"] = out["type_score"] if "type_score" in out.columns else np.nan
    table["true_type"] = ""
    return table.sort_values(["called_type", "frame", "label"], kind="stable").reset_index(drop=True)


def write_audit_proposal(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a proposal to `path` (atomically); an audit there with answers is never overwritten."""
    path = Path(path)
    if path.exists() and read_audit(path, answered_only=False)["true_type"].ne("").any():
        raise InputError(f"{path} already holds audit answers; it is not overwritten. Fix: move it away "
                         "to propose a new audit")
    write_table(table, path)
    return path


def read_audit(path: str | Path, *, answered_only: bool = True) -> pd.DataFrame:
    """The audit file's rows (those with a `true_type` unless `answered_only` is False)."""
    path = Path(path)
    table = read_table(path, fix="restore the audit file (propose it again from the review plugin)")
    missing = [c for c in NEED if c not in table.columns]
    if missing:
        raise InputError(f"{path}: expected columns {list(NEED)}, found {list(table.columns)}. Fix: restore "
                         "the columns (propose the audit again from the review plugin)")
    table = table.copy()
    table["true_type"] = table["true_type"].fillna("").astype(str).str.strip()
    table["called_type"] = table["called_type"].astype(str)
    if answered_only:
        table = table[table["true_type"] != ""]
        if table.empty:
            raise InputError(f"{path}: no row has a true_type. Fix: write each audited cell's true type "
                             "in the true_type column")
    return table.reset_index(drop=True)


def audit_confusion(audit: pd.DataFrame, types: Sequence[str]) -> pd.DataFrame:
    """Answers per called type (rows) and true type (columns), over `types` plus any answered type."""
    names = list(dict.fromkeys([*types, *sorted(audit["called_type"]), *sorted(audit["true_type"])]))
    table = pd.crosstab(audit["called_type"], audit["true_type"])
    return table.reindex(index=names, columns=names, fill_value=0).astype(np.int64)


def audit_error_rates(audit: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Per called type: audited cells, wrong calls, the error rate and its Jeffreys interval."""
    rows = []
    tail = (1.0 - confidence) / 2.0
    for called, sub in audit.groupby("called_type", sort=True):
        n, wrong = len(sub), int((sub["true_type"] != called).sum())
        low = 0.0 if wrong == 0 else float(betaincinv(wrong + 0.5, n - wrong + 0.5, tail))
        high = 1.0 if wrong == n else float(betaincinv(wrong + 0.5, n - wrong + 0.5, 1.0 - tail))
        rows.append((called, n, wrong, wrong / n, low, high))
    return pd.DataFrame(rows, columns=ERROR_COLUMNS)


def corrected_counts(counts: pd.DataFrame, audit: pd.DataFrame, *, confidence: float = 0.95,
                     n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Audit-corrected counts per frame and type, with intervals (see the module docstring).

    `counts`: sample, frame, time_h, cell_type, n (the called counts, counts.csv). Called types
    without audit answers keep their calls (P(true j | called j) = 1): audit every type.
    """
    if counts.empty:
        return pd.DataFrame(columns=CORRECTED_COLUMNS)
    wide = counts.groupby(["sample", "frame", "time_h", "cell_type"], dropna=False)["n"].sum().unstack(
        "cell_type", fill_value=0)
    conf = audit_confusion(audit, list(wide.columns))
    names = list(conf.index)
    wide = wide.reindex(columns=names, fill_value=0)
    called = wide.to_numpy(dtype=np.int64)  # (frames, types)
    answers = conf.to_numpy(dtype=float)
    unaudited = answers.sum(axis=1) == 0
    share = answers / np.maximum(answers.sum(axis=1, keepdims=True), 1)
    point = np.where(unaudited[:, None], np.eye(len(names)), share)
    corrected = called @ point
    rng = np.random.default_rng(seed)
    draws = np.zeros((n_resamples, *called.shape))
    for j in range(len(names)):
        if unaudited[j]:
            draws[:, :, j] += called[:, j]
            continue
        probs = rng.dirichlet(answers[j] + 0.5, size=n_resamples)  # (resamples, types)
        n = np.broadcast_to(called[:, j], (n_resamples, called.shape[0]))
        draws += rng.multinomial(n, probs[:, None, :])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    frame = wide.index.to_frame(index=False)
    out = []
    for k, name in enumerate(names):
        part = frame.copy()
        part["cell_type"] = name
        part["n_called"] = called[:, k]
        part["corrected"] = corrected[:, k]
        part["ci_low"] = low[:, k]
        part["ci_high"] = high[:, k]
        out.append(part)
    return (pd.concat(out, ignore_index=True).sort_values(["sample", "frame", "cell_type"], kind="stable")
            .reset_index(drop=True)[CORRECTED_COLUMNS])
