"""The segmentation's accuracy on reviewed frames (marrowflow.evaluate.reviewed_accuracy)."""

import numpy as np
import yaml

from marrowflow.evaluate.reviewed_accuracy import reviewed_accuracy, tuned_frames


def _frame(boxes, shape=(40, 40)):
    out = np.zeros(shape, np.uint32)
    for label, (y, x, h, w) in enumerate(boxes, 1):
        out[y:y + h, x:x + w] = label
    return out


def test_scores_missed_and_false_objects_over_the_untuned_frames():
    ref = {0: _frame([(2, 2, 10, 10), (20, 20, 10, 10)]), 1: _frame([(2, 2, 10, 10)]), 2: _frame([(5, 5, 8, 8)])}
    run = {0: _frame([(2, 2, 10, 10)]),                         # one missed
           1: _frame([(2, 2, 10, 10), (25, 25, 6, 6)]),         # one false
           2: _frame([(5, 5, 8, 8)])}                           # tuned on: left out
    block = reviewed_accuracy(run, ref, frames=[0, 1, 2], exclude=[2, 7])
    assert block["frames"] == [0, 1] and block["excluded_tuned_frames"] == [2]
    assert block["missed_objects"] == 1 and block["false_objects"] == 1 and block["n_reviewed_objects"] == 3
    assert np.isclose(block["SEG"], 2 / 3)
    assert np.isclose(block["F1"], 2 * 2 / (2 * 2 + 1 + 1))
    assert block["per_frame"]["0"]["SEG"] == 0.5 and block["per_frame"]["1"]["SEG"] == 1.0
    assert "2 reviewed frame(s)" in block["summary"]


def test_no_frame_left_says_why():
    ref = {0: _frame([(2, 2, 10, 10)])}
    block = reviewed_accuracy(ref, ref, frames=[0], exclude=[0])
    assert block["frames"] == [] and "every one was used to tune" in block["note"]
    assert "SEG" not in block


def test_tuned_frames_read_from_a_preset_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"params": {}, "tuned_on": {"a": [3, 1], "b": [0]}}))
    assert tuned_frames(str(path), "a") == [1, 3]
    assert tuned_frames(str(path), "c") == []
    assert tuned_frames("fluo_nuclei", "a") == [] and tuned_frames(None, "a") == []
