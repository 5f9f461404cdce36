"""Segmentation accuracy against instance ground truth (2D or 3D label images).

- `seg_score`: the Cell Tracking Challenge SEG measure. For each ground-truth object, the
  predicted object covering more than half of it is its match (there is at most one); the score
  of the object is the Jaccard index (IoU) of the two, or 0 without a match. SEG is the mean over
  ground-truth objects. Over several frames the CTC averages over all objects of all frames:
  sum the `seg_sums` of the frames and divide.
- `match_f1`: one-to-one matching at an IoU threshold (>= 0.5 makes matches unique), giving
  precision, recall and F1 of detected objects.
- `restrict_to_annotated`: for ground truth that annotates only some objects of a frame (CTC
  GOWT1), drop predicted objects that touch no annotated object before computing F1, so that
  correct detections of unannotated cells do not count as false positives.
"""

from __future__ import annotations

import numpy as np

__all__ = ["overlap_table", "seg_sums", "seg_score", "match_f1", "restrict_to_annotated"]


def overlap_table(pred: np.ndarray, gt: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel overlaps of every (gt, pred) label pair that overlaps.

    Returns (gt_ids, pred_ids, intersections, gt_sizes[gt_ids], pred_sizes[pred_ids]) with one
    entry per overlapping pair of non-zero labels.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {pred.shape} differs from gt shape {gt.shape}")
    p = np.asarray(pred).ravel().astype(np.int64)
    g = np.asarray(gt).ravel().astype(np.int64)
    n_p = int(p.max(initial=0)) + 1
    pred_sizes = np.bincount(p, minlength=n_p)
    gt_sizes = np.bincount(g, minlength=int(g.max(initial=0)) + 1)
    both = (p > 0) & (g > 0)
    pairs, inter = np.unique(g[both] * n_p + p[both], return_counts=True)
    gi, pi = pairs // n_p, pairs % n_p
    return gi, pi, inter, gt_sizes[gi], pred_sizes[pi]


def seg_sums(pred: np.ndarray, gt: np.ndarray) -> tuple[float, int]:
    """(sum of the per-object SEG Jaccards, number of gt objects) for one frame."""
    gi, pi, inter, gs, ps = overlap_table(pred, gt)
    n_gt = int(np.count_nonzero(np.bincount(np.asarray(gt).ravel().astype(np.int64))[1:]))
    match = inter > 0.5 * gs
    jac = inter[match] / (gs[match] + ps[match] - inter[match])
    return float(jac.sum()), n_gt


def seg_score(pred: np.ndarray, gt: np.ndarray) -> float:
    """CTC SEG of one frame: mean Jaccard over gt objects (0 for an unmatched one); NaN without gt objects."""
    total, n = seg_sums(pred, gt)
    return total / n if n else float("nan")


def match_f1(pred: np.ndarray, gt: np.ndarray, iou: float = 0.5) -> dict:
    """Precision, recall, F1 and tp/fp/fn counts of objects matched one to one at IoU >= `iou`.

    For `iou` >= 0.5 a match is unique; below it pairs are taken greedily by decreasing IoU.
    """
    gi, pi, inter, gs, ps = overlap_table(pred, gt)
    ious = inter / (gs + ps - inter)
    order = np.argsort(-ious, kind="stable")
    used_g, used_p = set(), set()
    tp = 0
    for k in order:
        if ious[k] < iou:
            break
        if gi[k] in used_g or pi[k] in used_p:
            continue
        used_g.add(gi[k])
        used_p.add(pi[k])
        tp += 1
    n_pred = len(np.unique(pred[pred > 0]))
    n_gt = len(np.unique(gt[gt > 0]))
    fp, fn = n_pred - tp, n_gt - tp
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gt if n_gt else 0.0
    f1 = 2 * tp / (n_pred + n_gt) if n_pred + n_gt else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def restrict_to_annotated(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """A copy of `pred` keeping only the objects that overlap an annotated (non-zero) gt pixel."""
    keep = np.unique(pred[(gt > 0) & (pred > 0)])
    return np.where(np.isin(pred, keep), pred, 0).astype(pred.dtype)
