"""traccuracy in evaluate: its measures from the geff agree with py-ctcmetrics' TRA/DET/LNK on the
same result, the mask movies stay on disk (read a frame at a time), and the rule adds its division
and complete-track measures."""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from marrowflow.errors import InputError
from marrowflow.evaluate import evaluate_ctc, evaluate_traccuracy
from marrowflow.evaluate.traccuracy_measures import TiffFrames, load_ctc_truth, load_geff_prediction
from marrowflow.export import write_tracks_geff
from marrowflow.io import MovieMetadata

N_FRAMES = 6
META = MovieMetadata(path="movie.tif", axes="TYX", n_frames=N_FRAMES, n_channels=1, shape_zyx=(64, 64),
                     dtype="uint16", channel_names=[], pixel_size_um=1.0, time_step_h=1.0)
# the truth: track 1 (frames 0-2) divides into 2 and 3 (frames 3-5); track 4 sits still
TRUTH = {1: (0, 2, 0), 2: (3, 5, 1), 3: (3, 5, 1), 4: (0, 5, 0)}


def _centre(cell: int, t: int) -> tuple[int, int]:
    if cell == 1:
        return 20, 10 + 3 * t
    if cell in (2, 3):
        return 20 + (-1 if cell == 2 else 1) * 3 * (t - 1), 18 + 2 * (t - 2)
    return 50, 50


def _write(folder, tracks: dict, ids: dict | None = None, gt: bool = False) -> pd.DataFrame:
    """CTC masks + track file of `tracks` {id: (begin, end, parent)}; `ids` maps (true cell, t) to
    the id drawn. Returns the tracks table (frame, label, y, x, track_id, parent_track_id)."""
    folder.mkdir(parents=True)
    rows = []
    for t in range(N_FRAMES):
        mask = np.zeros((64, 64), np.uint16)
        for cell, (b, e, _) in TRUTH.items():
            if b <= t <= e:
                tid = (ids or {}).get((cell, t), cell)
                y, x = _centre(cell, t)
                mask[y - 3:y + 4, x - 3:x + 4] = tid
                rows.append({"frame": t, "label": tid, "y": float(y), "x": float(x), "track_id": tid,
                             "parent_track_id": tracks[tid][2]})
        tifffile.imwrite(folder / (f"man_track{t:03d}.tif" if gt else f"mask{t:03d}.tif"), mask)
    lines = "".join(f"{k} {b} {e} {p}\n" for k, (b, e, p) in sorted(tracks.items()))
    (folder / ("man_track.txt" if gt else "res_track.txt")).write_text(lines)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("case", ["perfect", "missed_division_and_cut_track"])
def test_traccuracy_tra_det_lnk_agree_with_py_ctcmetrics(tmp_path, case):
    _write(tmp_path / "gt" / "TRA", TRUTH, gt=True)
    if case == "perfect":
        result, ids = TRUTH, None
    else:   # the mother continues as daughter 2 (no division); track 4 is cut in two at frame 3
        result = {1: (0, 5, 0), 3: (3, 5, 0), 4: (0, 2, 0), 5: (3, 5, 0)}
        ids = {(2, t): 1 for t in range(3, 6)} | {(4, t): 5 for t in range(3, 6)}
    tracks = _write(tmp_path / "res", result, ids)
    write_tracks_geff(tracks, META, tmp_path / "tracks.geff")
    ctc = evaluate_ctc(tmp_path / "res", tmp_path / "gt")
    ours = evaluate_traccuracy(tmp_path / "tracks.geff", tmp_path / "res", tmp_path / "gt", frame_buffer=1)
    for key in ("TRA", "DET", "LNK"):
        assert ours[key] == pytest.approx(ctc[key], abs=1e-9), key
    division = ours["divisions"]["frame_buffer_0"]
    assert set(ours["divisions"]) == {"frame_buffer_0", "frame_buffer_1"}
    if case == "perfect":
        assert ours["TRA"] == 1.0 and division["f1"] == 1.0 and ours["complete_lineages"] == 1.0
    else:
        assert ours["TRA"] < 1.0 and division["fn"] == 1 and division["tp"] == 0 and division["recall"] == 0.0
        assert ours["complete_lineages"] == 0.0 and ours["complete_tracklets"] < 1.0
        assert ctc["fn_div(0)"] == division["fn"]
        # the geff gives traccuracy the same graph as the CTC folder does (its own CTC loader)
        from traccuracy import run_metrics
        from traccuracy.loaders import load_ctc_data
        from traccuracy.matchers import CTCMatcher
        from traccuracy.metrics import CTCMetrics

        gt = load_ctc_data(str(tmp_path / "gt" / "TRA"), str(tmp_path / "gt" / "TRA" / "man_track.txt"))
        folder = load_ctc_data(str(tmp_path / "res"), str(tmp_path / "res" / "res_track.txt"))
        direct = run_metrics(gt, folder, CTCMatcher(), [CTCMetrics()])[0][0]["results"]
        keys = ("TRA", "DET", "LNK", "AOGM")
        assert {k: ours[k] for k in keys} == {k: direct[k] for k in keys}


