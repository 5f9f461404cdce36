"""A rerun of the workflow picks up a saved review and the counts change the way the review says,
for a 2D and a 3D (T, Z, Y, X) sample; the review is made and saved by the review plugin's session."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from marrowflow_review._session import ReviewSession

from workflow_helpers import run_snakemake

pytestmark = pytest.mark.slow
PROJECTS = {"2d": ("tiny_demo_project", "tiny"), "3d": ("tiny_spheroid_project", "spheroid")}
both = pytest.mark.parametrize("reviewed_project", ["2d", "3d"], indirect=True)


@pytest.fixture(scope="module")
def reviewed_project(request, tmp_path_factory):
    """(project, sample, counts before, counts after, cells typed in frame 8) of a copy of a demo
    project whose review was saved, then the workflow run again."""
    fixture, sample = PROJECTS[request.param]
    project = tmp_path_factory.mktemp(f"reviewed_{request.param}") / "project"
    shutil.copytree(request.getfixturevalue(fixture), project, symlinks=True)
    session = ReviewSession(project / "results" / sample)
    cells = pd.read_parquet(project / "results" / sample / "cells.parquet")
    # frame 4: keep only the two largest cells (the frame becomes reviewed)
    frame4 = cells[cells["frame"] == 4].nlargest(2, "area_px")["label"].to_numpy()
    labels4 = session.labels.frame(4)
    session.labels[4] = np.where(np.isin(labels4, frame4), labels4, 0)
    # frame 8: a reviewer calls every cell a megakaryocyte
    frame8 = session.tracks.loc[session.tracks["frame"] == 8, "label"].to_numpy()
    for label in frame8:
        session.set_type(8, int(label), "megakaryocyte")
    session.save(user="test")
    before = pd.read_csv(project / "results" / sample / "counts.csv")
    result = run_snakemake(project)
    assert result.returncode == 0, result.stderr[-4000:]
    after = pd.read_csv(project / "results" / sample / "counts.csv")
    return project, sample, before, after, len(frame8)


def _frame_total(counts, frame):
    return int(counts.loc[counts["frame"] == frame, "n"].sum())


@both
def test_reviewed_labels_replace_the_segmentation(reviewed_project):
    project, sample, before, after, _ = reviewed_project
    assert _frame_total(before, 4) > 2
    assert _frame_total(after, 4) == 2
    cells = pd.read_parquet(project / "results" / sample / "cells.parquet")
    assert (cells["frame"] == 4).sum() == 2
    # the review stack has the movie's (T, [Z], Y, X) shape and holds the two kept cells
    reviewed = tifffile.imread(project / "reviews" / sample / "labels.tif")
    assert reviewed.shape == tifffile.imread(project / "results" / sample / "labels.tif").shape
    assert sorted(cells.loc[cells["frame"] == 4, "label"]) == sorted(set(np.unique(reviewed[4])) - {0})


@both
def test_reviewed_types_win_over_gates_and_track_vote(reviewed_project):
    project, sample, before, after, n_frame8 = reviewed_project
    mk = after[(after["frame"] == 8) & (after["cell_type"] == "megakaryocyte")]["n"].item()
    assert mk == n_frame8
    tracks = pd.read_parquet(project / "results" / sample / "tracks.parquet")
    assert set(tracks.loc[tracks["frame"] == 8, "type_source"]) == {"review"}


@both
def test_other_frames_are_unchanged(reviewed_project):
    _, _, before, after, _ = reviewed_project
    for frame in (0, 1, 11):
        assert _frame_total(before, frame) == _frame_total(after, frame)


@both
def test_rules_never_write_into_the_review_folder(reviewed_project):
    project, sample = reviewed_project[:2]
    names = sorted(p.name for p in (project / "reviews" / sample).iterdir())
    assert names == ["cell_types.csv", "labels.tif", "review_log.jsonl", "reviewed_frames.txt"]


@pytest.mark.parametrize("reviewed_project", ["2d"], indirect=True)
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


@both
def test_evaluation_scores_the_segmentation_on_the_reviewed_frame(reviewed_project):
    project, sample, before, _, _ = reviewed_project
    block = json.loads((project / "results" / sample / "evaluation.json").read_text())["reviewed_frames"]
    # the reviewer kept 2 of the segment step's cells: both found, the rest false objects
    assert block["frames"] == [4] and block["excluded_tuned_frames"] == []
    assert block["missed_objects"] == 0 and block["n_reviewed_objects"] == 2
    assert block["false_objects"] == _frame_total(before, 4) - 2 and block["SEG"] == 1.0
