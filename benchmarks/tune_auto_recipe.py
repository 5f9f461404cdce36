"""How the constants of `preset: auto` (marrowflow.segment.auto.RECIPE) are chosen, and how well
they carry to images they were not chosen on (leave one dataset out).

    .venv/bin/python benchmarks/tune_auto_recipe.py [--tune synthetic sim gowt1] [--hold-out gowt1]
        [--seeds 1 2] [--test-seeds 3 4] [--trials 50] [--every 3] [--out DIR] [--data DIR]

Datasets: `synthetic` (every variant of marrowflow.synthetic_variants, simulated with --seeds for
tuning and --test-seeds for scoring) and the CTC sequences with SEG ground truth (sim, gowt1,
msc; every --every-th annotated frame for tuning, all of them for scoring). Each dataset's image
properties are estimated once (`estimate_image`, as `preset: auto` does), and Optuna's seeded TPE
searches the recipe's constants for the best mean SEG over the tuning datasets plus half the
worst one's (a recipe must not give up one kind of image for the others; the synthetic variants
count as one dataset), starting from RECIPE.
The held-out datasets are scored with the start recipe and the tuned one: that is the figure for
images nobody tuned on. Writes OUT/auto_recipe_<held-out>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from marrowflow.segment.auto import RECIPE, auto_params, estimate_image, sample_frames
from marrowflow.segment.classic import ClassicParams, segment_classic
from marrowflow.segment.metrics import seg_sums
from marrowflow.synthetic_variants import VARIANTS, variant_frames

from bench_data import DATA_HELP, default_data_dir
from bench_segmentation import DATASETS, load

# name -> (low, high) of the searched constants (the others stay at RECIPE's values)
SPACE = {
    "smooth_per_d": (0.0, 0.12),
    "threshold_sds": (1.5, 8.0),
    "boundary_fraction": (0.25, 0.7),
    "min_contrast_snr": (2.0, 8.0),
    "seed_h_per_d": (0.02, 0.3),
    "seed_distance_per_d": (0.15, 0.6),
    "seed_sigma_per_d": (0.0, 0.2),
    "min_diameter_per_d": (0.1, 0.6),
}


def synthetic_cases(seeds) -> dict[str, list]:
    """{variant: [(images, labels, pixel size, estimate) per seed]}."""
    cases = {}
    for name in VARIANTS:
        cases[f"synthetic:{name}"] = []
        for seed in seeds:
            images, labels, px = variant_frames(name, seed)
            cases[f"synthetic:{name}"].append((images, labels, px, estimate_image(images, pixel_size_um=px)))
    return cases


def ctc_case(data: Path, name: str, every: int) -> list:
    """[(images, labels, pixel size, estimate)] of every `every`-th annotated frame; the estimate
    from frames sampled across the annotated ones, as `preset: auto` samples a movie."""
    _, images, gts, px = load(data, DATASETS[name][0])
    estimate = estimate_image([images[t] for t in sample_frames(len(images))], pixel_size_um=px)
    return [(images[::every], gts[::every], px, estimate)]


def case_seg(items, recipe) -> float:
    """SEG pooled over the frames of one dataset with `recipe`."""
    total = n = 0.0
    for images, labels, px, estimate in items:
        params = ClassicParams().replace(**auto_params(estimate, recipe))
        for image, truth in zip(images, labels):
            s, m = seg_sums(segment_classic(image, params, pixel_size_um=px), truth)
            total, n = total + s, n + m
    return total / n if n else 0.0


def dataset_score(seg: dict[str, float]) -> float:
    """Mean SEG over the datasets plus half the worst one's; the synthetic variants count as one
    dataset (their mean), so they do not outvote the real sequences."""
    synthetic = [v for k, v in seg.items() if k.startswith("synthetic:")]
    per_dataset = [v for k, v in seg.items() if not k.startswith("synthetic:")]
    if synthetic:
        per_dataset.append(float(np.mean(synthetic)))
    return float(np.mean(per_dataset) + 0.5 * min(per_dataset))


def main(argv=None) -> dict:
    import optuna

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_dir(), help=DATA_HELP)
    ap.add_argument("--tune", nargs="+", default=["synthetic", "sim", "gowt1"])
    ap.add_argument("--hold-out", nargs="*", default=[], help="datasets scored only (not tuned on)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[3, 4])
    ap.add_argument("--every", type=int, default=3, help="tune on every n-th annotated CTC frame")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--out", default="/tmp/marrowflow-bench")
    args = ap.parse_args(argv)
    if set(args.tune) & set(args.hold_out):
        ap.error("a dataset cannot be tuned on and held out")

    def cases_of(names, seeds, every):
        out = {}
        for name in names:
            out.update(synthetic_cases(seeds) if name == "synthetic" else {name: ctc_case(args.data, name, every)})
        return out

    tuning = cases_of(args.tune, args.seeds, args.every)

    def objective(trial) -> float:
        recipe = {k: trial.suggest_float(k, lo, hi) for k, (lo, hi) in SPACE.items()}
        return dataset_score({k: case_seg(items, recipe) for k, items in tuning.items()})

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial({k: RECIPE[k] for k in SPACE})
    study.optimize(objective, n_trials=args.trials)
    best = {k: round(v, 4) for k, v in study.best_params.items()}
    scored = cases_of(args.hold_out, args.test_seeds, 1)
    result = {"tuned_on": args.tune, "held_out": args.hold_out, "seeds": args.seeds, "test_seeds": args.test_seeds,
              "trials": args.trials, "best_recipe": best,
              "tuning_seg": {"start": {k: case_seg(v, {}) for k, v in tuning.items()},
                             "tuned": {k: case_seg(v, best) for k, v in tuning.items()}},
              "held_out_seg": {"start": {k: case_seg(v, {}) for k, v in scored.items()},
                               "tuned": {k: case_seg(v, best) for k, v in scored.items()}}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "_".join(args.hold_out) or "none"
    (out / f"auto_recipe_{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
