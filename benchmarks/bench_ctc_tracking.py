"""Tracking accuracy on the Cell Tracking Challenge data with TRA ground truth (official measures).

For every dataset in the data folder (--data, default ../shared/data) with TRA ground truth, tracks twice:
- `gt`:  detections from the ground-truth masks (SEG masks where every frame has one, else the TRA
         markers): only linking errors remain;
- `seg`: detections from the pipeline's own segmentation (`marrowflow.segment.segment_frame` with
         the dataset's preset, as the workflow would run it).
Writes the CTC result folders under --work and one table (--out, CSV) with DET, TRA, LNK, SEG, CT,
TF, BC(0..3), CCA, and the time per step. Measurements on CTC data stay out of the repository.

`--ctc DIR ...` adds any folder in the CTC layout (`01/t*.tif` and `01_GT/TRA`, optionally
`01_GT/SEG`; e.g. a synthetic colony from `marrowflow.synthetic_colony.write_colony_ctc`),
linking only (`gt` mode; `--ctc-modes gt seg` adds the full pipeline with the config's
segmentation, `preset: auto` in the shipped one); without a known pixel size the largest step is
3 cell radii (the median equivalent radius of the masks) unless `--set tracking.max_distance_px=...` says otherwise.
`--method` runs each of auto, sparse_lap, laptrack, motile (motile, and auto where it picks
motile, get the masks' overlaps; the table's `method` is the one used, `crowding` the figure auto
decides by);
`--set tracking.drift_correction=true` estimates the drift from the images first (timed with tracking).

    .venv/bin/python benchmarks/bench_ctc_tracking.py [--data DIR] [--modes gt seg] [--set tracking.key=value ...]
    .venv/bin/python benchmarks/bench_ctc_tracking.py --datasets --ctc /tmp/colony --method sparse_lap motile
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import yaml

from marrowflow.evaluate.ctc_measures import evaluate_ctc
from marrowflow.measure.cells import measure_frame
from marrowflow.segment.auto import estimate_image, sample_frames
from marrowflow.segment.classic import resolve_auto
from marrowflow.segment.presets import expand_preset
from marrowflow.segment.segmenter import SegmentationParams, segment_frame
from marrowflow.track.auto import crowding
from marrowflow.track.costs import cell_scale, movie_overlaps
from marrowflow.track.ctc import relabel_frame, tracks_to_ctc
from marrowflow.track.drift import drift_array, estimate_drift
from marrowflow.track.linking import chosen_method, track_cells
from marrowflow.workflow.config import validate_config

from bench_data import DATA_HELP, REPO, default_data_dir

# pixel size (µm) and time step (h) from the CTC dataset descriptions; `classic`: the config's
# segmentation.classic section a user would set for this data (used unless --set overrides it)
DATASETS = {
    "ctc-Fluo-N2DH-SIM+": {"pixel_size_um": 0.125, "time_step_h": 29 / 3600,
                           "classic": {"preset": "fluo_nuclei_widefield"}},
    "ctc-Fluo-N2DH-GOWT1": {"pixel_size_um": 0.240, "time_step_h": 5 / 60, "classic": {"preset": "fluo_nuclei"}},
}


def _frames(folder: Path, pattern: str) -> list[str]:
    return sorted(glob.glob(str(folder / pattern)))


def segmenter(config: dict, pixel_size_um: float, images: list[str]):
    """The pipeline's segment_frame with the config's segmentation section (preset expanded;
    `preset: auto` estimated once from frames sampled across `images`, as the workflow does).
    Returns (fn, name); the name carries a hash of the parameter values (the cache key)."""
    params = SegmentationParams.from_config(expand_preset(config.get("segmentation", {})))
    if params.backend == "classic" and params.classic.is_auto:
        sample = [tifffile.imread(images[t]) for t in sample_frames(len(images))]
        classic = resolve_auto(params.classic, estimate_image(sample, pixel_size_um=pixel_size_um))
        params = dataclasses.replace(params, classic=classic)
    tag = hashlib.sha1(json.dumps(dataclasses.asdict(params), sort_keys=True, default=str).encode()).hexdigest()[:8]
    return (lambda img: segment_frame(img, params, pixel_size_um=pixel_size_um)), f"marrowflow.segment-{tag}"


def detections(base: Path, name: str, mode: str, config: dict, info: dict,
               cache: Path) -> tuple[pd.DataFrame, list[np.ndarray], str]:
    """Cells table and label frames for one dataset and detection mode (cached as .npz/.parquet)."""
    images = _frames(base / "01", "t*.tif")
    if mode == "gt":
        seg_masks = _frames(base / "01_GT" / "SEG", "man_seg*.tif")
        source = "SEG" if len(seg_masks) == len(images) else "TRA"
        masks = seg_masks if source == "SEG" else _frames(base / "01_GT" / "TRA", "man_track*.tif")
        segment = None
    else:
        segment, source = segmenter(config, info["pixel_size_um"], images)
    # the cache key: the folder and its truth (a regenerated synthetic colony is a new dataset)
    truth = (base / "01_GT" / "TRA" / "man_track.txt").read_bytes()
    tag = hashlib.sha1(str(base.resolve()).encode() + truth).hexdigest()[:8]
    stem = cache / f"{name}-{tag}-{mode}-{source}"
    table_path, stack_path = stem.with_suffix(".parquet"), stem.with_suffix(".npz")
    if table_path.exists() and stack_path.exists():
        return pd.read_parquet(table_path), list(np.load(stack_path)["labels"]), source
    tables, labels = [], []
    for t, path in enumerate(images):
        image = tifffile.imread(path)
        lab = tifffile.imread(masks[t]).astype(np.uint32) if segment is None else segment(image)
        labels.append(lab)
        tables.append(measure_frame(lab, image[None], channel_names=["nuclei"], frame=t,
                                    time_h=t * (info["time_step_h"] or 1.0), pixel_size_um=info["pixel_size_um"]))
    cells = pd.concat(tables, ignore_index=True)
    cache.mkdir(parents=True, exist_ok=True)
    cells.to_parquet(table_path)
    np.savez_compressed(stack_path, labels=np.stack(labels))
    return cells, labels, source


def write_ctc(tracks: pd.DataFrame, labels: list[np.ndarray], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob("mask*.tif"):
        f.unlink()
    by_frame = dict(tuple(tracks.groupby("frame")))
    for t, lab in enumerate(labels):
        tifffile.imwrite(out / f"mask{t:03d}.tif", relabel_frame(lab, by_frame.get(t, tracks.iloc[0:0])))
    tracks_to_ctc(tracks).to_csv(out / "res_track.txt", sep=" ", header=False, index=False)


def _crowding(cells: pd.DataFrame) -> float:
    """The crowding figure `tracking.method: auto` decides by (`marrowflow.track.auto`)."""
    radius = np.sqrt(cells["area_px"].to_numpy(np.float64) / np.pi)
    return round(crowding(cells["frame"].to_numpy(), cells[["y", "x"]].to_numpy(np.float64), radius), 4)


def parse_overrides(items: list[str]) -> dict:
    cfg: dict = {}
    for item in items:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        cfg.setdefault(section, {})[name] = yaml.safe_load(value)
    return cfg


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_dir(), help=DATA_HELP)
    ap.add_argument("--modes", nargs="+", default=["gt", "seg"])
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--ctc", nargs="*", default=[], type=Path, help="more CTC folders")
    ap.add_argument("--ctc-modes", nargs="+", default=["gt"], choices=["gt", "seg"],
                    help="modes for the --ctc folders (seg: segmentation.classic of --config, nothing else set)")
    ap.add_argument("--method", nargs="+", default=[None], help="tracking methods (default: the config's)")
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--set", nargs="*", default=[], help="overrides, e.g. tracking.area_weight=0.5")
    ap.add_argument("--work", default="/tmp/marrowflow_bench_ctc")
    ap.add_argument("--out", default="/tmp/marrowflow_bench_ctc/bench_ctc_tracking.csv")
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    overrides = parse_overrides(args.set)
    work = Path(args.work)
    rows = []
    runs = [(name, args.data / name, DATASETS[name], args.modes) for name in args.datasets]
    runs += [(folder.name, folder, {"pixel_size_um": None, "time_step_h": None,
                                    "classic": raw.get("segmentation", {}).get("classic", {})}, args.ctc_modes)
             for folder in args.ctc]
    for name, base, info, modes in runs:
        raw_ds = {**raw, "segmentation": {**raw.get("segmentation", {}), "classic": info["classic"]}}
        for section, values in overrides.items():
            raw_ds[section] = {**raw_ds.get(section, {}), **values}
        config = validate_config(raw_ds, source=args.config)
        for mode in modes:
            t0 = time.perf_counter()
            cells, labels, source = detections(base, name, mode, config, info, work / "cache")
            t1 = time.perf_counter()
            for method in args.method:
                tracking = dict(config["tracking"])
                if method:
                    tracking["method"] = method
                if info["pixel_size_um"] is None and tracking.get("max_distance_px") is None:
                    tracking["max_distance_px"] = 3 * cell_scale(cells["area_px"].to_numpy())
                t2 = time.perf_counter()
                drift = None
                if tracking["drift_correction"]:
                    drift = estimate_drift(tifffile.imread(f) for f in _frames(base / "01", "t*.tif"))
                shift = None if drift is None else drift_array(drift, len(labels))
                units = {"pixel_size_um": info["pixel_size_um"], "time_step_h": info["time_step_h"]}
                need_overlaps = chosen_method(cells, tracking, **units) == "motile"
                overlaps = movie_overlaps(labels, drift=shift) if need_overlaps else None
                tracks = track_cells(cells, tracking, overlaps=overlaps, drift=drift, **units)
                t3 = time.perf_counter()
                res = work / name / mode / tracking["method"] / "01_RES"
                used = tracks.attrs.get("tracking", {}).get("method", tracking["method"])
                write_ctc(tracks, labels, res)
                scores = evaluate_ctc(res, base / "01_GT")
                t4 = time.perf_counter()
                daughters = tracks[tracks["parent_track_id"] > 0].groupby("parent_track_id")["track_id"].nunique()
                row = {"dataset": name, "detections": f"{mode}:{source}", "method": used,
                       "method_asked": tracking["method"], "crowding": _crowding(cells),
                       "n_cells": len(cells), "n_tracks": int(tracks["track_id"].nunique()),
                       "n_divisions": int((daughters > 1).sum()),
                       **{k: scores.get(k) for k in ("Valid", "SEG", "DET", "TRA", "LNK", "CT", "TF", "BC(0)",
                                                     "BC(1)", "BC(2)", "BC(3)", "CCA", "BIO(2)",
                                                     "tp_div(2)", "fp_div(2)", "fn_div(2)", "gt_divisions")},
                       "AOGM_FN": scores.get("AOGM_FN"), "AOGM_FP": scores.get("AOGM_FP"),
                       "AOGM_NS": scores.get("AOGM_NS"), "AOGM_ED": scores.get("AOGM_ED"),
                       "AOGM_EA": scores.get("AOGM_EA"), "AOGM_EC": scores.get("AOGM_EC"),
                       "detect_s": round(t1 - t0, 1), "track_s": round(t3 - t2, 2), "eval_s": round(t4 - t3, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(table.drop(columns=["AOGM_FN", "AOGM_FP", "AOGM_NS", "AOGM_ED", "AOGM_EA", "AOGM_EC"]))
    return table


if __name__ == "__main__":
    main()
