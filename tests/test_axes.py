"""Axes of a movie: from the file's metadata or `image.axes`; a single 3D stack (ZYX, CZYX) is a
one-frame movie; a plain TIFF whose axes cannot be told, or `image.axes` contradicting the axes a
file states, is an InputError naming the file, the shape, the readings and the fix."""

import numpy as np
import pytest
import tifffile

from marrowflow.errors import InputError
from marrowflow.io import open_movie, reopen_movie


def _data(shape, seed=0):
    return np.random.default_rng(seed).integers(1, 60000, shape, dtype=np.uint16)


def _plain(path, data):
    """Flat pages with no metadata at all (no OME, ImageJ or tifffile shape/axes)."""
    with tifffile.TiffWriter(path) as tw:
        for plane in data.reshape(-1, *data.shape[-2:]):
            tw.write(plane, metadata=None, photometric="minisblack")
    return path


def _message(err) -> str:
    text = str(err.value)
    assert "expected" in text and "found" in text and "Fix:" in text, text
    return text


@pytest.mark.parametrize("shape, axes, names", [((6, 16, 20), "ZYX", None),
                                                ((2, 6, 16, 20), "CZYX", ["nuclei", "membrane"]),
                                                ((6, 2, 16, 20), "ZCYX", ["nuclei", "membrane"])])
def test_plain_stack_with_config_axes_is_a_one_frame_movie(tmp_path, shape, axes, names):
    data = _data(shape)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data)  # tifffile's shape in the description, no axes
    with open_movie(path, axes=axes, channel_names=names, pixel_size_um=0.5, z_step_um=2.0) as movie:
        meta = movie.metadata
        assert (meta.n_frames, meta.axes, meta.shape_zyx) == (1, "TCZYX", (6, 16, 20))
        assert (meta.n_channels, meta.z_step_um, meta.file_axes) == (len(names or [0]), 2.0, axes)
        frame = movie.read_frame(0)
    expected = data[np.newaxis] if "C" not in axes else np.moveaxis(data, axes.index("C"), 0)
    np.testing.assert_array_equal(frame, expected)
    with reopen_movie(meta) as again:
        np.testing.assert_array_equal(again.read_frame(0), frame)


@pytest.mark.parametrize("kind", ["ome", "imagej"])
@pytest.mark.parametrize("axes, shape", [("ZYX", (5, 12, 14)), ("CZYX", (2, 5, 12, 14))])
def test_stack_with_axes_in_its_metadata_is_a_one_frame_movie(tmp_path, kind, axes, shape):
    data = _data(shape)
    path = tmp_path / f"stack.{kind}.tif"
    if kind == "ome":
        tifffile.imwrite(path, data, ome=True, metadata={"axes": axes, "PhysicalSizeZ": 3.0})
    else:  # ImageJ stores CZYX as ZCYX
        stored = np.moveaxis(data, 0, 1) if axes == "CZYX" else data
        tifffile.imwrite(path, stored, imagej=True, metadata={"axes": axes.replace("CZ", "ZC"), "spacing": 3.0,
                                                               "unit": "um"})
    with open_movie(path) as movie:
        meta = movie.metadata
        assert (meta.n_frames, meta.shape_zyx, meta.z_step_um) == (1, (5, 12, 14), 3.0)
        np.testing.assert_array_equal(movie.read_frame(0), data if axes == "CZYX" else data[np.newaxis])
    with open_movie(path, axes="T" + axes) as movie:  # agrees: T (absent from the file) is one frame
        assert movie.metadata.n_frames == 1


@pytest.mark.parametrize("shape, readings, not_readings", [
    ((7, 16, 16), ["TYX (a movie of 7 frames)", "ZYX (one frame of 7 z-planes)", "CYX (one frame of 7 channels)"],
     []),
    ((3, 4, 16, 16), ["TCYX (a movie of 3 frames x 4 channels)", "TZYX (a movie of 3 frames x 4 z-planes)",
                      "CZYX (one frame of 3 channels x 4 z-planes)", "ZCYX"], ["CTYX"]),
    ((2, 3, 4, 16, 16), ["TCZYX (a movie of 2 frames x 3 channels x 4 z-planes)", "TZCYX"], ["CZTYX"]),
])
def test_plain_tiff_without_axes_names_the_readings(tmp_path, shape, readings, not_readings):
    path = tmp_path / "nometa.tif"
    tifffile.imwrite(path, _data(shape))  # tifffile's shape in the description, no axes
    with pytest.raises(InputError) as err:
        open_movie(path)
    text = _message(err)
    assert str(path) in text and f"shape {shape}" in text
    assert "set image.axes in config.yaml" in text and "one-frame movie" in text
    for reading in readings:
        assert reading in text, text
    for reading in not_readings:
        assert reading not in text, text


