"""End to end: the tiny demo movie given as an OME-Zarr written by ome-zarr's own writer, with
`output.format: ome-zarr`, gives the same counts and tracks as the same movie given as OME-TIFF
(the shared `tiny_demo_project` run), and its labels (an NGFF label image) equal the TIFF labels."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr.writer import write_image

from marrowflow.io import MovieMetadata, open_movie, read_json
from marrowflow.io.ome_zarr import LABEL_NAME

from workflow_helpers import run_snakemake, write_project


@pytest.fixture(scope="module")
def zarr_project(tiny_demo_project, tmp_path_factory):
    """A project whose one sample `tiny` is the demo movie as OME-Zarr; run up to counts and tracks."""
    meta = MovieMetadata.from_dict(read_json(tiny_demo_project / "results" / "tiny" / "metadata.json"))
    with open_movie(tiny_demo_project / meta.path) as movie:
        data = np.stack(list(movie))  # (T, C, Y, X): tiny, fine in memory
    project = write_project(tmp_path_factory.mktemp("zarr_input"),
                            [{"sample": "tiny", "path": "images/tiny.ome.zarr", "condition": "control"}],
                            config_updates={"output": {"format": "ome-zarr"}})
    write_image(data, str(project / "images" / "tiny.ome.zarr"), axes="tcyx", scale_factors=(2,),
                scale={"t": meta.time_step_h, "c": 1.0, "y": meta.pixel_size_um, "x": meta.pixel_size_um},
                axes_units={"t": "hour", "y": "micrometer", "x": "micrometer"})
    result = run_snakemake(project, "results/tiny/counts.csv", "results/tiny/tracks.parquet")
    assert result.returncode == 0, result.stderr[-4000:]
    return project


def test_zarr_input_gives_the_results_of_the_ome_tiff(zarr_project, tiny_demo_project):
    zarr_meta = read_json(zarr_project / "results" / "tiny" / "metadata.json")
    tiff_meta = read_json(tiny_demo_project / "results" / "tiny" / "metadata.json")
    for key in ("axes", "n_frames", "n_channels", "shape_zyx", "channel_names", "pixel_size_um", "time_step_h"):
        assert zarr_meta[key] == pytest.approx(tiff_meta[key]), key
    for name in ("counts.csv", "tracks.parquet"):
        reader = pd.read_csv if name.endswith(".csv") else pd.read_parquet
        pd.testing.assert_frame_equal(reader(zarr_project / "results" / "tiny" / name),
                                      reader(tiny_demo_project / "results" / "tiny" / name))
    assert not (zarr_project / "results" / "tiny" / "labels.tif").exists()


def test_zarr_labels_equal_the_tiff_labels(zarr_project, tiny_demo_project):
    node = next(Reader(parse_url(str(zarr_project / "results" / "tiny" / "labels.ome.zarr" / "labels" /
                                     LABEL_NAME)))())
    tiff = tifffile.imread(tiny_demo_project / "results" / "tiny" / "labels.tif")
    np.testing.assert_array_equal(np.asarray(node.data[0]), tiff)
    meta = read_json(tiny_demo_project / "results" / "tiny" / "metadata.json")
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == pytest.approx([meta["time_step_h"], meta["pixel_size_um"], meta["pixel_size_um"]])
