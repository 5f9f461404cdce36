"""A rerun of the workflow picks up a saved review and the counts change the way the review says."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from marrowflow.review.files import Review, save_review

from workflow_helpers import run_snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reviewed_project(tiny_demo_project, tmp_path_factory):
    project = tmp_path_factory.mktemp("reviewed") / "project"
    shutil.copytree(tiny_demo_project, project, symlinks=True)
    labels = tifffile.imread(project / "results" / "tiny" / "labels.tif")
    cells = pd.read_parquet(project / "results" / "tiny" / "cells.parquet")
    tracks = pd.read_parquet(project / "results" / "tiny" / "tracks.parquet")
    # frame 4: keep only the two largest cells and call the frame reviewed
    frame4 = cells[cells["frame"] == 4].nlargest(2, "area_px")["label"].to_numpy()
    kept = np.where(np.isin(labels[4], frame4), labels[4], 0).astype(np.uint32)
    # frame 8: a reviewer calls every cell a megakaryocyte
    frame8 = tracks[tracks["frame"] == 8]
    types = pd.DataFrame({"frame": 8, "label": frame8["label"].to_numpy(), "cell_type": "megakaryocyte"})
    review = Review(cell_types=types, reviewed_frames=[4], label_frames={4: kept})
    save_review(project / "reviews" / "tiny", review, n_frames=labels.shape[0], shape_zyx=labels.shape[1:])
    before = pd.read_csv(project / "results" / "tiny" / "counts.csv")
    result = run_snakemake(project)
    assert result.returncode == 0, result.stderr[-4000:]
    after = pd.read_csv(project / "results" / "tiny" / "counts.csv")
    return project, before, after, len(frame8)


def _frame_total(counts, frame):
    return int(counts.loc[counts["frame"] == frame, "n"].sum())


def test_reviewed_labels_replace_the_segmentation(reviewed_project):
    project, before, after, _ = reviewed_project
    assert _frame_total(before, 4) > 2
    assert _frame_total(after, 4) == 2
    cells = pd.read_parquet(project / "results" / "tiny" / "cells.parquet")
    assert (cells["frame"] == 4).sum() == 2


def test_reviewed_types_win_over_gates_and_track_vote(reviewed_project):
    project, before, after, n_frame8 = reviewed_project
    mk = after[(after["frame"] == 8) & (after["cell_type"] == "megakaryocyte")]["n"].item()
    assert mk == n_frame8
    tracks = pd.read_parquet(project / "results" / "tiny" / "tracks.parquet")
    assert set(tracks.loc[tracks["frame"] == 8, "type_source"]) == {"review"}


def test_other_frames_are_unchanged(reviewed_project):
    _, before, after, _ = reviewed_project
    for frame in (0, 1, 11):
        assert _frame_total(before, frame) == _frame_total(after, frame)


def test_rules_never_write_into_the_review_folder(reviewed_project):
    project = reviewed_project[0]
    names = sorted(p.name for p in (project / "reviews" / "tiny").iterdir())
    assert names == ["cell_types.csv", "labels.tif", "review_log.jsonl", "reviewed_frames.txt"]


def test_train_rule_weights_segment_a_later_run(reviewed_project):
    """A run that segments with resources/models/<name>/weights.pth trains it from the review first."""
    project = reviewed_project[0]
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["results"] = "results_retrained"
    config["training"] = {"segmentation": {"name": "from_review", "epochs": 2, "contrast_copies": 1}}
    config["segmentation"]["backend"] = "cellpose"
    config["segmentation"]["cellpose"] = {"model": "resources/models/from_review/weights.pth", "gpu": False,
                                          "cellprob_threshold": -6.0}
    (project / "retrained.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(project, "results_retrained/tiny/labels.tif", configfile="retrained.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    info = json.loads((project / "resources" / "models" / "from_review" / "training.json").read_text())
    assert info["data"]["n_images"] == 1 and info["settings"]["contrast_copies"] == 1
    reviewed = tifffile.imread(project / "reviews" / "tiny" / "labels.tif")
    labels = tifffile.imread(project / "results_retrained" / "tiny" / "labels.tif")
    assert labels.shape == reviewed.shape and labels.dtype == np.uint32
    # the training rule's parameters are the sections it uses: editing tracking does not retrain
    config["tracking"] = {"gap_closing_frames": 1}
    (project / "retrained_tracking.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dry = run_snakemake(project, "resources/models/from_review/weights.pth", "-n",
                        configfile="retrained_tracking.yaml")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]


def test_evaluation_scores_the_segmentation_on_the_reviewed_frame(reviewed_project):
    project, before, _, _ = reviewed_project
    block = json.loads((project / "results" / "tiny" / "evaluation.json").read_text())["reviewed_frames"]
    # the reviewer kept 2 of the segment step's cells: both found, the rest false objects
    assert block["frames"] == [4] and block["excluded_tuned_frames"] == []
    assert block["missed_objects"] == 0 and block["n_reviewed_objects"] == 2
    assert block["false_objects"] == _frame_total(before, 4) - 2 and block["SEG"] == 1.0
