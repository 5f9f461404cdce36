"""SEG and F1 of a CTC result folder against segmentation ground truth alone (`SEG/man_segNNN.tif`,
any subset of frames), for a ground truth without `TRA/`: py-ctcmetrics reads SEG only together
with TRA, so the measures come from `marrowflow.segment.metrics` (the same SEG definition: per
ground-truth object, the Jaccard of the result object covering more than half of it).
"""

from __future__ import annotations

import re
from pathlib import Path

import tifffile

from marrowflow.errors import InputError
from marrowflow.segment.metrics import match_f1, seg_sums

__all__ = ["seg_frames", "evaluate_seg"]

_SEG_NAME = re.compile(r"^man_seg(\d+)\.tif$")


def seg_frames(gt_dir: str | Path) -> dict[int, Path]:
    """{frame: path} of the full-frame SEG masks of `gt_dir/SEG` (empty when there is none).

    Raises InputError for masks named like the CTC's per-slice 3D annotations
    (`man_seg_TTT_ZZZ.tif`), which are not supported.
    """
    folder = Path(gt_dir) / "SEG"
    if not folder.is_dir():
        return {}
    out, other = {}, []
    for path in sorted(folder.glob("man_seg*.tif")):
        hit = _SEG_NAME.match(path.name)
        if hit:
            out[int(hit.group(1))] = path
        else:
            other.append(path.name)
    if other:
        raise InputError(f"{folder}: {other[:3]} are not full-frame masks named man_segNNN.tif (per-slice 3D "
                         "annotations man_seg_TTT_ZZZ.tif are not supported). Fix: keep full-frame masks only")
    return out


def evaluate_seg(res_dir: str | Path, gt_dir: str | Path, *, iou: float = 0.5) -> dict:
    """SEG (mean over all annotated objects of all SEG frames) and the object F1 at IoU >= `iou`
    (precision, recall, tp, fp, fn summed over the SEG frames) of `res_dir/maskNNN.tif`."""
    res_dir = Path(res_dir)
    frames = seg_frames(gt_dir)
    if not frames:
        raise InputError(f"{Path(gt_dir) / 'SEG'}: no man_segNNN.tif; expected CTC segmentation ground truth")
    total, n_obj, tp, fp, fn = 0.0, 0, 0, 0, 0
    for t, gt_path in frames.items():
        res_path = res_dir / f"mask{t:03d}.tif"
        if not res_path.is_file():
            raise InputError(f"{res_dir}: no {res_path.name} for the ground truth {gt_path}; the result must have "
                             "one maskNNN.tif per frame of the movie")
        pred, gt = tifffile.imread(res_path), tifffile.imread(gt_path)
        if pred.shape != gt.shape:
            raise InputError(f"{gt_path}: shape {gt.shape}, but the result {res_path} has {pred.shape}; the "
                             "ground truth must belong to this movie")
        s, n = seg_sums(pred, gt)
        counts = match_f1(pred, gt, iou=iou)
        total, n_obj = total + s, n_obj + n
        tp, fp, fn = tp + counts["tp"], fp + counts["fp"], fn + counts["fn"]
    return {"SEG": total / n_obj if n_obj else None, "F1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None,
            "tp": int(tp), "fp": int(fp), "fn": int(fn), "iou": float(iou), "n_frames": len(frames),
            "n_objects": int(n_obj), "frames": sorted(int(t) for t in frames)}
