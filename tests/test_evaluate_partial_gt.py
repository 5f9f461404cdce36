"""Evaluate with any part of the ground truth: SEG only (SEG, F1), TRA only (tracking measures),
both; what cannot be computed is said in the result, not by failing."""

import json
import shutil

import numpy as np
import pytest
import tifffile

from marrowflow.errors import InputError
from marrowflow.evaluate import evaluate_ctc, evaluate_sample, evaluate_seg

from workflow_helpers import run_snakemake

N_FRAMES = 4


def _masks(shift: int = 0) -> list[np.ndarray]:
    """Two squares per frame (labels 1, 2); `shift` moves square 2 by that many pixels."""
    out = []
    for t in range(N_FRAMES):
        m = np.zeros((48, 48), np.uint16)
        m[5:15, 5 + t:15 + t] = 1
        m[25:35, 25 + shift:35 + shift] = 2
        out.append(m)
    return out


def _result(folder, masks):
    folder.mkdir(parents=True)
    for t, m in enumerate(masks):
        tifffile.imwrite(folder / f"mask{t:03d}.tif", m)
    (folder / "res_track.txt").write_text(f"1 0 {N_FRAMES - 1} 0\n2 0 {N_FRAMES - 1} 0\n")
    return folder


def _truth(folder, *, tra: bool, seg: bool):
    masks = _masks()
    if tra:
        (folder / "TRA").mkdir(parents=True)
        for t, m in enumerate(masks):
            tifffile.imwrite(folder / "TRA" / f"man_track{t:03d}.tif", m)
        (folder / "TRA" / "man_track.txt").write_text(f"1 0 {N_FRAMES - 1} 0\n2 0 {N_FRAMES - 1} 0\n")
    if seg:
        (folder / "SEG").mkdir(parents=True)
        for t in (1, 3):
            tifffile.imwrite(folder / "SEG" / f"man_seg{t:03d}.tif", masks[t] * 3)
    return folder


def test_seg_only_ground_truth_gives_seg_and_f1(tmp_path):
    gt = _truth(tmp_path / "gt", tra=False, seg=True)
    result = evaluate_sample(_result(tmp_path / "res", _masks()), gt)
    assert result["segmentation"]["SEG"] == pytest.approx(1.0) and result["segmentation"]["F1"] == 1.0
    assert result["segmentation"]["n_frames"] == 2 and result["segmentation"]["n_objects"] == 4
    assert result["ctc"] is None and result["traccuracy"] is None
    assert "no TRA/man_track.txt" in result["not_computed"]["TRA"] and "SEG" not in result["not_computed"]
    json.dumps(result)   # the rule writes it as JSON


def test_tra_only_ground_truth_gives_the_tracking_measures(tmp_path):
    gt = _truth(tmp_path / "gt", tra=True, seg=False)
    result = evaluate_sample(_result(tmp_path / "res", _masks()), gt)
    assert result["ctc"]["TRA"] == pytest.approx(1.0) and "SEG" not in result["ctc"]
    assert result["segmentation"] is None and "no SEG/man_segNNN.tif" in result["not_computed"]["SEG"]
    assert result["not_computed"]["traccuracy"] == "no tracks.geff given"


def test_seg_without_tra_equals_py_ctcmetrics_seg(tmp_path):
    gt = _truth(tmp_path / "gt", tra=True, seg=True)
    res = _result(tmp_path / "res", _masks(shift=3))   # square 2 overlaps its truth by 70%
    ours = evaluate_seg(res, gt)
    assert 0 < ours["SEG"] < 1
    assert ours["SEG"] == pytest.approx(evaluate_ctc(res, gt)["SEG"], abs=1e-9)
    assert ours["F1"] == pytest.approx(1.0)   # IoU 7/13 >= 0.5: still matched
    far = evaluate_seg(_result(tmp_path / "far", _masks(shift=6)), gt)
    assert far["tp"] == 2 and far["fp"] == far["fn"] == 2 and far["F1"] == pytest.approx(0.5)


def test_no_ground_truth_at_all_or_a_missing_result_mask_is_an_input_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no ground truth found"):
        evaluate_sample(_result(tmp_path / "res", _masks()), tmp_path / "empty")
    gt = _truth(tmp_path / "gt", tra=False, seg=True)
    short = _result(tmp_path / "short", _masks()[:2])
    with pytest.raises(InputError, match="no mask003.tif"):
        evaluate_seg(short, gt)


def test_the_rule_writes_evaluation_json_for_a_seg_only_ground_truth(tiny_demo_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(tiny_demo_project, project, symlinks=True)
    seg_only = project / "resources" / "GT_seg_only"
    shutil.copytree(project / "resources" / "demo" / "tiny" / "GT" / "SEG", seg_only / "SEG")
    sheet = project / "samples.tsv"
    sheet.write_text(sheet.read_text().replace("resources/demo/tiny/GT", "resources/GT_seg_only"))
    run = run_snakemake(project, "results/tiny/evaluation.json")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((project / "results" / "tiny" / "evaluation.json").read_text())
    assert result["ctc"] is None and "TRA" in result["not_computed"]
    assert result["segmentation"]["SEG"] > 0.8 and result["segmentation"]["F1"] > 0.9
