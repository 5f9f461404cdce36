"""A rerun of the workflow picks up a saved review and the counts change the way the review says."""

import shutil

import numpy as np
import pandas as pd
import pytest
import tifffile

from pipeline.review import Review, save_review
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
