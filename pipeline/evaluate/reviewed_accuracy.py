"""The segmentation's accuracy on the user's own data: the run's labels scored against the label
frames a person reviewed in napari (`reviews/<sample>/labels.tif` + `reviewed_frames.txt`).

Frames that a tuned preset was tuned on (its `tuned_on` entry, written by the tune_segmentation
rule) are left out: scoring on them would report the tuning fit, not the accuracy on this movie.
The run's labels are the segment step's own (reviewed frames replace them only from the measure
step on), so the figures say how good the automatic segmentation is where a person looked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from marrowflow.segment.metrics import match_f1, seg_sums

__all__ = ["reviewed_accuracy", "summary_line", "tuned_frames"]


def tuned_frames(preset: str | None, sample: str) -> list[int]:
    """Frames of `sample` that the preset file `preset` (a YAML path with `tuned_on`) was tuned on;
    none for a shipped preset, no preset or a preset without `tuned_on`."""
    if not preset or not str(preset).endswith((".yaml", ".yml")) or not Path(preset).is_file():
        return []
    doc = yaml.safe_load(Path(preset).read_text(encoding="utf-8")) or {}
    return sorted(int(t) for t in (doc.get("tuned_on") or {}).get(sample, []))


def reviewed_accuracy(labels: Sequence[np.ndarray] | Mapping[int, np.ndarray],
                      reviewed: Sequence[np.ndarray] | Mapping[int, np.ndarray], frames: Sequence[int], *,
                      exclude: Sequence[int] = (), iou: float = 0.5) -> dict[str, Any]:
    """SEG, object F1 at `iou`, missed and false objects of `labels[t]` against `reviewed[t]` over the
    reviewed `frames` not in `exclude` (`labels` and `reviewed` are indexed by frame: sequences of
    every frame, or mappings holding the scored ones).

    SEG is pooled over frames (summed Jaccards over summed reviewed objects), as the CTC does;
    `per_frame` holds each frame's SEG and F1. With no frame left, the block says why.
    """
    excluded = sorted(set(int(t) for t in frames) & set(int(t) for t in exclude))
    scored = sorted(set(int(t) for t in frames) - set(excluded))
    out: dict[str, Any] = {"frames": scored, "excluded_tuned_frames": excluded, "iou": iou}
    if not scored:
        out["note"] = ("no reviewed frame is left to score: every one was used to tune the preset; review "
                       "more frames to estimate the accuracy on this movie") if excluded else "no reviewed frames"
        return out
    total, n_ref, counts, per_frame = 0.0, 0, {"tp": 0, "fp": 0, "fn": 0}, {}
    for t in scored:
        pred, ref = np.asarray(labels[t]), np.asarray(reviewed[t])
        if pred.shape != ref.shape:
            raise ValueError(f"frame {t}: labels {pred.shape} and reviewed labels {ref.shape} differ in shape")
        s, m = seg_sums(pred, ref)
        match = match_f1(pred, ref, iou=iou)
        total, n_ref = total + s, n_ref + m
        for key in counts:
            counts[key] += match[key]
        per_frame[str(t)] = {"SEG": s / m if m else None, "F1": match["f1"], "n_reviewed": m}
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    out.update({
        "SEG": total / n_ref if n_ref else None,
        "F1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "n_reviewed_objects": n_ref,
        "missed_objects": fn,
        "false_objects": fp,
        "per_frame": per_frame,
    })
    out["summary"] = summary_line(out)
    return out


def summary_line(block: Mapping[str, Any]) -> str:
    """One sentence for the report: the estimated accuracy on this movie."""
    if not block.get("frames"):
        return block.get("note", "no reviewed frames")
    return (f"Estimated on {len(block['frames'])} reviewed frame(s) tuning did not use: SEG {block['SEG']:.3f}, "
            f"F1@{block['iou']} {block['F1']:.3f} ({block['missed_objects']} missed, {block['false_objects']} false "
            f"of {block['n_reviewed_objects']} reviewed objects)")
