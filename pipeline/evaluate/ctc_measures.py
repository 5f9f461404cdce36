"""Accuracy against ground truth: the Cell Tracking Challenge measures (py-ctcmetrics), SEG and F1
from segmentation ground truth alone, traccuracy's division and complete-track measures, and the
per-type count error on synthetic samples.

CTC layout: `res_dir` holds `res_track.txt` and `maskNNN.tif` for every frame; `gt_dir` holds any
of `TRA/man_track.txt` + `TRA/man_trackNNN.tif`, `SEG/man_segNNN.tif` (a subset of frames is
fine) and `cell_types.csv` (frame, label, cell_type; synthetic samples only). `evaluate_sample`
computes what the parts present allow and says why the rest was not computed.
"""

from __future__ import annotations

import contextlib
import io
import math
import multiprocessing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marrowflow.errors import InputError
from marrowflow.evaluate.params import EvaluationParams
from marrowflow.evaluate.seg_truth import evaluate_seg, seg_frames
from marrowflow.evaluate.traccuracy_measures import evaluate_traccuracy
from marrowflow.io.checks import warn_if_no_cells
from marrowflow.io.tables import read_table
from marrowflow.schema import as_params

__all__ = ["evaluate_ctc", "count_error", "truth_counts", "evaluate_sample", "ground_truth_parts"]

TRACKING_MEASURES = ["Valid", "DET", "TRA", "LNK", "CT", "TF", "BC", "CCA"]


def _check_track_file(path: Path) -> None:
    """Every non-empty line of a CTC track file holds four integers: label begin end parent."""
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if fields and (len(fields) != 4 or not all(f.lstrip("-").isdigit() for f in fields)):
            raise InputError(f"{path}, line {n}: expected four integers 'label begin end parent', found "
                             f"{line.strip()!r}. Fix the line (Cell Tracking Challenge track format)")


def _check_ctc_dirs(res_dir: Path, gt_dir: Path) -> tuple[int, int]:
    if not (res_dir / "res_track.txt").is_file():
        raise InputError(f"{res_dir}: no res_track.txt; expected a CTC result folder "
                         "(res_track.txt + maskNNN.tif), as the track rule writes it")
    if not (gt_dir / "TRA" / "man_track.txt").is_file():
        raise InputError(f"{gt_dir}: no TRA/man_track.txt; expected CTC ground truth "
                         "(TRA/man_track.txt + TRA/man_trackNNN.tif)")
    _check_track_file(gt_dir / "TRA" / "man_track.txt")
    n_res = len(list(res_dir.glob("mask*.tif")))
    n_gt = len(list((gt_dir / "TRA").glob("man_track*.tif")))
    if n_res != n_gt:
        raise InputError(f"{res_dir}: {n_res} result masks but {n_gt} ground-truth TRA masks in "
                         f"{gt_dir / 'TRA'}; the result must have one maskNNN.tif per frame")
    return n_res, n_gt


