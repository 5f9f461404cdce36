"""SEG and F1 on hand-made label images, and SEG against py-ctcmetrics."""

import numpy as np
import pytest
import tifffile

from marrowflow.segment.metrics import match_f1, restrict_to_annotated, seg_score, seg_sums


def _squares():
    gt = np.zeros((40, 40), np.uint16)
    gt[2:12, 2:12] = 1       # 100 px
    gt[20:30, 20:30] = 2     # 100 px
    gt[2:6, 30:34] = 3       # 16 px, missed
    pred = np.zeros_like(gt)
    pred[2:12, 2:14] = 5     # covers all of gt 1: IoU 100/120
    pred[20:30, 20:24] = 7   # 40% of gt 2: no SEG match, IoU 0.4
    pred[20:30, 24:30] = 8   # 60% of gt 2: the SEG match, IoU 0.6
    pred[35:38, 35:38] = 9   # false positive
    return pred, gt


def test_seg_by_hand():
    pred, gt = _squares()
    assert seg_score(pred, gt) == pytest.approx((100 / 120 + 0.6 + 0) / 3)
    assert seg_sums(pred, gt) == (pytest.approx(100 / 120 + 0.6), 3)
    assert seg_score(gt, gt) == 1.0
    assert np.isnan(seg_score(pred, np.zeros_like(gt)))


def test_match_f1_by_hand():
    pred, gt = _squares()
    m = match_f1(pred, gt, iou=0.5)
    assert (m["tp"], m["fp"], m["fn"]) == (2, 2, 1)
    assert m["precision"] == pytest.approx(2 / 4)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(4 / 7)
    assert match_f1(pred, gt, iou=0.7)["tp"] == 1
    assert match_f1(gt, gt)["f1"] == 1.0


def test_restrict_to_annotated_drops_untouched_objects():
    pred, gt = _squares()
    kept = restrict_to_annotated(pred, gt)
    assert set(np.unique(kept)) == {0, 5, 7, 8}
    assert match_f1(kept, gt)["fp"] == 1
    assert pred[35, 35] == 9  # input untouched


def test_seg_matches_py_ctcmetrics(tmp_path):
    from ctc_metrics.metrics.technical.seg import seg
    from ctc_metrics.utils.representations import match

    rng = np.random.default_rng(0)
    gt = np.zeros((64, 64), np.uint16)
    for k, (y, x) in enumerate([(10, 10), (10, 40), (40, 12), (45, 45), (30, 30)], 1):
        gt[y - 6:y + 6, x - 5:x + 6] = k
    pred = np.zeros_like(gt)
    for k in range(1, 6):
        ys, xs = np.nonzero(gt == k)
        dy, dx = rng.integers(-3, 4, 2)
        pred[np.clip(ys + dy, 0, 63), np.clip(xs + dx, 0, 63)] = 10 + k
    pred[gt == 5] = 0  # one missed object
    tifffile.imwrite(tmp_path / "gt.tif", gt)
    tifffile.imwrite(tmp_path / "res.tif", pred)
    labels_ref, _, _, _, ious = match(str(tmp_path / "gt.tif"), str(tmp_path / "res.tif"))
    expected = seg([labels_ref], [np.asarray(ious)])
    assert 0.2 < expected < 0.9
    assert seg_score(pred, gt) == pytest.approx(expected, abs=1e-9)
