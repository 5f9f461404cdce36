"""Tuning the classic segmentation on reviewed frames (marrowflow.segment.tune)."""

import numpy as np
import pytest
import yaml

from marrowflow.errors import InputError
from marrowflow.segment.classic import ClassicParams
from marrowflow.segment.presets import load_preset
from marrowflow.segment.tune import fold_indices, preset_document, seg_on_frames, tune_classic

from synthetic_cells import blobs_image

# parameters that are off for these images: a cut far too high keeps only the brightest cores,
# seeds so close that every nucleus splits
BAD = ClassicParams(units="px", threshold_method="otsu", threshold_scale=3.5, seed_h_um=0.1,
                    min_seed_distance_um=1.0, smooth_sigma_um=0.0)


def _frames(seeds):
    pairs = [blobs_image(n=8, touching_pairs=2, seed=s, noise=0.08) for s in seeds]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_fold_indices_spread_frames_and_need_two():
    assert fold_indices(5, 3) == [[0, 3], [1, 4], [2]]
    assert fold_indices(2, 5) == [[0], [1]]
    with pytest.raises(InputError, match="at least 2 reviewed frames"):
        fold_indices(1, 3)


def test_tuning_improves_seg_on_frames_it_never_saw(tmp_path):
    images, masks = _frames([0, 1, 2])
    held_images, held_masks = _frames([10, 11])
    before = seg_on_frames(held_images, held_masks, BAD, pixel_size_um=None)
    result = tune_classic(images, masks, base=BAD, k_folds=3, n_trials=25, budget_s=600, seed=0)
    tuned = BAD.replace(**result.params)
    after = seg_on_frames(held_images, held_masks, tuned, pixel_size_um=None)
    assert before < 0.6
    assert after > before + 0.2 and after > 0.75
    assert result.train_seg >= result.start_seg  # the search starts from the given parameters
    assert len(result.fold_seg) == 3 and 0 < result.cv_seg <= 1
    # the same seed and trial cap give the same parameters
    again = tune_classic(images, masks, base=BAD, k_folds=3, n_trials=25, budget_s=600, seed=0)
    assert again.params == result.params

    doc = preset_document(result, BAD, tuned_on={"s1": [0, 4, 9]}, seed=0)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc))
    loaded = ClassicParams.from_config({"preset": str(path)})
    assert loaded == tuned
    assert load_preset(str(path))["threshold_scale"] == tuned.threshold_scale
    assert doc["tuned_on"] == {"s1": [0, 4, 9]} and doc["scores"]["cv_seg"] == round(result.cv_seg, 4)


def test_mismatched_inputs_are_refused():
    images, masks = _frames([0, 1])
    with pytest.raises(InputError, match="2 images but 1"):
        tune_classic(images, masks[:1])
    assert np.isfinite(seg_on_frames(images, masks, ClassicParams(units="px"), pixel_size_um=None))
