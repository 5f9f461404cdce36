"""CTC measures through py-ctcmetrics on a small hand-made sequence, and the count error."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from marrowflow.errors import InputError
from marrowflow.evaluate.ctc_measures import count_error, evaluate_ctc, evaluate_sample, truth_counts
from marrowflow.io import NoCellsWarning

N_FRAMES = 6
# label: (begin, end, parent, centre per frame)
TRACKS = {1: (0, 2, 0), 2: (3, 5, 1), 3: (3, 5, 1), 4: (0, 5, 0)}


def _centre(label: int, t: int) -> tuple[int, int]:
    if label == 1:
        return 20, 10 + 3 * t
    if label in (2, 3):
        return 20 + (-1 if label == 2 else 1) * 3 * (t - 1), 18 + 2 * (t - 2)
    return 50, 50


def _masks(relabel=None) -> list[np.ndarray]:
    out = []
    for t in range(N_FRAMES):
        m = np.zeros((64, 64), np.uint16)
        for lab, (b, e, _) in TRACKS.items():
            if b <= t <= e:
                y, x = _centre(lab, t)
                m[y - 3:y + 4, x - 3:x + 4] = relabel(lab, t) if relabel else lab
        out.append(m)
    return out


def _write(folder, masks, tracks, prefix):
    folder.mkdir(parents=True, exist_ok=True)
    for t, m in enumerate(masks):
        tifffile.imwrite(folder / f"{prefix}{t:03d}.tif", m)
    name = "man_track.txt" if prefix == "man_track" else "res_track.txt"
    rows = [f"{lab} {b} {e} {p}" for lab, (b, e, p) in sorted(tracks.items())]
    (folder / name).write_text("\n".join(rows) + "\n")


@pytest.fixture()
def gt_dir(tmp_path):
    gt = tmp_path / "01_GT"
    masks = _masks()
    _write(gt / "TRA", masks, TRACKS, "man_track")
    (gt / "SEG").mkdir()
    for t in (1, 4):  # SEG ground truth for a subset of frames, other labels than TRA
        tifffile.imwrite(gt / "SEG" / f"man_seg{t:03d}.tif", masks[t] * 7)
    return gt


def test_perfect_result_scores_one(tmp_path, gt_dir):
    res = tmp_path / "01_RES"
    _write(res, _masks(), TRACKS, "mask")
    scores = evaluate_ctc(res, gt_dir)
    for key in ("Valid", "DET", "TRA", "LNK", "SEG", "CT", "TF", "BC(0)", "BC(2)"):
        assert scores[key] == pytest.approx(1.0), key
    assert scores["CCA"] is None and "CCA" in scores["notes"]   # no complete cell cycle in this GT
    assert scores["BIO(0)"] == pytest.approx(1.0)                # mean of CT, TF, BC(0) (CCA left out)


def test_missed_division_and_broken_track_lower_the_scores(tmp_path, gt_dir):
    # the mother continues as daughter 2 (no division), daughter 3 is a new track; track 4 is
    # cut in two at frame 3
    relabel = {(2, t): 1 for t in range(3, 6)}
    relabel.update({(4, t): 5 for t in range(3, 6)})
    res = tmp_path / "01_RES"
    _write(res, _masks(lambda lab, t: relabel.get((lab, t), lab)),
           {1: (0, 5, 0), 3: (3, 5, 0), 4: (0, 2, 0), 5: (3, 5, 0)}, "mask")
    scores = evaluate_ctc(res, gt_dir)
    assert scores["Valid"] == 1 and scores["DET"] == pytest.approx(1.0)
    assert scores["TRA"] < 1.0 and scores["LNK"] < 1.0
    assert scores["BC(2)"] == 0.0 and scores["fn_div(2)"] == 1
    assert scores["CT"] < 0.5


def test_invalid_result_is_reported(tmp_path, gt_dir):
    res = tmp_path / "01_RES"
    _write(res, _masks(), {**TRACKS, 2: (2, 5, 1)}, "mask")  # daughter begins before the mother ends
    scores = evaluate_ctc(res, gt_dir)
    assert scores["Valid"] == 0 and "Valid" in scores["notes"]
    with pytest.raises(InputError, match="res_track.txt"):
        evaluate_ctc(tmp_path / "nothing", gt_dir)
    short = tmp_path / "short"
    _write(short, _masks()[:3], TRACKS, "mask")
    with pytest.raises(InputError, match="one maskNNN.tif per frame"):
        evaluate_ctc(short, gt_dir)


def test_count_error_and_truth_counts(tmp_path):
    truth = pd.DataFrame({"frame": [0, 0, 0, 1, 1, 1, 1], "label": [1, 2, 3, 1, 2, 3, 4],
                          "cell_type": ["a", "a", "b", "a", "a", "b", "b"]})
    truth.to_csv(tmp_path / "cell_types.csv", index=False)
    tc = truth_counts(tmp_path, ["a", "b", "c"])
    assert tc.set_index(["frame", "cell_type"])["n"].to_dict() == {
        (0, "a"): 2, (0, "b"): 1, (0, "c"): 0, (1, "a"): 2, (1, "b"): 2, (1, "c"): 0}
    est = pd.DataFrame({"frame": [0, 0, 1, 1, 0, 1], "cell_type": ["a", "b", "a", "b", "unknown", "unknown"],
                        "n": [2, 2, 1, 2, 1, 0]})
    err = count_error(est, tc)
    assert err["a"]["mean_relative_error"] == pytest.approx((0 + 0.5) / 2)
    assert err["b"]["mean_relative_error"] == pytest.approx((1.0 + 0) / 2)
    assert err["a"]["total_relative_error"] == pytest.approx(1 / 4)
    assert "c" not in err and "unknown" not in err    # no true cells of these types
    with pytest.raises(InputError, match="cell_types.csv"):
        truth_counts(tmp_path / "missing")


def test_evaluate_sample_adds_counts_when_typed_truth_exists(tmp_path, gt_dir):
    res = tmp_path / "01_RES"
    _write(res, _masks(), TRACKS, "mask")
    rows = [(t, lab, "progenitor") for t in range(N_FRAMES) for lab, (b, e, _) in TRACKS.items() if b <= t <= e]
    pd.DataFrame(rows, columns=["frame", "label", "cell_type"]).to_csv(gt_dir / "cell_types.csv", index=False)
    counts = pd.DataFrame({"frame": range(N_FRAMES), "cell_type": "progenitor",
                           "n": [2, 2, 2, 3, 3, 3]})
    counts.to_csv(tmp_path / "counts.csv", index=False)
    result = evaluate_sample(res, gt_dir, tmp_path / "counts.csv")
    assert result["ctc"]["TRA"] == pytest.approx(1.0)
    assert result["counts"]["progenitor"]["mean_relative_error"] == 0.0


def test_an_empty_result_scores_zero_and_warns(tmp_path, gt_dir):
    res = tmp_path / "01_RES"
    _write(res, [np.zeros((64, 64), np.uint16)] * N_FRAMES, {}, "mask")
    with pytest.warns(NoCellsWarning, match="evaluate: no cell"):
        scores = evaluate_ctc(res, gt_dir)
    assert scores["Valid"] == 1 and scores["DET"] == scores["TRA"] == scores["SEG"] == 0.0
    assert scores["LNK"] is None and "result" in scores["notes"]


def test_malformed_ground_truth_track_file_names_file_and_line(tmp_path):
    from marrowflow.evaluate.ctc_measures import _check_track_file

    path = tmp_path / "man_track.txt"
    path.write_text("1 0 4 0\n\n2 eleven 4 1\n")
    with pytest.raises(InputError, match=r"man_track.txt, line 3: expected four integers"):
        _check_track_file(path)
    path.write_text("1 0 4 0\n2 5 9 1\n")
    _check_track_file(path)
