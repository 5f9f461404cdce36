"""Retraining: review folders -> (images, masks); a tiny cellpose model trained in the session
loads through the cellpose backend and segments."""

import json

import numpy as np
import pytest
import tifffile

from marrowflow.errors import ConfigError, InputError
from marrowflow.segment.segmenter import segment_frame
from marrowflow.segment.train import (
    WEIGHTS_NAME,
    SegmentationTrainingParams,
    collect_reviewed_frames,
    low_contrast_copies,
    read_reviewed_frames,
    train_cellpose,
)

from synthetic_cells import blobs_image


class FakeMovie:
    """Movie-like: read_frame(t) -> (C, Y, X); channel 1 holds the nuclei."""

    def __init__(self, frames):
        self.frames = frames

    def read_frame(self, t):
        image = self.frames[t]
        return np.stack([np.zeros_like(image), image])


def _review(tmp_path, name, n_frames=4, reviewed=(0, 2)):
    pairs = [blobs_image(shape=(48, 48), n=3, radius=(4, 6), seed=10 * len(name) + t) for t in range(n_frames)]
    folder = tmp_path / "reviews" / name
    folder.mkdir(parents=True)
    tifffile.imwrite(folder / "labels.tif", np.stack([m for _, m in pairs]).astype(np.uint32))
    (folder / "reviewed_frames.txt").write_text("# reviewed\n" + "\n".join(map(str, reviewed)) + "\n\n")
    return folder, FakeMovie([i for i, _ in pairs]), pairs


def test_collect_reviewed_frames(tmp_path):
    a, movie_a, pairs_a = _review(tmp_path, "s1", reviewed=(2, 0))
    b, movie_b, pairs_b = _review(tmp_path, "sample2", reviewed=(3,))
    images, masks = collect_reviewed_frames([a, b], [movie_a, movie_b], channel=1)
    assert len(images) == len(masks) == 3
    for got, (image, mask) in zip(zip(images, masks), [pairs_a[0], pairs_a[2], pairs_b[3]]):
        assert np.array_equal(got[0], image) and np.array_equal(got[1], mask)
        assert got[0].dtype == np.float32 and got[1].dtype == np.uint32


