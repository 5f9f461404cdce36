"""Rule tune_segmentation end to end: a preset tuned on reviewed frames, a run that names it, and
the evaluate step's accuracy on the reviewed frames that tuning did not use."""

import json

import numpy as np
import pytest
import tifffile
import yaml

from marrowflow.io import open_movie
from marrowflow.review.files import Review, save_review
from marrowflow.segment.classic import ClassicParams
from marrowflow.segment.tune import seg_on_frames

from workflow_helpers import run_snakemake, tiny_demo_row, write_project

pytestmark = pytest.mark.slow

# starting parameters that are off for the demo's nuclei: the cut keeps only the brightest cores
OFF = {"preset": None, "units": "um", "threshold_method": "otsu", "threshold_scale": 2.5, "min_seed_distance_um": 1.0,
       "seed_h_um": 0.1}
TUNED, LATER = [0, 4, 8], [2, 10]


def _review(project, frames):
    truth = [tifffile.imread(project / "resources/demo/tiny/GT/TRA" / f"man_track{t:03d}.tif") for t in range(12)]
    review = Review(reviewed_frames=frames, label_frames={t: truth[t].astype(np.uint32) for t in frames})
    save_review(project / "reviews" / "tiny", review, n_frames=12, shape_zyx=truth[0].shape)
    return truth


@pytest.fixture(scope="module")
def tuned_project(tmp_path_factory):
    project = write_project(tmp_path_factory.mktemp("tune") / "project", [tiny_demo_row()], config_updates={
        "segmentation": {"channel": "nuclei", "classic": dict(OFF)},
        "training": {"tuning": {"n_trials": 14, "budget_s": 300, "k_folds": 3, "seed": 0}}})
    result = run_snakemake(project, "resources/demo/tiny/movie.ome.tif")
    assert result.returncode == 0, result.stderr[-4000:]
    _review(project, TUNED)
    result = run_snakemake(project, "tune_segmentation")
    assert result.returncode == 0, result.stderr[-4000:]
    preset = project / "resources/presets/reviewed.yaml"
    # a reviewer checks two more frames; the run names the tuned preset
    truth = _review(project, LATER)
    config = yaml.safe_load((project / "config.yaml").read_text())
    config["segmentation"]["classic"] = {"preset": "resources/presets/reviewed.yaml"}
    (project / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(project)
    assert result.returncode == 0, result.stderr[-4000:]
    return project, yaml.safe_load(preset.read_text()), truth


def test_the_preset_records_its_tuning(tuned_project):
    _, doc, _ = tuned_project
    assert doc["tuned_on"] == {"tiny": TUNED}
    scores = doc["scores"]
    assert len(scores["fold_seg"]) == 3 and scores["train_seg"] > scores["start_seg"] + 0.1
    assert scores["cv_seg"] > 0.7
    assert ClassicParams.from_config({"preset": None, **doc["params"]})  # every key is a classic parameter


def test_evaluation_scores_only_frames_tuning_did_not_use(tuned_project):
    project, _, truth = tuned_project
    block = json.loads((project / "results/tiny/evaluation.json").read_text())["reviewed_frames"]
    assert block["frames"] == LATER and block["excluded_tuned_frames"] == TUNED
    with open_movie(project / "resources/demo/tiny/movie.ome.tif") as movie:
        images = [movie.read_frame(t)[0].astype(np.float32) for t in LATER]
        pixel = movie.metadata.pixel_size_um
    before = seg_on_frames(images, [truth[t] for t in LATER], ClassicParams.from_config(OFF), pixel_size_um=pixel)
    assert block["SEG"] > before + 0.1 and block["SEG"] > 0.7
    assert block["missed_objects"] + block["false_objects"] < block["n_reviewed_objects"] / 2
    assert "reviewed frame" in block["summary"]
