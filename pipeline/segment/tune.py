"""Tuning the classic segmentation's parameters on a lab's own reviewed frames.

`tune_classic` searches the `ClassicParams` that matter most (threshold, smoothing, seeds,
outline, size and contrast filters; `SEARCH_SPACE`) with Optuna's seeded TPE sampler, scoring
the CTC SEG measure on reviewed (human-corrected) label frames. Its honest score is
cross-validated: the frames are split into k folds, parameters are tuned on k-1 folds and scored
on the held fold, and the mean of the held-fold SEGs is reported (`cv_seg`); the preset it returns
is then tuned on every frame. The time budget is split evenly over the k fold studies and the final
one, and each study stops at its share of the time or at `n_trials`, whichever comes first (with a
trial cap the result is reproducible for a given seed; a time budget alone depends on the machine).

Optuna does the search (TPE, seeded); only the k-fold protocol and the search space are ours.
`preset_document` turns the result into a preset YAML that `segmentation.classic.preset` can name,
recording the frames it was tuned on so that `marrowflow.evaluate.reviewed_accuracy` scores only
the frames tuning did not see.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marrowflow.errors import InputError
from marrowflow.segment.classic import ClassicParams, segment_classic
from marrowflow.segment.metrics import seg_sums

log = logging.getLogger(__name__)

__all__ = ["SEARCH_SPACE", "TuningResult", "fold_indices", "preset_document", "seg_on_frames", "tune_classic"]

# name -> ("float", low, high, log) | ("choice", options); sizes in µm (or px with units: px)
SEARCH_SPACE: dict[str, tuple] = {
    "threshold_method": ("choice", ("otsu", "li", "triangle", "noise")),
    "threshold_scale": ("float", 0.3, 8.0, True),  # otsu/li/triangle: x its height; noise: noise SDs
    "smooth_sigma_um": ("float", 0.0, 3.0, False),
    "seed_h_um": ("float", 0.1, 3.0, True),
    "min_seed_distance_um": ("float", 1.0, 12.0, True),
    "boundary_fraction": ("choice", (None, 0.3, 0.45, 0.55, 0.7)),
    "min_diameter_um": ("float", 0.5, 10.0, True),
    "min_contrast_snr": ("choice", (None, 2.0, 3.0, 4.0, 6.0)),
    "background_radius_um": ("choice", (None, 10.0, 20.0, 40.0)),
    "outline_sigma_um": ("choice", (None, 0.3, 0.6)),
    "border_threshold_scale": ("choice", (None, 0.5, 1.0)),
    "log_transform": ("choice", (False, True)),
}


@dataclass
class TuningResult:
    """The tuned parameters (`params`, the changed keys only), the SEG they reach on every frame
    they were tuned on (`train_seg`), the k-fold cross-validated SEG (`cv_seg`, per fold in
    `fold_seg`), the untuned starting point's SEG on all frames (`start_seg`) and the trial counts."""

    params: dict[str, Any]
    train_seg: float
    cv_seg: float
    fold_seg: list[float]
    start_seg: float
    n_trials: int
    folds: list[list[int]] = field(default_factory=list)


def fold_indices(n_frames: int, k: int) -> list[list[int]]:
    """Frame indices 0..n-1 dealt into min(k, n) folds round-robin (frames spread over the movie)."""
    if n_frames < 2:
        raise InputError(f"tuning needs at least 2 reviewed frames (found {n_frames}): one to tune on and one to "
                         "score on; review more frames in napari and save the review")
    k = max(2, min(k, n_frames))
    return [list(range(i, n_frames, k)) for i in range(k)]


def seg_on_frames(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], params: ClassicParams, *,
                  pixel_size_um: float | Sequence[float] | None) -> float:
    """SEG over the given frames pooled (summed Jaccards over summed reference objects)."""
    total, n = 0.0, 0
    for image, mask in zip(images, masks):
        pred = segment_classic(image, params, pixel_size_um=pixel_size_um)
        s, m = seg_sums(pred, mask)
        total, n = total + s, n + m
    return total / n if n else float("nan")


def _suggest(trial, name: str, spec: tuple) -> Any:
    if spec[0] == "choice":
        options = spec[1]
        index = trial.suggest_categorical(name, list(range(len(options))))
        return options[index]
    _, low, high, log_scale = spec
    return trial.suggest_float(name, low, high, log=log_scale)


def _including(space: Mapping[str, tuple], base: ClassicParams) -> dict[str, tuple]:
    """The search space widened to hold the starting values (a choice gains it, a range reaches it)."""
    out = {}
    for name, spec in space.items():
        value = getattr(base, name)
        if spec[0] == "choice":
            out[name] = spec if value in spec[1] else ("choice", (*spec[1], value))
        elif value is None or (spec[3] and value <= 0):
            log.info("tuning: %s stays %r (the starting value; not on the searched range)", name, value)
        else:
            _, low, high, log_scale = spec
            out[name] = ("float", min(low, value), max(high, value), log_scale)
    return out