def test_collect_reviewed_frames_errors(tmp_path):
    a, movie, _ = _review(tmp_path, "s1", reviewed=(1, 9))
    with pytest.raises(InputError, match="beyond the 4 frames"):
        collect_reviewed_frames([a], [movie])
    (a / "reviewed_frames.txt").write_text("1\nlast\n")
    with pytest.raises(InputError, match="line 2"):
        read_reviewed_frames(a / "reviewed_frames.txt")
    (a / "labels.tif").unlink()
    with pytest.raises(InputError, match="labels.tif is missing"):
        collect_reviewed_frames([a], [movie])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A cellpose network trained for a few steps on synthetic nuclei (seconds, not a good model)."""
    data = [blobs_image(shape=(64, 64), n=4, radius=(4, 6), seed=s) for s in range(4)]
    out = tmp_path_factory.mktemp("models") / "tiny"
    params = SegmentationTrainingParams(epochs=2, bsize=32, diam_mean=10.0, batch_size=4, nimg_per_epoch=4)
    weights = train_cellpose([d[0] for d in data], [d[1] for d in data], params, out_dir=out)
    return weights, data


def test_train_cellpose_writes_weights_and_provenance(tiny_model):
    weights, data = tiny_model
    assert weights.name == WEIGHTS_NAME and weights.is_file() and weights.stat().st_size > 1e6
    info = json.loads((weights.parent / "training.json").read_text())
    assert info["seed"] == 0 and info["settings"]["epochs"] == 2
    assert info["data"]["n_images"] == 4 and info["data"]["n_objects"] == sum(int(m.max()) for _, m in data)
    assert len(info["data"]["images_sha256"]) == 64
    assert {"cellpose", "torch", "numpy"} <= set(info["versions"])
    assert len(info["losses"]["train"]) == 2


def test_trained_weights_load_and_segment(tiny_model):
    weights, _ = tiny_model
    image, _ = blobs_image(shape=(64, 64), n=4, radius=(4, 6), seed=99)
    params = {"backend": "cellpose", "cellpose": {"model": str(weights), "gpu": False, "cellprob_threshold": -6.0}}
    labels = segment_frame(image, params)
    assert labels.shape == image.shape and labels.dtype == np.uint32
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
    stack = np.stack([image, image])
    with pytest.raises(Exception, match="3D"):
        segment_frame(stack, params)


def test_cellpose_settings_reach_the_network(tiny_model):
    """Config keys such as niter (steps along the flows; long cells need more) reach cellpose."""
    from marrowflow.segment.cellpose import CellposeSegmenter

    weights, _ = tiny_model
    image, _ = blobs_image(shape=(64, 64), n=4, radius=(4, 6), seed=7)
    seg = CellposeSegmenter({"model": str(weights), "gpu": False, "niter": 2000, "cellprob_threshold": -6.0})
    seen = []
    real_eval = seg.model.eval
    seg.model.eval = lambda *a, **kw: seen.append(kw) or real_eval(*a, **kw)
    labels = seg.segment(image)
    assert labels.shape == image.shape
    assert seen[0]["niter"] == 2000 and seen[0]["cellprob_threshold"] == -6.0
    assert CellposeSegmenter({"model": str(weights), "gpu": False}).params.niter is None


def test_unconverged_pieces_become_objects():
    """Pixels above the probability cut that joined no mask: big pieces become new cells (2D and
    3D), small pieces and pixels below the cut stay background, existing masks are untouched."""
    from marrowflow.segment.cellpose import add_unconverged_objects

    masks = np.zeros((40, 60), np.uint32)
    masks[5:15, 5:15] = 1
    cellprob = np.full(masks.shape, -5.0, np.float32)
    cellprob[3:17, 3:17] = 2.0      # a rim around mask 1: one piece of 96 px
    cellprob[25:28, 10:50] = 1.0    # a long, thin cell cellpose dropped: 120 px
    cellprob[32:35, 52:55] = 1.0    # a 9 px speck
    cellprob[30:38, 20:30] = -1.0   # below the cut
    out = add_unconverged_objects(masks, cellprob, -0.5, 100)
    assert np.array_equal(out[masks > 0], masks[masks > 0])
    assert out.max() == 2 and (out == 2).sum() == 120 and out[26, 30] == 2
    assert out[33, 53] == 0 and out[34, 25] == 0 and out[4, 4] == 0
    assert add_unconverged_objects(masks, cellprob, -0.5, 90).max() == 3  # the rim too
    assert np.array_equal(add_unconverged_objects(masks, cellprob, 5.0, 1), masks)
    volume = np.zeros((3, 20, 20), np.uint32)
    prob3d = np.full(volume.shape, -5.0, np.float32)
    prob3d[:, 5:10, 5:10] = 1.0
    assert (add_unconverged_objects(volume, prob3d, 0.0, 75) == 1).sum() == 75
    with pytest.raises(ValueError, match="shape"):
        add_unconverged_objects(masks, cellprob[:10], 0.0, 10)


def test_cellpose_backend_keeps_unconverged_pieces_when_asked(tiny_model):
    """`unconverged_min_size_px` adds the pieces from the network's own cell probability."""
    from marrowflow.segment.cellpose import CellposeSegmenter

    weights, _ = tiny_model
    image = np.zeros((48, 48), np.float32)
    masks = np.zeros(image.shape, np.int32)
    masks[5:15, 5:15] = 1
    cellprob = np.full(image.shape, -5.0, np.float32)
    cellprob[30:33, 5:45] = 3.0
    fake_eval = lambda *a, **kw: (masks, [None, None, cellprob, None], None)  # noqa: E731
    for size, n in ((None, 1), (100, 2), (200, 1)):
        seg = CellposeSegmenter({"model": str(weights), "gpu": False, "unconverged_min_size_px": size})
        seg.model.eval = fake_eval
        labels = seg.segment(image)
        assert labels.max() == n and labels.dtype == np.uint32


def test_low_contrast_copies_dim_the_cells_and_keep_the_noise():
    rng = np.random.default_rng(1)
    mask = np.zeros((80, 80), np.uint32)
    mask[20:40, 20:40], mask[50:70, 45:75] = 1, 2
    image = (100 + rng.normal(0, 5, mask.shape) + 400 * (mask > 0)).astype(np.float32)
    images, masks = low_contrast_copies([image], [mask], 3, seed=0)
    assert len(images) == len(masks) == 4 and np.array_equal(images[0], image)
    assert all(m is masks[0] for m in masks[1:])
    for dim in images[1:]:
        contrast = np.median(dim[mask > 0]) - np.median(dim[mask == 0])
        assert 0.25 * 400 - 10 < contrast < 0.6 * 400 + 10
        assert 4 < np.std(dim[mask == 0]) < 6  # background noise level kept
        assert dim.dtype == np.float32 and dim.min() >= 0
    again, _ = low_contrast_copies([image], [mask], 3, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(images, again))
    assert len(low_contrast_copies([image], [mask], 0)[0]) == 1
    with pytest.raises(ConfigError, match="contrast_copies"):
        low_contrast_copies([image], [mask], -1)


