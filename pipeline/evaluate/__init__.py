"""Accuracy against ground truth: the Cell Tracking Challenge measures and count errors."""

from marrowflow.evaluate.ctc_measures import count_error, evaluate_ctc, evaluate_sample, truth_counts

__all__ = ["count_error", "evaluate_ctc", "evaluate_sample", "truth_counts"]
