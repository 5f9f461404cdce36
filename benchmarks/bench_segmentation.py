"""Segmentation accuracy and speed of every backend on the CTC datasets with SEG ground truth.

    .venv/bin/python benchmarks/bench_segmentation.py [--data ../shared/data] [--out DIR]
        [--protocol auto [--seeds 3 4]]
        [--backends classic cellpose] [--datasets sim gowt1 msc] [--epochs 600]
        [--base-weights OUT/models/{dataset}/weights.pth --learning-rate 0.002]
        [--diam-mean 20 --bsize 96 --contrast-copies 2 --niter 2000
         --cellprob-threshold -0.5 --unconverged-min-size 2000 --model-suffix _variant]

For each dataset (ctc-Fluo-N2DH-SIM+, ctc-Fluo-N2DH-GOWT1, ctc-Fluo-C2DL-MSC-segsubset) the
annotated frames (01_GT/SEG/man_segNNN.tif) are split by position: even positions train, odd
positions test (GOWT1, MSC: sparse cells, so training uses one crop around each annotated
cell). `classic` (its preset for the imaging type, one parameter set per dataset
type) is scored on all annotated frames and on the test half; `cellpose` trains a model from
scratch on the train half (`marrowflow.segment.train.train_cellpose`, cached under OUT/models/<dataset>)
and is scored on the test half. SEG is the CTC measure averaged over all ground-truth objects of
the frames; F1 at IoU 0.5 sums tp/fp/fn over frames. GOWT1's and MSC's SEG masks annotate only
some cells of a frame: predicted objects touching no annotated cell are left out of F1 there, and for
training, unannotated cells (found by the classic backend) are painted over with background.
Results go to OUT/segmentation.csv and .md (default /tmp/marrowflow-bench; CTC terms: keep them
out of published material). Training is slow on CPU (600 epochs: 16-30 min per dataset on
2 threads): run it in the background. `gt_registration.py` checks how the masks line up with
the images.

`--protocol auto` scores `preset: auto` with nothing set but the pixel size (its parameters
estimated from frames sampled across the annotated ones) on every dataset, next to the dataset's
own preset, and on the synthetic variants (marrowflow.synthetic_variants, simulated with --seeds,
which benchmarks/tune_auto_recipe.py does not tune on). tune_auto_recipe.py --hold-out gives the
leave-one-dataset-out figures.
"""

from __future__ import annotations

import argparse
import functools
import glob
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from scipy import ndimage as ndi

from marrowflow.segment.auto import estimate_image, sample_frames
from marrowflow.segment.classic import ClassicParams, resolve_auto, segment_classic
from marrowflow.segment.metrics import match_f1, restrict_to_annotated, seg_sums
from marrowflow.segment.segmenter import make_segmenter
from marrowflow.synthetic_variants import VARIANTS, variant_frames

from bench_data import DATA_HELP, default_data_dir

DATASETS = {
    # name, classic preset, partial annotation, training crop around each object (px; None = whole frames)
    "sim": ("ctc-Fluo-N2DH-SIM+", "fluo_nuclei_widefield", False, None),
    "gowt1": ("ctc-Fluo-N2DH-GOWT1", "fluo_nuclei", True, 288),
    "msc": ("ctc-Fluo-C2DL-MSC-segsubset", "whole_cell", True, 360),  # 7 of 18 frames annotate 2 cells
}


