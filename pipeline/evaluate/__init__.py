"""Accuracy against ground truth: the Cell Tracking Challenge measures, SEG/F1 from segmentation
ground truth alone, traccuracy's division and complete-track measures, and count errors."""

from marrowflow.evaluate.ctc_measures import (
    count_error,
    evaluate_ctc,
    evaluate_sample,
    ground_truth_parts,
    truth_counts,
)
from marrowflow.evaluate.params import EvaluationParams
from marrowflow.evaluate.seg_truth import evaluate_seg, seg_frames
from marrowflow.evaluate.traccuracy_measures import evaluate_traccuracy, load_geff_prediction

__all__ = ["EvaluationParams", "count_error", "evaluate_ctc", "evaluate_sample", "evaluate_seg", "evaluate_traccuracy",
           "ground_truth_parts", "load_geff_prediction", "seg_frames", "truth_counts"]
