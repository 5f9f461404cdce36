"""traccuracy's measures of a result given as geff (`tracks.geff`) against CTC tracking ground
truth: division precision, recall and F1 for each frame buffer 0..N (a division found up to N
frames early or late still counts), the fractions of complete lineages and tracklets, and its
own TRA, DET, LNK and AOGM (they agree with py-ctcmetrics' on the same result).

Nodes are matched with traccuracy's CTC matcher on the result's CTC masks (`maskNNN.tif`, whose
values are the geff's `track_id`s): the masks carry the reviewed label frames, which the
segmentation's own label image does not.

Both mask movies reach traccuracy as `TiffFrames`, read a frame at a time when indexed:
traccuracy's own loader stacks the whole movie in memory (4 GiB for 100 frames of 40 x 512 x
512), while its matcher, node measurements and CTC checks only ever index one frame. The
ground truth's graph is built with traccuracy's own pieces of `load_ctc_data` (node
attributes, CTC checks, `ctc_to_graph`), fed that lazy stack.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tifffile

from marrowflow.errors import InputError

__all__ = ["TiffFrames", "evaluate_traccuracy", "load_ctc_truth", "load_geff_prediction"]

_DIVISION_KEYS = {"Division Precision": "precision", "Division Recall": "recall", "Division F1": "f1",
                  "Mitotic Branching Correctness": "mitotic_branching_correctness",
                  "True Positive Divisions": "tp", "False Positive Divisions": "fp",
                  "False Negative Divisions": "fn", "Wrong Children Divisions": "wrong_children",
                  "Total GT Divisions": "gt_divisions", "Total Predicted Divisions": "pred_divisions"}


class TiffFrames:
    """A movie of one TIFF per frame that reads a frame when indexed (`frames[t]`, `frames[t, ...]`)
    or iterated: the array interface traccuracy uses (shape, ndim, dtype, len). Not
    `marrowflow.io.GivenLabels`: that one renumbers each frame's ids 1..N, and here the ids are the
    track ids the graphs refer to."""

    def __init__(self, paths: Sequence[Path]):
        if not paths:
            raise InputError("no mask files to read")
        self.paths = list(paths)
        with tifffile.TiffFile(self.paths[0]) as tif:
            series = tif.series[0]
            first_shape, self.dtype = tuple(series.shape), np.dtype(series.dtype)
        if self.dtype.kind not in "iu":
            raise InputError(f"{self.paths[0]}: masks of type {self.dtype}; CTC masks hold integer labels")
        self.shape = (len(self.paths), *first_shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        t, rest = (index[0], index[1:]) if isinstance(index, tuple) else (index, ())
        if not isinstance(t, (int, np.integer)):
            raise TypeError("TiffFrames takes one frame number first (frames[t] or frames[t, ...])")
        frame = tifffile.imread(self.paths[int(t)])
        if frame.shape != self.shape[1:]:
            raise InputError(f"{self.paths[int(t)]}: a mask of shape {frame.shape}; the first one, "
                             f"{self.paths[0].name}, has {self.shape[1:]}")
        return frame[rest] if rest else frame

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[t] for t in range(len(self)))


def _masks(res_dir: Path) -> TiffFrames:
    paths = sorted(res_dir.glob("mask*.tif"))
    if not paths:
        raise InputError(f"{res_dir}: no maskNNN.tif; expected the track rule's CTC result folder")
    return TiffFrames(paths)


def load_ctc_truth(tra_dir: str | Path, name: str = "ground truth"):
    """traccuracy's `load_ctc_data(tra_dir)` (CTC tracking truth: `man_trackNNN.tif` and
    `man_track.txt`, checked the same way), with the masks left on disk (`TiffFrames`)."""
    import pandas as pd
    from traccuracy import TrackingGraph
    from traccuracy.loaders._ctc import _check_ctc, _get_node_attributes, ctc_to_graph

    tra = Path(tra_dir)
    tracks = pd.read_csv(tra / "man_track.txt", header=None, sep=" ", names=["Cell_ID", "Start", "End", "Parent_ID"])
    paths = sorted(p for p in tra.glob("*.tif*") if p.is_file())
    if not paths:
        raise InputError(f"{tra}: no man_trackNNN.tif masks")
    masks = TiffFrames(paths)
    detections = _get_node_attributes(masks)
    _check_ctc(tracks, detections, masks)
    location_keys = ("z", "y", "x") if masks.ndim == 4 else ("y", "x")
    return TrackingGraph(ctc_to_graph(tracks, detections), segmentation=masks, name=name,
                         location_keys=location_keys)


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
    from traccuracy.matchers import CTCMatcher
    from traccuracy.metrics import CompleteTracks, CTCMetrics, DivisionMetrics

    tra = Path(gt_dir) / "TRA"
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # progress bars and "already annotated" notes of each metric
        pred = load_geff_prediction(geff_path, res_dir)
        gt = load_ctc_truth(tra)
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