def pixel_size_um(path: str) -> float | None:
    """YX pixel size from the TIFF resolution tags (CTC files store it in centimetres)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        res, unit = page.tags.get("XResolution"), page.tags.get("ResolutionUnit")
        if res is None or unit is None or unit.value not in (2, 3):
            return None
        num, den = res.value
        per_unit = num / den
        return (2.54e4 if unit.value == 2 else 1e4) / per_unit


def load(data: Path, name: str):
    folder = data / name
    masks = sorted(glob.glob(str(folder / "01_GT" / "SEG" / "man_seg*.tif")))
    frames = [int(Path(m).stem[7:]) for m in masks]
    images = [tifffile.imread(folder / "01" / f"t{t:03d}.tif") for t in frames]
    gts = [tifffile.imread(m) for m in masks]
    return frames, images, gts, pixel_size_um(str(folder / "01" / f"t{frames[0]:03d}.tif"))


def score(segment, images, gts, partial: bool) -> dict:
    total = n_gt = tp = fp = fn = 0
    seconds = 0.0
    for image, gt in zip(images, gts):
        t0 = time.perf_counter()
        pred = segment(image)
        seconds += time.perf_counter() - t0
        s, n = seg_sums(pred, gt)
        total, n_gt = total + s, n_gt + n
        m = match_f1(restrict_to_annotated(pred, gt) if partial else pred, gt)
        tp, fp, fn = tp + m["tp"], fp + m["fp"], fn + m["fn"]
    return {"SEG": total / n_gt, "F1@0.5": 2 * tp / max(2 * tp + fp + fn, 1), "tp": tp, "fp": fp,
            "fn": fn, "n_gt": n_gt, "s_per_frame": seconds / len(images)}


def mask_unannotated(image, gt, classic):
    """Paint cells the ground truth left out with the background level (training only)."""
    pred = classic(image)
    other = (pred > 0) & ~np.isin(pred, np.unique(pred[gt > 0]))
    other = ndi.binary_dilation(other, iterations=6) & (gt == 0)
    out = image.astype(np.float32).copy()
    out[other] = np.median(image[(pred == 0) & (gt == 0)])
    return out


def crops_around_objects(images, masks, size: int):
    """One size x size crop centred on each annotated object (sparse annotation: random crops of
    the whole frame would be mostly empty)."""
    out_i, out_m = [], []
    for image, mask in zip(images, masks):
        for sl in ndi.find_objects(mask):
            if sl is None:
                continue
            centre = [(s.start + s.stop) // 2 for s in sl]
            starts = [min(max(c - size // 2, 0), max(n - size, 0)) for c, n in zip(centre, mask.shape)]
            box = tuple(slice(start, start + size) for start in starts)
            out_i.append(image[box])
            out_m.append(mask[box])
    return out_i, out_m


def auto_rows(data: Path, datasets, seeds) -> list[dict]:
    """`preset: auto` (nothing set but the pixel size) against each dataset's own preset, and on
    the synthetic variants."""
    auto = ClassicParams.from_config({"preset": "auto"})
    rows = []
    for key in datasets:
        name, preset, partial, _ = DATASETS[key]
        _, images, gts, px = load(data, name)
        t0 = time.perf_counter()
        estimate = estimate_image([images[t] for t in sample_frames(len(images))], pixel_size_um=px)
        seconds = time.perf_counter() - t0
        params = resolve_auto(auto, estimate)
        for label, segment in (("auto", functools.partial(segment_classic, params=params, pixel_size_um=px)),
                               (preset, make_segmenter({"classic": {"preset": preset}}, pixel_size_um=px))):
            rows.append({"dataset": name, "parameters": label, "diameter_um": round(estimate.diameter, 2),
                         "polarity": estimate.polarity, "estimate_s": round(seconds, 2),
                         **score(segment, images, gts, partial)})
            print(rows[-1], flush=True)
    for variant in VARIANTS:
        total = n = 0.0
        for seed in seeds:
            images, labels, px = variant_frames(variant, seed)
            estimate = estimate_image(images, pixel_size_um=px)
            params = resolve_auto(auto, estimate)
            r = score(functools.partial(segment_classic, params=params, pixel_size_um=px), images, labels, False)
            total, n = total + r["SEG"] * r["n_gt"], n + r["n_gt"]
        rows.append({"dataset": f"synthetic {variant}", "parameters": "auto",
                     "diameter_um": round(estimate.diameter, 2), "polarity": estimate.polarity,
                     "SEG": total / n, "n_gt": n})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data_dir(), help=DATA_HELP)
    ap.add_argument("--out", default="/tmp/marrowflow-bench")
    ap.add_argument("--protocol", choices=["presets", "auto"], default="presets",
                    help="presets: each dataset's preset and cellpose trained on it; auto: preset auto")
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4], help="synthetic variants' seeds (--protocol auto)")
    ap.add_argument("--backends", nargs="+", default=["classic", "cellpose"])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--epochs", type=int, default=600,
                    help="training steps (one batch of 8 crops per epoch); 60 left SIM+ at SEG 0.822, "
                         "600 reached 0.876 (3,000: 0.885)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--base-weights", help="fine-tune these weights (per dataset: a {dataset} placeholder "
                    "is filled in) instead of training from scratch; the model goes to OUT/models/<dataset>_ft")
    ap.add_argument("--learning-rate", type=float, default=0.005)
    ap.add_argument("--diam-mean", type=float, default=20.0,
                    help="object diameter (px) the network works at; images are rescaled to it")
    ap.add_argument("--bsize", type=int, default=96, help="training crop size (px, after rescaling)")
    ap.add_argument("--contrast-copies", type=int, default=0,
                    help="low-contrast copies of each training crop (marrowflow.segment.train.low_contrast_copies)")
    ap.add_argument("--niter", type=int, help="cellpose steps along the flows (default: cellpose's)")
    ap.add_argument("--flow-threshold", type=float, default=0.4, help="cellpose flow error cutoff")
    ap.add_argument("--cellprob-threshold", type=float, default=0.0, help="cellpose cell-probability cut")
    ap.add_argument("--unconverged-min-size", type=int,
                    help="keep unassigned pieces above the cell-probability cut of at least this many px "
                         "as objects")
    ap.add_argument("--model-suffix", default="", help="appended to OUT/models/<dataset> (keeps variants apart)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.protocol == "auto":
        table = pd.DataFrame(auto_rows(args.data, args.datasets, args.seeds))
        table.to_csv(out / "segmentation_auto.csv", index=False)
        (out / "segmentation_auto.md").write_text(table.to_markdown(index=False, floatfmt=".3f"), encoding="utf-8")
        print(table.to_string(index=False))
        return table
    rows = []
    for key in args.datasets:
        name, preset, partial, crop = DATASETS[key]
        frames, images, gts, px = load(args.data, name)
        train_idx, test_idx = list(range(0, len(frames), 2)), list(range(1, len(frames), 2))
        classic = make_segmenter({"backend": "classic", "classic": {"preset": preset}}, pixel_size_um=px)
        if "classic" in args.backends:
            for split, idx in (("all", range(len(frames))), ("test half", test_idx)):
                r = score(classic, [images[i] for i in idx], [gts[i] for i in idx], partial)
                rows.append({"dataset": name, "backend": f"classic ({preset})", "frames": split,
                             "n_frames": len(idx), **r})
                print(rows[-1], flush=True)
        if "cellpose" in args.backends:
            import torch

            from marrowflow.segment.train import WEIGHTS_NAME, train_cellpose

            torch.set_num_threads(args.threads)
            model_dir = out / "models" / ((f"{key}_ft" if args.base_weights else key) + args.model_suffix)
            weights = model_dir / WEIGHTS_NAME
            if not weights.is_file():
                train_images, train_masks = [images[i] for i in train_idx], [gts[i] for i in train_idx]
                if partial:
                    train_images = [mask_unannotated(images[i], gts[i], classic) for i in train_idx]
                if crop:
                    train_images, train_masks = crops_around_objects(train_images, train_masks, crop)
                t0 = time.time()
                base = args.base_weights.format(dataset=key) if args.base_weights else None
                train_cellpose(train_images, train_masks, out_dir=model_dir, base_weights=base,
                               epochs=args.epochs, seed=0, bsize=args.bsize, diam_mean=args.diam_mean, batch_size=8,
                               nimg_per_epoch=8, learning_rate=args.learning_rate,
                               contrast_copies=args.contrast_copies)
                print(f"{key}: trained in {time.time() - t0:.0f} s", flush=True)
            seg = make_segmenter({"backend": "cellpose", "cellpose": {
                "model": str(weights), "gpu": False, "niter": args.niter, "flow_threshold": args.flow_threshold,
                "cellprob_threshold": args.cellprob_threshold,
                "unconverged_min_size_px": args.unconverged_min_size}},
                pixel_size_um=px)
            r = score(seg, [images[i] for i in test_idx], [gts[i] for i in test_idx], partial)
            rows.append({"dataset": name, "backend": "cellpose (trained on train half)",
                         "frames": "test half", "n_frames": len(test_idx), **r})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    tag = "_".join(args.backends + args.datasets)
    table.to_csv(out / f"segmentation_{tag}.csv", index=False)
    (out / f"segmentation_{tag}.md").write_text(table.to_markdown(index=False, floatfmt=".3f"), encoding="utf-8")
    print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")  # training progress
    main()
