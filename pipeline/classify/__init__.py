"""Cell types: marker gates with automatic thresholds, a random forest trained from review,
and the vote that smooths types along tracks."""

from marrowflow.classify.cell_types import ClassificationParams, classify_cells, phenotype_table, resolve_features
from marrowflow.classify.gates import ClassRule, Condition, read_scimap_workflow, rules_from_config
from marrowflow.classify.model import (
    ClassifierTrainingParams,
    load_model,
    predict_types,
    save_model,
    train_classifier,
)
from marrowflow.classify.thresholds import auto_threshold, compute_thresholds
from marrowflow.classify.track_vote import TrackVoteParams, vote_along_tracks

__all__ = [
    "ClassRule", "ClassificationParams", "ClassifierTrainingParams", "Condition", "TrackVoteParams",
    "auto_threshold", "classify_cells", "compute_thresholds", "load_model", "phenotype_table", "predict_types",
    "read_scimap_workflow", "resolve_features", "rules_from_config", "save_model", "train_classifier",
    "vote_along_tracks",
]