def test_flat_pages_without_axes(tmp_path):
    """A multi-page TIFF without any metadata: its pages may also hold several axes."""
    path = _plain(tmp_path / "flat.tif", _data((3, 2, 16, 16)))
    with pytest.raises(InputError) as err:
        open_movie(path)
    text = _message(err)
    assert "shape (6, 16, 16)" in text and "TYX (a movie of 6 frames)" in text
    assert "several of these axes one after another" in text
    with open_movie(path, axes="TCYX", channel_names=["a", "b"]) as movie:
        assert (movie.n_frames, movie.metadata.n_channels) == (3, 2)


def test_plain_tiff_unambiguous_cases_still_open(tmp_path):
    """A 2D image needs no axes; a plain stack opens with the axes the config gives."""
    with open_movie(_plain(tmp_path / "one.tif", _data((16, 16)))) as movie:
        assert (movie.n_frames, movie.metadata.shape_zyx) == (1, (16, 16))
    data = _data((4, 16, 16))
    for axes, n_frames, zyx in (("TYX", 4, (16, 16)), ("ZYX", 1, (4, 16, 16))):
        with open_movie(_plain(tmp_path / f"{axes}.tif", data), axes=axes) as movie:
            assert (movie.n_frames, movie.metadata.shape_zyx) == (n_frames, zyx)


def test_folder_of_plain_3d_frames_without_axes(tmp_path):
    """Each file of a folder is one frame, so only Z or C can be the third axis."""
    for t in range(2):
        _plain(tmp_path / f"t{t:03d}.tif", _data((5, 16, 16), seed=t))
    with pytest.raises(InputError) as err:
        open_movie(tmp_path)
    text = _message(err)
    assert "t000.tif" in text and "shape (5, 16, 16)" in text and "one frame of the folder" in text
    assert "ZYX (one frame of 5 z-planes)" in text and "CYX (one frame of 5 channels)" in text
    assert "TYX" not in text
    for axes in ("ZYX", "TZYX"):
        with open_movie(tmp_path, axes=axes) as movie:
            assert (movie.n_frames, movie.metadata.shape_zyx) == (2, (5, 16, 16))


@pytest.mark.parametrize("stated, given, missing", [("ZYX", "TYX", "Z"), ("TYX", "ZYX", "T"),
                                                    ("CZYX", "TZYX", "C"), ("TZYX", "ZYX", "T")])
def test_config_axes_contradicting_the_file(tmp_path, stated, given, missing):
    path = tmp_path / "stated.ome.tif"
    shape = (3, 4, 16, 16)[-len(stated):]
    tifffile.imwrite(path, _data(shape), ome=True, metadata={"axes": stated})
    with pytest.raises(InputError) as err:
        open_movie(path, axes=given)
    text = _message(err)
    assert str(path) in text and f"{stated!r}" in text and f"{given!r}" in text and str(shape) in text
    assert f"its {missing} axis is missing from image.axes" in text
    assert "remove image.axes from config.yaml" in text


def test_config_axes_agreeing_in_another_order_or_with_singletons(tmp_path):
    """The file's own order wins; a singleton axis of the file need not be in image.axes."""
    data = _data((2, 3, 2, 8, 8))  # TZCYX, ImageJ's order
    tifffile.imwrite(tmp_path / "hyper.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    with open_movie(tmp_path / "hyper.tif", axes="TCZYX") as movie:
        np.testing.assert_array_equal(movie.read_frame(1), np.moveaxis(data[1], 1, 0))
    tifffile.imwrite(tmp_path / "one_c.ome.tif", _data((3, 1, 8, 8)), ome=True, metadata={"axes": "TCYX"})
    with open_movie(tmp_path / "one_c.ome.tif", axes="TYX") as movie:
        assert (movie.n_frames, movie.metadata.n_channels) == (3, 1)


def test_folder_frames_stating_other_axes(tmp_path):
    for t in range(2):
        tifffile.imwrite(tmp_path / f"t{t:03d}.tif", _data((4, 8, 8), seed=t), imagej=True,
                         metadata={"axes": "ZYX"})
    with open_movie(tmp_path, axes="TZYX") as movie:
        assert (movie.n_frames, movie.metadata.shape_zyx) == (2, (4, 8, 8))
    with pytest.raises(InputError) as err:
        open_movie(tmp_path, axes="TCYX")
    assert "t000.tif" in _message(err) and "its Z axis is missing" in str(err.value)


def test_ome_zarr_axes_contradicting_the_config(tmp_path):
    from ome_zarr.writer import write_image

    path = tmp_path / "stack.ome.zarr"
    write_image(_data((5, 16, 16)), str(path), axes="zyx", scale_factors=())
    with open_movie(path, axes="ZYX") as movie:
        assert (movie.n_frames, movie.metadata.shape_zyx) == (1, (5, 16, 16))
    with pytest.raises(InputError) as err:
        open_movie(path, axes="TYX")
    assert "stack.ome.zarr" in _message(err) and "its Z axis is missing" in str(err.value)
