"""Applying a review to the pipeline's tables: reviewed label frames, reviewed cell types,
track edits (replayed, then gaps split for the CTC export) and the confirmed links the tracker keeps."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from marrowflow.contract import UNKNOWN
from marrowflow.errors import InputError
from marrowflow.review.files import Review, ReviewWarning, list_lines
from marrowflow.review.track_edits import apply_track_edits


def apply_label_review(labels_frame: np.ndarray, t: int, review: Review) -> np.ndarray:
    """Frame `t`'s labels: the reviewed ones when frame `t` was reviewed, else `labels_frame`."""
    reviewed = review.label_frame(t)
    if reviewed is None:
        return labels_frame
    if reviewed.shape != labels_frame.shape:
        raise InputError(f"review: reviewed frame {t} has shape {reviewed.shape}, the segmentation "
                         f"{labels_frame.shape}. Fix: the review belongs to another movie; move it away")
    return reviewed.astype(np.uint32, copy=True)


def apply_type_review(cells: pd.DataFrame, review: Review, classes: Iterable[str] | None = None) -> pd.DataFrame:
    """Reviewed cells get the reviewer's `cell_type`, type_score 1 and type_source 'review' (the
    last row of a (frame, label) wins). Returns a new table in the same row order. Reviewed types
    win over every classifier: the classify step and the review plugin both apply them with this
    function.

    With `classes` (the configured class names; `unknown` is always allowed) the review is checked
    first: rows whose type is not one of them, or that name a cell (frame, label) that `cells`
    lacks, raise InputError naming the file, its lines and the allowed types. Without `classes`
    (the plugin's own edits) types are not checked and rows naming no cell are left out with a
    ReviewWarning.
    """
    out = cells.copy()
    if len(review.cell_types) == 0:
        return out
    if classes is not None:
        _check_types(review, [*dict.fromkeys([*map(str, classes), UNKNOWN])])
    rev = review.cell_types.drop_duplicates(["frame", "label"], keep="last")
    key = pd.MultiIndex.from_arrays([rev["frame"].to_numpy(np.int64), rev["label"].to_numpy(np.int64)])
    known = pd.MultiIndex.from_arrays([out["frame"].to_numpy(np.int64), out["label"].to_numpy(np.int64)])
    absent = ~key.isin(known)
    if absent.any():
        where = _rows(review, rev.index[absent])
        if classes is not None:
            raise InputError(f"{where}: name cell(s) (frame, label) {_cells(rev[absent])} that the cells table "
                             "does not have (the frame was segmented again, or a typo). Fix: correct or delete "
                             "those lines, or review the cells again in napari")
        warnings.warn(f"{where}: {int(absent.sum())} reviewed type(s) name cells that are not in the table and "
                      "were left out", ReviewWarning, stacklevel=2)
    lookup = pd.Series(rev["cell_type"].astype(str).to_numpy(), index=key)
    found = lookup.reindex(known)
    hit = found.notna().to_numpy()
    if "type_source" not in out.columns:
        out["type_source"] = "rule"
    out["type_score"] = out["type_score"].astype(float) if "type_score" in out else np.nan
    out["cell_type"] = out["cell_type"].astype(object) if "cell_type" in out else UNKNOWN
    out.loc[hit, "cell_type"] = found.to_numpy()[hit]
    out.loc[hit, "type_score"] = 1.0
    out.loc[hit, "type_source"] = "review"
    return out


def _check_types(review: Review, allowed: list[str]) -> None:
    types = review.cell_types["cell_type"].astype(str)
    bad = ~types.isin(allowed)
    if bad.any():
        raise InputError(f"{_rows(review, review.cell_types.index[bad.to_numpy()])}: cell type(s) "
                         f"{sorted(set(types[bad]))} are not classes of this run; allowed: {allowed}. Fix: correct "
                         "those lines (a typo?) or add the class to classification.classes")


def _rows(review: Review, index: pd.Index) -> str:
    """Where rows of `review.cell_types` come from: the file and its lines, else row positions."""
    if review.types_path is not None:
        return f"{review.types_path} line(s) {list_lines(index)}"
    positions = np.flatnonzero(review.cell_types.index.isin(index))
    return f"reviewed cell types, row(s) {list_lines(positions + 1)}"


def _cells(rows: pd.DataFrame, limit: int = 5) -> str:
    pairs = [f"({f}, {lab})" for f, lab in zip(rows["frame"], rows["label"])]
    return ", ".join(pairs[:limit]) + (f" and {len(pairs) - limit} more" if len(pairs) > limit else "")


def apply_track_review(tracks: pd.DataFrame, review: Review) -> pd.DataFrame:
    """Honour the reviewed track edits (splits, joins, parents, deletions) on a tracks table.

    Where an edit leaves a track skipping frames (a deleted middle cell, a join across a gap), the
    part after the gap becomes a daughter track (`marrowflow.track.split_gaps`), as the tracker does
    for gap-closing links, so the result is valid for the CTC export.
    """
    out = apply_track_edits(tracks, review.track_edits)
    span = out.groupby("track_id")["frame"].agg(["min", "max", "nunique"]) if len(out) else None
    if span is not None and (span["max"] - span["min"] + 1 != span["nunique"]).any():
        from marrowflow.track.ctc import split_gaps

        out = split_gaps(out)
    return out


def review_fixed_links(review: Review, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Confirmed links (`link`/`divide` not undone by a later `unlink` or `delete`) as
    `frame, label, next_frame, next_label` for `marrowflow.track.track_cells(fixed_links=...)`.

    With `cells` (frame, label), links naming a cell it lacks are dropped with a ReviewWarning."""
    links: dict[tuple[int, int, int, int], bool] = {}
    for row in review.track_edits.itertuples(index=False):
        key = (int(row.frame), int(row.label), int(row.next_frame), int(row.next_label))
        if row.action in ("link", "divide"):
            links[key] = True
        elif row.action == "unlink":
            links.pop(key, None)
        elif row.action == "delete":
            cell = key[:2]
            links = {k: v for k, v in links.items() if k[:2] != cell and k[2:] != cell}
    cols = ["frame", "label", "next_frame", "next_label"]
    out = pd.DataFrame(list(links), columns=cols, dtype=np.int64) if links else \
        pd.DataFrame({c: pd.Series(dtype=np.int64) for c in cols})
    if cells is not None and len(out):
        known = pd.MultiIndex.from_arrays([cells["frame"].to_numpy(np.int64), cells["label"].to_numpy(np.int64)])
        ok = (pd.MultiIndex.from_arrays([out["frame"], out["label"]]).isin(known)
              & pd.MultiIndex.from_arrays([out["next_frame"], out["next_label"]]).isin(known))
        if not ok.all():
            warnings.warn(f"{int((~ok).sum())} reviewed link(s) name cells that are not in the cells table "
                          "(their frame was segmented again) and were dropped", ReviewWarning, stacklevel=2)
        out = out[ok].reset_index(drop=True)
    return out