def test_a_merge_leaves_out_the_measures_that_need_a_one_to_one_matching(tmp_path):
    """One predicted object covering two true cells: traccuracy's division and complete-track
    measures refuse such a matching; the CTC measures are still given, the others say why not."""
    _write(tmp_path / "gt" / "TRA", TRUTH, gt=True)
    result = {**TRUTH, 4: (1, 5, 0)}
    tracks = _write(tmp_path / "res", TRUTH)
    merged = tifffile.imread(tmp_path / "res" / "mask000.tif")
    merged[17:54, 7:54] = 1  # frame 0: cells 1 and 4 as one object
    tifffile.imwrite(tmp_path / "res" / "mask000.tif", merged)
    (tmp_path / "res" / "res_track.txt").write_text("".join(f"{k} {b} {e} {p}\n" for k, (b, e, p) in result.items()))
    tracks = tracks[~((tracks["frame"] == 0) & (tracks["track_id"] == 4))]
    write_tracks_geff(tracks, META, tmp_path / "tracks.geff")
    ours = evaluate_traccuracy(tmp_path / "tracks.geff", tmp_path / "res", tmp_path / "gt")
    assert 0 < ours["TRA"] < 1.0 and ours["divisions"] is None and ours["complete_lineages"] is None
    assert "one-to-one" in ours["notes"]["divisions"]


def test_the_rule_adds_traccuracy_to_evaluation_json(tiny_demo_project):
    result = json.loads((tiny_demo_project / "results" / "tiny" / "evaluation.json").read_text())
    ours, ctc = result["traccuracy"], result["ctc"]
    for key in ("TRA", "DET", "LNK"):
        assert ours[key] == pytest.approx(ctc[key], abs=1e-9), key
    assert set(ours["divisions"]) == {"frame_buffer_0", "frame_buffer_1", "frame_buffer_2"}
    assert ours["divisions"]["frame_buffer_0"]["gt_divisions"] == ctc["gt_divisions"]
    assert 0 <= ours["complete_lineages"] <= 1 and ours["total_lineages"] > 0
    assert result["not_computed"] == {}


def test_the_ground_truth_graph_equals_traccuracys_own_loader(tmp_path):
    from traccuracy.loaders import load_ctc_data

    _write(tmp_path / "TRA", TRUTH, gt=True)
    ours, theirs = load_ctc_truth(tmp_path / "TRA"), load_ctc_data(str(tmp_path / "TRA"), name="ground truth")
    assert isinstance(ours.segmentation, TiffFrames) and ours.segmentation.shape == theirs.segmentation.shape
    assert sorted(ours.graph.edges) == sorted(theirs.graph.edges)
    assert dict(ours.graph.nodes(data=True)) == dict(theirs.graph.nodes(data=True))
    assert ours.location_keys == theirs.location_keys
    for t in range(N_FRAMES):
        np.testing.assert_array_equal(ours.segmentation[t], theirs.segmentation[t])
        np.testing.assert_array_equal(ours.segmentation[t, ...], theirs.segmentation[t])


def test_masks_are_never_stacked(tmp_path, monkeypatch):
    """Neither traccuracy's loader (which stacks every frame) nor np.stack of the masks is used:
    memory stays that of a frame whatever the movie's length."""
    import traccuracy.loaders._ctc as ctc_loader

    def refuse(*args, **kwargs):
        raise AssertionError("the whole mask movie was loaded")

    monkeypatch.setattr(ctc_loader, "load_tiffs", refuse)
    _write(tmp_path / "gt" / "TRA", TRUTH, gt=True)
    tracks = _write(tmp_path / "res", TRUTH)
    write_tracks_geff(tracks, META, tmp_path / "tracks.geff")
    assert isinstance(load_geff_prediction(tmp_path / "tracks.geff", tmp_path / "res").segmentation, TiffFrames)
    assert evaluate_traccuracy(tmp_path / "tracks.geff", tmp_path / "res", tmp_path / "gt")["TRA"] == 1.0


def test_tiff_frames_read_one_frame_and_check_each(tmp_path):
    for t, shape in enumerate([(3, 8, 8), (3, 8, 8), (3, 8, 9)]):
        tifffile.imwrite(tmp_path / f"mask{t:03d}.tif", np.full(shape, t, np.uint16), photometric="minisblack")
    frames = TiffFrames(sorted(tmp_path.glob("mask*.tif")))
    assert frames.shape == (3, 3, 8, 8) and frames.ndim == 4 and frames.dtype == np.uint16 and len(frames) == 3
    assert int(frames[1].max()) == 1 and frames[np.int64(0), ...].shape == (3, 8, 8)
    with pytest.raises(InputError, match=r"mask002.tif: a mask of shape \(3, 8, 9\)"):
        list(frames)
    with pytest.raises(TypeError, match="one frame number"):
        frames[0:2]
    tifffile.imwrite(tmp_path / "float.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(InputError, match="integer labels"):
        TiffFrames([tmp_path / "float.tif"])