def _study(images, masks, base: ClassicParams, *, pixel_size_um, seed: int, n_trials: int, budget_s: float,
           space: Mapping[str, tuple]) -> tuple[dict[str, Any], float, int]:
    """One seeded TPE search; the best changed keys, their SEG and the trials run. The first trial
    is the starting point itself, so the result is never worse than it on these frames."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(n_trials // 4, 1)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    space = _including(space, base)
    study.enqueue_trial({name: (spec[1].index(getattr(base, name)) if spec[0] == "choice" else getattr(base, name))
                         for name, spec in space.items()})
    chosen: dict[int, dict[str, Any]] = {}

    def objective(trial) -> float:
        values = {name: _suggest(trial, name, spec) for name, spec in space.items()}
        chosen[trial.number] = values
        score = seg_on_frames(images, masks, base.replace(**values), pixel_size_um=pixel_size_um)
        return 0.0 if np.isnan(score) else score

    deadline = time.monotonic() + budget_s
    while len(study.trials) < n_trials and time.monotonic() < deadline:
        study.optimize(objective, n_trials=1)
    best = study.best_trial
    return chosen[best.number], float(best.value), len(study.trials)


def tune_classic(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], *, base: ClassicParams | None = None,
                 pixel_size_um: float | Sequence[float] | None = None, k_folds: int = 3, n_trials: int = 60,
                 budget_s: float = 300.0, seed: int = 0, space: Mapping[str, tuple] | None = None,
                 progress: Callable[[str], None] | None = None) -> TuningResult:
    """Tune the classic segmentation on reviewed frames (images[i] with reference labels masks[i]).

    `base`: the starting parameters (the run's current ones), which every search tries first;
    `n_trials` per study, `budget_s` for everything (k fold studies + the final one).
    """
    if len(images) != len(masks):
        raise InputError(f"{len(images)} images but {len(masks)} reviewed label frames")
    base = base or ClassicParams()
    space = dict(space or SEARCH_SPACE)
    say = progress or log.info
    folds = fold_indices(len(images), k_folds)
    share = budget_s / (len(folds) + 1)
    fold_seg, trials = [], 0
    for i, held in enumerate(folds):
        train = [j for j in range(len(images)) if j not in held]
        values, _, n = _study([images[j] for j in train], [masks[j] for j in train], base,
                              pixel_size_um=pixel_size_um, seed=seed + i, n_trials=n_trials, budget_s=share,
                              space=space)
        score = seg_on_frames([images[j] for j in held], [masks[j] for j in held], base.replace(**values),
                              pixel_size_um=pixel_size_um)
        fold_seg.append(float(score))
        trials += n
        say(f"fold {i + 1}/{len(folds)}: tuned on {len(train)} frame(s) in {n} trials, SEG on the held "
            f"{len(held)} frame(s) {score:.3f}")
    values, train_seg, n = _study(images, masks, base, pixel_size_um=pixel_size_um, seed=seed + len(folds),
                                  n_trials=n_trials, budget_s=share, space=space)
    trials += n
    start_seg = seg_on_frames(images, masks, base, pixel_size_um=pixel_size_um)
    changed = {k: v for k, v in values.items() if v != getattr(base, k)}
    result = TuningResult(params=changed, train_seg=train_seg, cv_seg=float(np.nanmean(fold_seg)),
                          fold_seg=fold_seg, start_seg=float(start_seg), n_trials=trials, folds=folds)
    say(f"tuned on {len(images)} frame(s): SEG {start_seg:.3f} -> {train_seg:.3f} on them, "
        f"cross-validated {result.cv_seg:.3f}")
    return result


def preset_document(result: TuningResult, base: ClassicParams, *, tuned_on: Mapping[str, Sequence[int]],
                    seed: int) -> dict[str, Any]:
    """A preset YAML document: `params` (every ClassicParams field: the starting values with the
    tuned ones applied), the scores and `tuned_on` ({sample: [frames]}) for the evaluate step."""
    params = dataclasses.asdict(base.replace(**result.params))
    for name in ClassicParams.INTERNAL:
        params.pop(name)
    return {
        "description": "Tuned on reviewed frames by the tune_segmentation rule (Optuna TPE, k-fold SEG).",
        "params": params,
        "scores": {"cv_seg": round(result.cv_seg, 4), "fold_seg": [round(s, 4) for s in result.fold_seg],
                   "train_seg": round(result.train_seg, 4), "start_seg": round(result.start_seg, 4),
                   "n_trials": result.n_trials, "seed": seed},
        "tuned_on": {sample: [int(t) for t in frames] for sample, frames in tuned_on.items()},
    }