def _balls_stack():
    """A small (Z, Y, X) stack of 2 balls whose z step is twice the pixel size (do_3D runs the
    network on every YX, ZY and ZX plane: kept small for the CPU); each plane looks like
    `blobs_image` (the tiny model's training images)."""
    from scipy import ndimage as ndi

    zz, yy, xx = np.indices((4, 28, 24))
    truth = np.zeros(zz.shape, np.uint32)
    for k, (z, y, x) in enumerate([(2, 8, 8), (1, 19, 15)], 1):
        truth[((zz - z) * 2.0) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 <= 5.0 ** 2] = k
    bright = np.array([0.1, 0.9, 0.7], np.float32)
    image = ndi.gaussian_filter(bright[truth], (0, 1, 1)) + np.random.default_rng(3).normal(0, 0.04, truth.shape)
    return image.astype(np.float32)


def _segment_capturing_eval(weights, settings, pixel_size_um=(1.0, 0.5, 0.5)):
    """(labels, eval kwargs) of the real cellpose model loaded from `weights` on `_balls_stack()`."""
    from marrowflow.segment.cellpose import CellposeSegmenter

    seg = CellposeSegmenter({"model": str(weights), "gpu": False, **settings}, pixel_size_um=pixel_size_um)
    seen = []
    real_eval = seg.model.eval
    seg.model.eval = lambda *a, **kw: seen.append(kw) or real_eval(*a, **kw)
    image = _balls_stack()
    labels = seg.segment(image)
    assert labels.shape == image.shape and labels.dtype == np.uint32  # (Z, Y, X), whatever the resampling
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
    assert len(seen) == 1
    return labels, seen[0], seg


def test_cellpose_do_3D_segments_a_stack_with_the_anisotropy_of_the_voxels(tiny_model):
    """do_3D: the real (tiny) network on a (Z, Y, X) stack; anisotropy = z step / pixel size."""
    _, kw, seg = _segment_capturing_eval(tiny_model[0], {"do_3D": True})
    assert (kw["do_3D"], kw["z_axis"], kw["anisotropy"], kw["stitch_threshold"]) == (True, 0, 2.0, 0.0)
    assert seg.eval_kwargs(2)["do_3D"] is False and seg.eval_kwargs(2)["z_axis"] is None  # 2D frames stay 2D


def test_cellpose_stitch_threshold_segments_planes_and_joins_them(tiny_model):
    _, kw, _ = _segment_capturing_eval(tiny_model[0], {"stitch_threshold": 0.2})
    assert (kw["do_3D"], kw["z_axis"], kw["stitch_threshold"], kw["anisotropy"]) == (False, 0, 0.2, None)


def test_cellpose_3d_settings(tiny_model, caplog):
    """The config's anisotropy wins; unknown voxel size warns; do_3D with stitching, or a 3D frame
    with neither, is a ConfigError naming the keys."""
    from marrowflow.segment.cellpose import CellposeParams, CellposeSegmenter

    weights, _ = tiny_model
    given = CellposeSegmenter({"model": str(weights), "gpu": False, "do_3D": True, "anisotropy": 3.0},
                              pixel_size_um=(1.0, 0.5, 0.5))
    assert given.eval_kwargs(3)["anisotropy"] == 3.0
    unknown = CellposeSegmenter({"model": str(weights), "gpu": False, "do_3D": True}, pixel_size_um=0.5)
    with caplog.at_level("WARNING", logger="marrowflow.segment.cellpose"):
        assert unknown.eval_kwargs(3)["anisotropy"] is None
    assert "z step or pixel size is unknown" in caplog.text
    with pytest.raises(ConfigError, match="do_3D is true and stitch_threshold is 0.5"):
        CellposeParams.from_config({"do_3D": True, "stitch_threshold": 0.5})
    with pytest.raises(ConfigError, match="do_3D: true .* stitch_threshold: 0.5"):
        CellposeSegmenter({"model": str(weights), "gpu": False}).eval_kwargs(3)