def _clean(value: Any) -> Any:
    """JSON-friendly numbers (numpy scalars to Python; NaN to None)."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    return value


def _empty_result(gt_dir: Path, metrics: list[str]) -> dict:
    """The measures of a result without any cell (py-ctcmetrics cannot read one): DET, TRA and SEG
    are 0 against a ground truth with cells (None against an empty one), the others undefined."""
    warn_if_no_cells(0, "evaluate", "the CTC measures of links, tracks and divisions are undefined")
    truth_has_cells = bool((gt_dir / "TRA" / "man_track.txt").read_text().strip())
    out: dict[str, Any] = {m: None for m in metrics if m != "BC"}
    out["Valid"] = 1
    for m in ("DET", "TRA", "SEG"):
        if m in out:
            out[m] = 0.0 if truth_has_cells else None
    out["notes"] = {"result": "the result has no cell in any frame (an empty movie?); measures of links, "
                              "tracks and divisions are undefined"}
    return out


def evaluate_ctc(res_dir: str | Path, gt_dir: str | Path, *, threads: int = 1) -> dict:
    """Official CTC measures of a result folder against a ground-truth folder.

    Returns DET, TRA, LNK, CT, TF, BC(0..3), CCA, BIO(0..3) (py-ctcmetrics' mean of the available
    biological measures), SEG (when `gt_dir/SEG` exists), the AOGM error counts and the division
    counts tp/fp/fn_div(i), plus `Valid` (1/0). A measure that cannot be computed is None or left
    out, with the reason under `notes` (e.g. CCA needs a complete cell cycle in the ground truth).
    """
    from ctc_metrics.scripts.evaluate import calculate_metrics, load_data

    res_dir, gt_dir = Path(res_dir), Path(gt_dir)
    _check_ctc_dirs(res_dir, gt_dir)
    has_seg = (gt_dir / "SEG").is_dir() and any((gt_dir / "SEG").glob("man_seg*.tif"))
    metrics = TRACKING_MEASURES + (["SEG"] if has_seg else [])
    if not (res_dir / "res_track.txt").read_text().strip():
        return _empty_result(gt_dir, metrics)
    notes = {}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comp, ref, traj, segm, _, is_valid = load_data(str(res_dir), str(gt_dir), True, has_seg, threads)
        raw = calculate_metrics(comp, ref, traj, segm, list(metrics), is_valid)
    if not is_valid:
        notes["Valid"] = "the result breaks the CTC format: " + "; ".join(
            str(w.message) for w in caught[:5])
    if not has_seg:
        notes["SEG"] = f"no segmentation ground truth ({gt_dir / 'SEG'} missing)"
    out = {k: _clean(v) for k, v in raw.items() if k != "BC"}
    if out.get("CCA") is None and is_valid:
        notes["CCA"] = ("the ground truth has no complete cell cycle (a track born and ending in a "
                        "division); BIO(i) averages CT, TF and BC(i) only")
    out.pop("BIO", None)
    out["notes"] = notes
    return out


def truth_counts(gt_dir: str | Path, classes: list[str] | None = None,
                 time_step_h: float | None = None) -> pd.DataFrame:
    """Counts per type per frame from `gt_dir/cell_types.csv` (frame, label, cell_type), long format
    `frame, cell_type, n` (+ `time_h` when the time step is given), zeros included."""
    path = Path(gt_dir) / "cell_types.csv"
    table = read_table(path, fix="typed ground truth (frame, label, cell_type) exists for synthetic samples only "
                                 "(marrowflow.synthetic.write_synthetic writes it); compare counts for those")
    missing = [c for c in ("frame", "label", "cell_type") if c not in table.columns]
    if missing:
        raise InputError(f"{path}: column(s) {missing} missing; found {list(table.columns)}")
    types = list(classes) if classes else sorted(table["cell_type"].unique())
    frames = np.arange(table["frame"].max() + 1)
    n = table.groupby(["frame", "cell_type"]).size()
    full = pd.MultiIndex.from_product([frames, types], names=["frame", "cell_type"])
    out = n.reindex(full, fill_value=0).rename("n").reset_index()
    if time_step_h is not None:
        out.insert(1, "time_h", out["frame"] * time_step_h)
    return out


def count_error(counts: pd.DataFrame, truth_counts: pd.DataFrame) -> dict:
    """Per cell type, the mean over frames of |n - n_true| / n_true (frames with n_true > 0), and
    the relative error of the summed counts; both tables long format `frame, cell_type, n`.

    Returns {cell_type: {"mean_relative_error": float, "total_relative_error": float,
    "n_frames": int}}; types absent from the truth are left out.
    """
    for name, table in (("counts", counts), ("truth_counts", truth_counts)):
        missing = [c for c in ("frame", "cell_type", "n") if c not in table.columns]
        if missing:
            raise InputError(f"count_error: the {name} table lacks column(s) {missing}")
    est = counts.groupby(["frame", "cell_type"])["n"].sum()
    true = truth_counts.groupby(["frame", "cell_type"])["n"].sum()
    both = pd.concat({"est": est, "true": true}, axis=1).fillna(0)
    both = both[both.index.get_level_values("frame").isin(true.index.get_level_values("frame"))]
    out = {}
    for cell_type, g in both.groupby(level="cell_type"):
        if cell_type not in true.index.get_level_values("cell_type"):
            continue
        pos = g[g["true"] > 0]
        if len(pos) == 0:
            continue
        rel = (pos["est"] - pos["true"]).abs() / pos["true"]
        out[str(cell_type)] = {"mean_relative_error": float(rel.mean()),
                               "total_relative_error": float(abs(g["est"].sum() - g["true"].sum())
                                                             / g["true"].sum()),
                               "n_frames": int(len(pos))}
    return out


def ground_truth_parts(gt_dir: str | Path) -> dict[str, str | None]:
    """{"TRA": reason, "SEG": reason, "counts": reason}: None for each part `gt_dir` holds, else why
    the measures that need it cannot be computed."""
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise InputError(f"{gt_dir}: the sample's ground_truth folder does not exist. Fix: correct the "
                         "ground_truth column of the sample sheet (or leave it empty)")
    return {"TRA": None if (gt_dir / "TRA" / "man_track.txt").is_file() else f"no TRA/man_track.txt in {gt_dir}",
            "SEG": None if seg_frames(gt_dir) else f"no SEG/man_segNNN.tif in {gt_dir}",
            "counts": None if (gt_dir / "cell_types.csv").is_file() else f"no cell_types.csv in {gt_dir} "
                                                                        "(typed ground truth: synthetic samples)"}


def evaluate_sample(res_dir: str | Path, gt_dir: str | Path | None, counts_path: str | Path | None = None, *,
                    geff_path: str | Path | None = None, params: EvaluationParams | Mapping | None = None,
                    threads: int = 1) -> dict:
    """The evaluate rule's result, from whatever part of the ground truth `gt_dir` holds.

    {"ctc": evaluate_ctc(...) (needs TRA/), "segmentation": evaluate_seg(...) (SEG and F1, needs
    SEG/), "traccuracy": evaluate_traccuracy(...) (needs TRA/ and `geff_path`), "counts":
    count_error(...) (needs cell_types.csv and `counts_path`), "not_computed": {part: reason}};
    a part that cannot be computed is None, with the reason under "not_computed". Raises
    InputError only when `gt_dir` holds none of TRA/, SEG/ and cell_types.csv; no `gt_dir` (None
    or ""): every part None. `threads`: py-ctcmetrics' worker processes matching the masks.
    """
    params = as_params(EvaluationParams, params)
    if not gt_dir:  # a sample evaluated only on its reviewed frames (marrowflow.evaluate.reviewed_accuracy)
        reason = "the sample sheet gives no ground_truth"
        return {"ctc": None, "segmentation": None, "traccuracy": None, "counts": None,
                "not_computed": {part: reason for part in ("TRA", "SEG", "counts")}}
    missing = ground_truth_parts(gt_dir)
    if all(missing.values()):
        raise InputError(f"{gt_dir}: no ground truth found ({'; '.join(missing.values())}). Fix: point the "
                         "sample's ground_truth at a CTC ground-truth folder (TRA/ and/or SEG/)")
    result: dict[str, Any] = {"ctc": None, "segmentation": None, "traccuracy": None, "counts": None}
    not_computed: dict[str, str] = {}
    if missing["TRA"] is None:
        # py-ctcmetrics' pool: only where it forks (spawn would run a Snakemake script's step again)
        ctc_threads = threads if multiprocessing.get_start_method() == "fork" else 1
        result["ctc"] = evaluate_ctc(res_dir, gt_dir, threads=ctc_threads)
        if geff_path is None:
            not_computed["traccuracy"] = "no tracks.geff given"
        elif result["ctc"]["notes"].get("result"):
            not_computed["traccuracy"] = result["ctc"]["notes"]["result"]
        else:
            result["traccuracy"] = evaluate_traccuracy(geff_path, res_dir, gt_dir,
                                                       frame_buffer=params.division_frame_buffer)
    else:
        not_computed["TRA"] = missing["TRA"] + ": no tracking measures (DET, TRA, LNK, CT, TF, BC, CCA, traccuracy)"
    if missing["SEG"] is None:
        result["segmentation"] = evaluate_seg(res_dir, gt_dir)
    else:
        not_computed["SEG"] = missing["SEG"] + ": no segmentation measures (SEG, F1)"
    if missing["counts"] is None and counts_path is not None:
        result["counts"] = count_error(read_table(counts_path), truth_counts(gt_dir))
    else:
        not_computed["counts"] = missing["counts"] or "no counts table given"
    result["not_computed"] = not_computed
    return result
