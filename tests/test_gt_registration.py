"""benchmarks/gt_registration.py: the ground-truth offset check finds a known shift."""

import importlib.util
import sys

import numpy as np
import pytest
from scipy import ndimage as ndi


@pytest.fixture(scope="module")
def gt_registration(repo_root):
    """The benchmark script as a module, with benchmarks/ on sys.path as when it runs as a script."""
    folder = str(repo_root / "benchmarks")
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location("gt_registration", f"{folder}/gt_registration.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def _blobs(shift_px: tuple[int, int]):
    """Three blurred discs and their masks drawn `shift_px` away from them."""
    yy, xx = np.mgrid[:160, :160]
    image = np.full((160, 160), 100.0)
    gt = np.zeros((160, 160), np.uint16)
    for k, (cy, cx) in enumerate([(40, 40), (40, 115), (115, 80)], 1):
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 15 ** 2
        image += 400 * ndi.gaussian_filter(disc.astype(float), 2)
        gt[np.roll(disc, shift_px, axis=(0, 1))] = k
    return image, gt


@pytest.mark.parametrize("shift", [(0, 0), (-1, 0), (0, 1)])
def test_centroid_offsets_measure_the_mask_shift(gt_registration, shift):
    image, gt = _blobs(shift)
    d = gt_registration.centroid_offsets(image, gt)
    assert d.shape == (3, 2)
    np.testing.assert_allclose(np.median(d, 0), -np.asarray(shift, float), atol=0.05)


def test_neighbours_are_left_out(gt_registration):
    image, gt = _blobs((0, 0))
    gt[40, 56:99] = 9  # a thin object bridging the two upper discs
    d = gt_registration.centroid_offsets(image, gt)
    assert len(d) == 1  # only the lower disc is isolated; the bridge is under 50 px


def test_shifted_seg_rolls_predictions(gt_registration):
    _, gt = _blobs((0, 0))
    pred = np.roll(gt, (1, 0), axis=(0, 1))
    assert gt_registration.shifted_seg([pred], [gt], -1, 0) == pytest.approx(1.0)
    assert gt_registration.shifted_seg([pred], [gt], 0, 0) < 1.0
