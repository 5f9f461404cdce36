"""traccuracy's measures of a result given as geff (`tracks.geff`) against CTC tracking ground
truth: division precision, recall and F1 for each frame buffer 0..N (a division found up to N
frames early or late still counts), the fractions of complete lineages and tracklets, and its
own TRA, DET, LNK and AOGM (they agree with py-ctcmetrics' on the same result).

Nodes are matched with traccuracy's CTC matcher on the result's CTC masks (`maskNNN.tif`, whose
values are the geff's `track_id`s): the masks carry the reviewed label frames, which the
segmentation's own label image does not.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import tifffile

from marrowflow.errors import InputError

__all__ = ["evaluate_traccuracy", "load_geff_prediction"]

_DIVISION_KEYS = {"Division Precision": "precision", "Division Recall": "recall", "Division F1": "f1",
                  "Mitotic Branching Correctness": "mitotic_branching_correctness",
                  "True Positive Divisions": "tp", "False Positive Divisions": "fp",
                  "False Negative Divisions": "fn", "Wrong Children Divisions": "wrong_children",
                  "Total GT Divisions": "gt_divisions", "Total Predicted Divisions": "pred_divisions"}


def _masks(res_dir: Path) -> np.ndarray:
    paths = sorted(res_dir.glob("mask*.tif"))
    if not paths:
        raise InputError(f"{res_dir}: no maskNNN.tif; expected the track rule's CTC result folder")
    return np.stack([tifffile.imread(p) for p in paths])


def load_geff_prediction(geff_path: str | Path, res_dir: str | Path):
    """A `traccuracy.TrackingGraph` of the geff `geff_path` (traccuracy's geff loader) with the CTC
    masks of `res_dir` as its segmentation and `track_id` as the label key."""
    from traccuracy import TrackingGraph
    from traccuracy.loaders import load_geff_data

    loaded = load_geff_data(str(geff_path), load_all_props=True)
    if any("track_id" not in data for _, data in loaded.graph.nodes(data=True)):
        raise InputError(f"{geff_path}: nodes without a track_id property; expected the export rule's "
                         "tracks.geff (written by marrowflow.export.write_tracks_geff)")
    return TrackingGraph(loaded.graph, segmentation=_masks(Path(res_dir)), frame_key=loaded.frame_key,
                         label_key="track_id", location_keys=loaded.location_keys)


def evaluate_traccuracy(geff_path: str | Path, res_dir: str | Path, gt_dir: str | Path, *,
                        frame_buffer: int = 2) -> dict:
    """traccuracy's measures of the geff result against `gt_dir/TRA` (CTC tracking ground truth).

    Returns {"TRA", "DET", "LNK", "AOGM", "divisions": {"frame_buffer_<k>": {precision, recall,
    f1, tp, fp, fn, ...}} for k = 0..`frame_buffer`, "complete_lineages", "complete_tracklets",
    "total_lineages", "total_tracklets", "version"}. Where a predicted object covers two true
    cells the matching is not one-to-one: the division and complete-track entries are then None,
    with the reason under "notes".
    """
    import traccuracy
    from traccuracy import run_metrics
    from traccuracy.loaders import load_ctc_data
    from traccuracy.matchers import CTCMatcher
    from traccuracy.metrics import CompleteTracks, CTCMetrics, DivisionMetrics

    tra = Path(gt_dir) / "TRA"
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # progress bars and "already annotated" notes of each metric
        pred = load_geff_prediction(geff_path, res_dir)
        gt = load_ctc_data(str(tra), str(tra / "man_track.txt"), name="ground truth")
        if gt.segmentation.shape != pred.segmentation.shape:
            raise InputError(f"{tra}: masks of shape {gt.segmentation.shape}, but the result {res_dir} has "
                             f"{pred.segmentation.shape}; the ground truth must belong to this movie")
        results, matched = run_metrics(gt, pred, CTCMatcher(), [CTCMetrics()])
        ctc = results[0]["results"]
        out: dict = {k: float(ctc[k]) for k in ("TRA", "DET", "LNK", "AOGM")}
        try:  # these need a one-to-one matching: no predicted object covering two true cells
            div = DivisionMetrics(max_frame_buffer=int(frame_buffer)).compute(matched).to_dict()["results"]
            complete = CompleteTracks().compute(matched).to_dict()["results"]
        except TypeError:
            div = complete = None
    if div is None:
        out["divisions"] = None
        out.update(dict.fromkeys(("complete_lineages", "complete_tracklets", "total_lineages", "total_tracklets")))
        out["notes"] = {"divisions": "not computed: some predicted objects cover more than one true cell (merged "
                                     "nuclei), and traccuracy's division and complete-track measures need a "
                                     "one-to-one matching; the CTC measures (ctc) count divisions anyway"}
    else:
        out["divisions"] = {f"frame_buffer_{k}": {_DIVISION_KEYS[name]: _number(v)
                                                  for name, v in div[f"Frame Buffer {k}"].items()
                                                  if name in _DIVISION_KEYS}
                            for k in range(int(frame_buffer) + 1)}
        out.update({k: _number(complete[k]) for k in ("complete_lineages", "complete_tracklets",
                                                      "total_lineages", "total_tracklets")})
    out["version"] = traccuracy.__version__
    return out


def _number(value) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return None if np.isnan(value) else value
