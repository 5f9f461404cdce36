"""OME-Zarr labels in napari (Xvfb, Qt xcb): napari-ome-zarr opens the written label image as a
Labels layer, and the review plugin reads a results folder whose labels are OME-Zarr."""

import numpy as np
import pytest
import tifffile

from marrowflow.io import LabelStackWriter, open_labels
from marrowflow.io.ome_zarr import LABEL_NAME
from marrowflow_review._demo import make_demo_results
from marrowflow_review._reader import napari_get_reader
from marrowflow_review._session import ReviewSession

pytestmark = pytest.mark.napari


@pytest.fixture
def zarr_results(tmp_path):
    """Demo results (6 frames of 64 x 96, pixel 0.65 µm, 0.5 h) with the labels as labels.ome.zarr only."""
    results = make_demo_results(tmp_path / "project", "s1")
    tif = results / "labels.tif"
    with open_labels(tif) as stack, LabelStackWriter(results / "labels.ome.zarr", stack.n_frames, stack.shape_zyx,
                                                      scale=(0.5, 0.65, 0.65)) as writer:
        for t, frame in enumerate(stack):
            writer.write(t, frame)
    expected = tifffile.imread(tif)
    tif.unlink()
    return results, expected


def test_napari_ome_zarr_opens_the_written_labels(make_napari_viewer, zarr_results):
    results, expected = zarr_results
    before = sorted(p.relative_to(results.parent.parent) for p in results.parent.parent.rglob("*"))
    viewer = make_napari_viewer()
    layers = viewer.open(str(results / "labels.ome.zarr" / "labels" / LABEL_NAME), plugin="napari-ome-zarr")
    assert [layer._type_string for layer in layers] == ["labels"]
    layer = layers[0]
    assert layer.data.shape == expected.shape  # 64 x 96: one level (the pyramid starts at 128)
    np.testing.assert_array_equal(np.asarray(layer.data[2]), expected[2])
    assert list(layer.scale) == pytest.approx([0.5, 0.65, 0.65])
    after = sorted(p.relative_to(results.parent.parent) for p in results.parent.parent.rglob("*"))
    assert after == before  # opening wrote nothing (no zarr.json made in a parent folder)


def test_review_plugin_reads_ome_zarr_labels(make_napari_viewer, zarr_results):
    results, expected = zarr_results
    assert napari_get_reader(str(results / "labels.ome.zarr")) is None  # left to napari-ome-zarr
    session = ReviewSession(results)
    assert session.labels_path == results / "labels.ome.zarr"
    np.testing.assert_array_equal(session.labels[3], expected[3])
    viewer = make_napari_viewer()
    viewer.open(str(results), plugin="marrowflow")
    np.testing.assert_array_equal(np.asarray(viewer.layers["labels"].data[4]), expected[4])
