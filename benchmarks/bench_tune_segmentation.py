"""Tune-from-review accuracy: the classic segmentation tuned on 2 annotated frames of a dataset
(as a user would review 2 frames in napari), scored on every other annotated frame of it.

    .venv/bin/python benchmarks/bench_tune_segmentation.py [--data ../shared/data] [--out DIR]
        [--datasets sim gowt1 msc] [--start PRESET] [--n-trials 40] [--budget-s 300] [--seed 0]

For each dataset with SEG ground truth (see bench_segmentation.DATASETS) two annotated frames,
the first and the middle one, are the "reviewed" frames; `marrowflow.segment.tune.tune_classic`
tunes from `--start` (default: the built-in parameters, i.e. nothing chosen for the dataset; a
preset name starts from that preset) with 2-fold cross-validation over those two frames. Scored
on the remaining annotated frames: the start, the tuned parameters and the dataset's own shipped
preset (which was tuned on these frames, so it is the optimistic reference). SEG counts only
annotated objects, so on partly annotated datasets (GOWT1, MSC) it does not see false objects.
Results: OUT/tune_segmentation.csv and .md (default /tmp/marrowflow-bench).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from marrowflow.segment.classic import ClassicParams
from marrowflow.segment.tune import seg_on_frames, tune_classic

from bench_data import DATA_HELP, default_data_dir
from bench_segmentation import DATASETS, load


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_dir(), help=DATA_HELP)
    ap.add_argument("--out", type=Path, default=Path("/tmp/marrowflow-bench"))
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--start", default=None, help="preset to start from (default: built-in parameters)")
    ap.add_argument("--n-trials", type=int, default=40)
    ap.add_argument("--budget-s", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = []
    for key in args.datasets:
        name, preset, _, _ = DATASETS[key]
        frames, images, gts, pixel = load(args.data, name)
        picked = [0, len(frames) // 2]
        rest = [i for i in range(len(frames)) if i not in picked]
        start = ClassicParams.from_config({"preset": args.start})
        t0 = time.perf_counter()
        result = tune_classic([images[i] for i in picked], [gts[i] for i in picked], base=start,
                              pixel_size_um=pixel, k_folds=2, n_trials=args.n_trials, budget_s=args.budget_s,
                              seed=args.seed)
        seconds = time.perf_counter() - t0
        held_images, held_gts = [images[i] for i in rest], [gts[i] for i in rest]
        row = {"dataset": name, "reviewed_frames": " ".join(str(frames[i]) for i in picked),
               "scored_frames": len(rest), "start": args.start or "built-in",
               "SEG_start": seg_on_frames(held_images, held_gts, start, pixel_size_um=pixel),
               "SEG_tuned_2_frames": seg_on_frames(held_images, held_gts, start.replace(**result.params),
                                                   pixel_size_um=pixel),
               "SEG_cv_on_2_frames": result.cv_seg,
               "SEG_own_preset": seg_on_frames(held_images, held_gts, ClassicParams.from_config({"preset": preset}),
                                                pixel_size_um=pixel),
               "own_preset": preset, "trials": result.n_trials, "tune_s": seconds}
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "tune_segmentation.csv", index=False)
    (args.out / "tune_segmentation.md").write_text(table.to_markdown(index=False, floatfmt=".3f") + "\n")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    return table


if __name__ == "__main__":
    main()
