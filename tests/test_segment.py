"""Classic backend on synthetic images with known objects; entry point, presets and errors."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from marrowflow.errors import ConfigError
from marrowflow.segment.classic import ClassicParams, segment_classic
from marrowflow.segment.metrics import match_f1, seg_score
from marrowflow.segment.presets import classic_params, expand_preset, list_presets, load_preset
from marrowflow.segment.segmenter import SegmentationParams, segment_frame

from synthetic_cells import blobs_image

# sizes for the synthetic disks (radius 6-9 px), in px (pixel size 1)
PX_PARAMS = {"units": "px", "smooth_sigma_um": 1.0, "threshold_method": "otsu", "threshold_scale": 0.5,
             "seed_sigma_um": 1.0, "seed_h_um": 1.0, "min_seed_distance_um": 4.0, "seed_resolution_um": 1.0,
             "min_diameter_um": 4.0}


def test_touching_pairs_are_split():
    image, truth = blobs_image(shape=(160, 160), n=4, touching_pairs=3, seed=3)
    before = image.copy()
    labels = segment_classic(image, **PX_PARAMS)
    assert np.array_equal(image, before)
    assert labels.dtype == np.uint32 and labels.shape == image.shape
    assert labels.max() == truth.max() == 10
    assert np.array_equal(np.unique(labels), np.arange(11))
    assert match_f1(labels, truth)["f1"] == 1.0
    assert seg_score(labels, truth) > 0.75


def test_size_filter_is_honoured():
    image, truth = blobs_image(shape=(160, 160), n=8, radius=(5, 10), seed=1)
    diam = 2 * np.sqrt(np.bincount(truth.ravel())[1:] / np.pi)
    cut = float(np.median(diam))
    labels = segment_classic(image, **{**PX_PARAMS, "min_diameter_um": cut})
    kept = 2 * np.sqrt(np.bincount(labels.ravel())[1:] / np.pi)
    assert 0 < labels.max() < truth.max()
    assert kept.min() >= cut
    big = segment_classic(image, **{**PX_PARAMS, "max_diameter_um": cut})
    assert 0 < big.max() < truth.max()
    assert 2 * np.sqrt(np.bincount(big.ravel())[1:] / np.pi).max() <= cut


def test_3d_touching_balls():
    zz, yy, xx = np.indices((24, 48, 64))
    truth = np.zeros(zz.shape, np.uint32)
    for k, (z, y, x) in enumerate([(12, 24, 20), (12, 24, 34), (12, 24, 52)], 1):
        # anisotropic voxels: z step 2 µm, xy 1 µm; balls of radius 7 µm
        truth[((zz - z) * 2.0) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 <= 7.0 ** 2] = k
    rng = np.random.default_rng(0)
    image = ndi.gaussian_filter((truth > 0).astype(np.float32), 1) + rng.normal(0, 0.03, truth.shape)
    params = {**PX_PARAMS, "units": "um", "smooth_sigma_um": 0.5, "seed_h_um": 0.5, "min_diameter_um": 3.0}
    labels = segment_frame(image, {"backend": "classic", "classic": {"preset": None, **params}},
                           pixel_size_um=(2.0, 1.0, 1.0))
    assert labels.shape == image.shape and labels.dtype == np.uint32
    assert labels.max() == 3
    assert match_f1(labels, truth)["f1"] == 1.0


def test_um_and_px_parameters_agree():
    image, truth = blobs_image(shape=(160, 160), n=6, touching_pairs=1, seed=5)
    in_um = {**PX_PARAMS, "units": "auto"}
    in_um = {k: (v * 0.5 if k.endswith("_um") else v) for k, v in in_um.items()}
    a = segment_classic(image, pixel_size_um=0.5, **in_um)
    b = segment_classic(image, **PX_PARAMS)
    assert a.max() == truth.max() == 8
    assert np.array_equal(a, b)
    # without a pixel size, "auto" reads the (µm) numbers as pixels: other, smaller sizes
    c = segment_classic(image, pixel_size_um=None, **in_um)
    assert np.array_equal(c, segment_classic(image, **{**in_um, "units": "px"}))
    assert not np.array_equal(c, b)
    with pytest.raises(ConfigError, match="pixel size"):
        segment_classic(image, pixel_size_um=None, **{**in_um, "units": "um"})


def test_presets_load_and_explicit_keys_override():
    assert {"fluo_nuclei", "fluo_nuclei_widefield", "whole_cell"} <= set(list_presets())
    for name in list_presets():
        assert load_preset(name)
    merged = classic_params({"preset": "fluo_nuclei", "smooth_sigma_um": 9.0})
    assert merged["smooth_sigma_um"] == 9.0
    assert merged["threshold_method"] == load_preset("fluo_nuclei")["threshold_method"]
    with pytest.raises(ConfigError, match="no_such_preset"):
        classic_params({"preset": "no_such_preset"})
    with pytest.raises(ConfigError, match="unknown key"):
        segment_classic(np.zeros((8, 8)), smoothing=1)


def test_segment_frame_default_preset_and_empty_frame():
    image, truth = blobs_image(shape=(128, 128), n=6, seed=2)
    # disks 8-12 µm across, like nuclei
    labels = segment_frame(image, {"backend": "classic", "classic": {}}, pixel_size_um=0.65)
    assert labels.dtype == np.uint32 and labels.max() == truth.max()
    assert segment_frame(np.zeros((32, 32)), {"backend": "classic"}).max() == 0
    with pytest.raises(ConfigError, match="backend"):
        segment_frame(image, {"backend": "stardist"})


def test_cellpose_missing_weights_is_a_clear_error(tmp_path):
    missing = tmp_path / "models" / "mine" / "weights.pth"
    with pytest.raises(ConfigError, match="does not exist") as err:
        segment_frame(np.zeros((32, 32)), {"backend": "cellpose", "cellpose": {"model": str(missing)}})
    assert str(missing) in str(err.value)
    with pytest.raises(ConfigError, match="does not exist"):
        segment_frame(np.zeros((32, 32)), {"backend": "cellpose", "cellpose": {"model": "no_such_model"}})


def test_cellpose_gpu_requested_but_absent():
    import torch

    assert not torch.cuda.is_available()  # this test documents the CPU-only machine
    with pytest.raises(ConfigError, match="no GPU"):
        segment_frame(np.zeros((32, 32)), {"backend": "cellpose", "cellpose": {"model": "nuclei", "gpu": True}})


SIM = Path(__file__).resolve().parents[2] / "shared" / "data" / "ctc-Fluo-N2DH-SIM+"


def test_real_sim_frames_reach_seg_085():
    total = 0.0
    for t in (10, 40):
        image = tifffile.imread(SIM / "01" / f"t{t:03d}.tif")
        gt = tifffile.imread(SIM / "01_GT" / "SEG" / f"man_seg{t:03d}.tif")
        labels = segment_frame(image, {"backend": "classic", "classic": {"preset": "fluo_nuclei_widefield"}},
                               pixel_size_um=0.125)
        total += seg_score(labels, gt)
    assert total / 2 >= 0.85


def _disk(shape, cy, cx, r):
    yy, xx = np.indices(shape)
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_objects_cut_by_the_frame_edge_get_their_own_minimum_size():
    shape = (96, 96)
    truth = np.zeros(shape, np.uint32)
    truth[_disk(shape, 30, 40, 8)] = 1   # a whole nucleus
    truth[_disk(shape, 70, 60, 3)] = 2   # a small interior speck (6 px across)
    truth[_disk(shape, 40, -5, 8)] = 3   # a nucleus mostly outside the frame: a 3-px sliver on the edge
    image = ndi.gaussian_filter((truth > 0).astype(np.float32), 0.7)
    image += np.random.default_rng(1).normal(0, 0.02, shape).astype(np.float32)
    params = {**PX_PARAMS, "min_diameter_um": 8.0}
    whole_only = segment_classic(image, **params)
    assert set(np.unique(truth[whole_only > 0])) - {0} == {1}
    with_edge = segment_classic(image, **{**params, "min_diameter_border_um": 2.0})
    assert set(np.unique(truth[with_edge > 0])) - {0} == {1, 3}   # the speck inside still goes
    assert with_edge.max() == 2
    # outline smoothing continues an edge object beyond the frame instead of eroding it
    smoothed = segment_classic(image, **{**params, "min_diameter_border_um": 2.0, "outline_sigma_um": 4.0})
    assert (smoothed[truth == 3] > 0).mean() > 0.75   # 0.375 when the edge reflects the mask


def test_contrast_filter_drops_objects_near_the_noise_level():
    shape = (128, 128)
    truth = np.zeros(shape, np.uint32)
    for k, (cy, cx) in enumerate([(30, 30), (30, 90), (90, 30), (90, 90)], 1):
        truth[_disk(shape, cy, cx, 9)] = k
    rng = np.random.default_rng(2)
    brightness = np.array([0, 1.0, 1.0, 0.12, 0.12], np.float32)   # two bright, two dim objects
    image = ndi.gaussian_filter(brightness[truth], 1.0) + rng.normal(0, 0.03, shape).astype(np.float32)
    params = {**PX_PARAMS, "threshold_method": "noise", "threshold_scale": 3.0}
    assert segment_classic(image, **params).max() == 4
    # noise SD after smoothing (sigma 1 px) ~0.03 / 3.5: dim objects sit ~14 SDs up, bright ones ~115
    labels = segment_classic(image, **{**params, "min_contrast_snr": 40.0})
    assert set(np.unique(truth[labels > 0])) - {0} == {1, 2}
    assert segment_classic(image, **{**params, "min_contrast_snr": 5.0}).max() == 4


def test_expanded_preset_segments_identically_and_names_no_preset():
    image, _ = blobs_image(shape=(128, 128), n=6, seed=2)
    settings = {"backend": "classic", "classic": {"preset": "fluo_nuclei", "smooth_sigma_um": 0.8}}
    expanded = expand_preset(settings)
    assert expanded["classic"]["preset"] is None
    assert expanded["classic"]["smooth_sigma_um"] == 0.8
    assert expanded["classic"]["min_contrast_snr"] == load_preset("fluo_nuclei")["min_contrast_snr"]
    assert np.array_equal(segment_frame(image, expanded, pixel_size_um=0.65),
                          segment_frame(image, settings, pixel_size_um=0.65))
    cellpose = {"backend": "cellpose", "classic": {"preset": "fluo_nuclei"}, "cellpose": {"model": "cyto3"}}
    assert expand_preset(cellpose) == cellpose


def test_segmentation_params_expand_the_preset_once():
    """The rule builds the parameter object once; it segments like the mapping and equals the
    object built from the expanded preset (what the workflow passes)."""
    image, _ = blobs_image(shape=(128, 128), n=6, seed=2)
    settings = {"backend": "classic", "classic": {"preset": "fluo_nuclei", "smooth_sigma_um": 0.8}}
    params = SegmentationParams.from_config(settings)
    assert params == SegmentationParams.from_config(expand_preset(settings))
    assert params.classic == ClassicParams().replace(**{**load_preset("fluo_nuclei"), "smooth_sigma_um": 0.8})
    assert np.array_equal(segment_frame(image, params, pixel_size_um=0.65),
                          segment_frame(image, settings, pixel_size_um=0.65))
    assert SegmentationParams.from_config({"classic": {"preset": None}}).classic == ClassicParams()
    with pytest.raises(ConfigError, match="segmentation: unknown key"):
        SegmentationParams.from_config({"backnd": "classic"})
    with pytest.raises(ConfigError, match="threshold_method"):
        ClassicParams(threshold_method="kmeans")


def test_dim_slivers_on_the_frame_edge_get_a_lower_threshold():
    shape = (96, 96)
    truth = np.zeros(shape, np.uint32)
    truth[_disk(shape, 30, 40, 9)] = 1    # a whole nucleus
    truth[_disk(shape, 70, -4, 9)] = 2    # the dim rim of a nucleus mostly out of view
    truth[_disk(shape, 70, 60, 6)] = 3    # an equally dim object inside the frame
    truth[_disk(shape, 20, 90, 9)] = 4    # a bright nucleus cut by the edge
    brightness = np.array([0, 1.0, 0.2, 0.2, 1.0], np.float32)
    image = ndi.gaussian_filter(brightness[truth], 1.0)
    image += np.random.default_rng(3).normal(0, 0.02, shape).astype(np.float32)
    params = {**PX_PARAMS, "min_diameter_um": 4.0}
    plain = segment_classic(image, **params)
    assert set(np.unique(truth[plain > 0])) - {0} == {1, 4}
    edge = segment_classic(image, **{**params, "border_threshold_scale": 0.2})
    assert set(np.unique(truth[edge > 0])) - {0} == {1, 2, 4}
    assert (edge[truth == 2] > 0).mean() > 0.8
    # objects found at the normal threshold keep their outlines
    for k in (1, 4):
        assert np.array_equal(edge[truth == k] > 0, plain[truth == k] > 0)


def test_noise_threshold_keeps_an_outline_however_full_the_frame_is():
    # one dim blurred nucleus alone, then with 11 bright neighbours: Li's threshold follows what
    # fills the frame and the outline swings with it; the cut in noise SDs above the background
    # barely moves (the median and the noise SD drift a little as the objects cover more pixels)
    shape = (200, 200)
    centres = [(30 + 45 * (k // 4), 30 + 45 * (k % 4)) for k in range(12)]
    rng = np.random.default_rng(4)
    frames = []
    for n in (1, 12):
        truth = np.zeros(shape, np.uint32)
        for k, (cy, cx) in enumerate(centres[:n], 1):
            truth[_disk(shape, cy, cx, 8)] = k
        brightness = np.array([0, 0.3] + [1.0] * 11, np.float32)[: n + 1]
        image = ndi.gaussian_filter(brightness[truth], 1.5) + rng.normal(0, 0.03, shape).astype(np.float32)
        frames.append((image, truth))

    def area_of_first(params):
        areas = []
        for image, truth in frames:
            labels = segment_classic(image, **{**PX_PARAMS, **params})
            areas.append(int(np.sum(labels == labels[truth == 1].max())))
        return areas

    alone, crowded = area_of_first({"threshold_method": "noise", "threshold_scale": 8.0})
    assert abs(crowded - alone) <= 0.1 * alone   # measured: 260 -> 246 px (true disk: 197)
    alone_li, crowded_li = area_of_first({"threshold_method": "li", "threshold_scale": 0.7})
    assert abs(crowded_li - alone_li) > 0.5 * alone_li   # measured: 841 -> 191 px
