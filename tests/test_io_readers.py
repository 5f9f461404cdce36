"""Movie readers on small files the tests write, and lazily on real Cell Tracking Challenge data."""

import numpy as np
import pytest
import tifffile

from marrowflow.io import Movie, MovieMetadata, open_movie


def _movie(shape, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape, dtype=np.float32)
    return rng.integers(1, np.iinfo(dtype).max, shape, dtype=dtype)


def test_ome_tiff_metadata_and_frames(tmp_path):
    data = _movie((4, 2, 32, 40))  # TCYX
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "TCYX", "PhysicalSizeX": 650, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 650,
        "TimeIncrement": 15, "TimeIncrementUnit": "min", "Channel": {"Name": ["nuclei", "CD34"]}})
    with open_movie(path, pixel_size_um=9.0, time_step_h=9.0) as movie:
        meta = movie.metadata
        assert (meta.axes, meta.n_frames, meta.n_channels, meta.shape_zyx) == ("TCYX", 4, 2, (32, 40))
        assert meta.channel_names == ["nuclei", "CD34"]
        assert meta.pixel_size_um == pytest.approx(0.65)  # the file wins over the arguments
        assert meta.time_step_h == pytest.approx(0.25)
        assert meta.dtype == "uint16" and meta.ndim_spatial == 2
        np.testing.assert_array_equal(movie.read_frame(3), data[3])
        assert len(list(movie)) == 4


def test_imagej_hyperstack_3d(tmp_path):
    data = _movie((3, 5, 2, 16, 24), np.uint8)  # TZCYX
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.25, 1 / 0.25),
                     metadata={"axes": "TZCYX", "spacing": 2.0, "unit": "um", "finterval": 30,
                               "Labels": ["DAPI", "GFP"] * 15})
    movie = open_movie(path)
    meta = movie.metadata
    assert (meta.axes, meta.n_frames, meta.n_channels, meta.shape_zyx) == ("TCZYX", 3, 2, (5, 16, 24))
    assert meta.pixel_size_um == pytest.approx(0.25)
    assert meta.z_step_um == pytest.approx(2.0)
    assert meta.time_step_h == pytest.approx(30 / 3600)
    assert meta.channel_names == ["DAPI", "GFP"]
    frame = movie.read_frame(1)
    assert frame.shape == (2, 5, 16, 24)
    np.testing.assert_array_equal(frame, np.moveaxis(data[1], 1, 0))
    movie.close()


def test_plain_multipage_with_config_axes(tmp_path):
    data = _movie((3, 2, 16, 16), np.float32)  # T*C flat pages, no metadata
    path = tmp_path / "plain.tif"
    with tifffile.TiffWriter(path) as tw:
        for plane in data.reshape(-1, 16, 16):
            tw.write(plane, metadata=None)
    movie = open_movie(path, axes="TCYX", channel_names=["a", "b"], pixel_size_um=0.5, time_step_h=0.1)
    meta = movie.metadata
    assert (meta.n_frames, meta.n_channels, meta.dtype) == (3, 2, "float32")
    assert (meta.pixel_size_um, meta.time_step_h, meta.channel_names) == (0.5, 0.1, ["a", "b"])
    np.testing.assert_array_equal(movie.read_frame(2), data[2])


def test_plain_stack_zyx_order_and_no_t_axis(tmp_path):
    data = _movie((6, 8, 10), np.uint16)
    path = tmp_path / "volume.tif"
    tifffile.imwrite(path, data)
    movie = open_movie(path, axes="ZYX")
    assert movie.n_frames == 1 and movie.metadata.axes == "TCZYX"
    np.testing.assert_array_equal(movie.read_frame(0), data[np.newaxis])


def test_single_2d_image_is_one_frame(tmp_path):
    data = _movie((12, 14), np.uint8)
    tifffile.imwrite(tmp_path / "one.tif", data)
    movie = open_movie(tmp_path / "one.tif")
    assert (movie.n_frames, movie.metadata.shape_zyx) == (1, (12, 14))
    np.testing.assert_array_equal(movie.read_frame(0)[0], data)


def test_per_frame_folder_natural_sort_2d(tmp_path):
    frames = _movie((12, 10, 11), np.uint16)
    folder = tmp_path / "01"
    folder.mkdir()
    for t, frame in enumerate(frames):  # t0.tif .. t11.tif: natural, not lexical, order
        tifffile.imwrite(folder / f"t{t}.tif", frame, compression="lzw")
    movie = open_movie(folder, time_step_h=0.5)
    assert (movie.n_frames, movie.metadata.shape_zyx, movie.metadata.time_step_h) == (12, (10, 11), 0.5)
    for t in (2, 10, 11):
        np.testing.assert_array_equal(movie.read_frame(t)[0], frames[t])


def test_per_frame_folder_3d(tmp_path):
    frames = _movie((3, 4, 8, 9), np.uint8)
    for t, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"t{t:03d}.tif", frame)
    movie = open_movie(tmp_path, axes="TZYX")
    assert movie.metadata.axes == "TCZYX" and movie.metadata.shape_zyx == (4, 8, 9)
    np.testing.assert_array_equal(movie.read_frame(2), frames[2][np.newaxis])


def test_ome_3d_time_lapse_reads_only_one_frame(tmp_path, monkeypatch):
    data = _movie((5, 3, 2, 8, 8))  # TZCYX
    path = tmp_path / "m.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "TZCYX", "PhysicalSizeZ": 1.5})
    movie = open_movie(path)
    asked = []
    original = movie._source.tf.asarray
    monkeypatch.setattr(movie._source.tf, "asarray", lambda key, series: asked.append(key) or
                        original(key=key, series=series))
    frame = movie.read_frame(4)
    assert asked == [list(range(4 * 6, 5 * 6))]  # only frame 4's 3*2 pages
    np.testing.assert_array_equal(frame, np.moveaxis(data[4], 1, 0))
    assert movie.metadata.z_step_um == pytest.approx(1.5)


def test_metadata_round_trip():
    meta = MovieMetadata(path="a.tif", axes="TCZYX", n_frames=3, n_channels=2, shape_zyx=(4, 5, 6),
                         dtype="uint16", channel_names=["a", "b"], pixel_size_um=0.3, z_step_um=1.0,
                         time_step_h=0.25)
    assert MovieMetadata.from_dict(meta.to_dict()) == meta
    assert meta.ndim_spatial == 3 and meta.frame_shape == (2, 4, 5, 6)


def test_real_ctc_folder_lazily(shared_data):
    movie = open_movie(shared_data / "ctc-Fluo-N2DH-GOWT1" / "01")
    assert isinstance(movie, Movie)
    meta = movie.metadata
    assert (meta.n_frames, meta.shape_zyx, meta.dtype, meta.n_channels) == (92, (1024, 1024), "uint8", 1)
    first, last = movie.read_frame(0), movie.read_frame(91)
    assert first.shape == last.shape == (1, 1024, 1024)
    np.testing.assert_array_equal(last[0], tifffile.imread(shared_data / "ctc-Fluo-N2DH-GOWT1/01/t091.tif"))
    assert first.max() > 0


def test_ome_plane_delta_t_and_several_images_warns(tmp_path):
    path = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(_movie((3, 8, 8), np.uint8), metadata={
            "axes": "TYX", "Plane": {"DeltaT": [0, 90, 180], "DeltaTUnit": ["s"] * 3}})
        tw.write(_movie((2, 8, 8), np.uint8), metadata={"axes": "TYX"})
    with pytest.warns(UserWarning, match="holds 2 OME images"):
        movie = open_movie(path)
    assert movie.n_frames == 3 and movie.metadata.time_step_h == pytest.approx(90 / 3600)


@pytest.mark.parametrize("shape, axes, names", [((6, 8, 8), "TYX", None),
                                                ((3, 2, 8, 8), "CTYX", ["a", "b", "c"]),
                                                ((2, 4, 8, 8), "TZYX", ["n"])])
def test_reopen_with_file_axes_reads_the_same(tmp_path, shape, axes, names):
    data = _movie(shape, np.uint16)
    path = tmp_path / "plain.tif"
    with tifffile.TiffWriter(path) as tw:  # flat pages, no metadata
        for plane in data.reshape(-1, 8, 8):
            tw.write(plane, metadata=None)
    if axes == "TZYX":  # two unknown sizes: only a shaped file (shape in its description) works
        tifffile.imwrite(path, data)
    first = open_movie(path, axes=axes, channel_names=names)
    meta = first.metadata
    assert meta.file_axes == axes
    again = open_movie(meta.path, axes=meta.file_axes, channel_names=meta.channel_names)
    assert again.metadata == meta
    for t in range(meta.n_frames):
        np.testing.assert_array_equal(again.read_frame(t), first.read_frame(t))
    expected = np.moveaxis(data, axes.index("T"), 0) if "C" in axes else data[:, np.newaxis]
    np.testing.assert_array_equal(first.read_frame(1), expected[1])


def test_normalised_axes_accepted_for_single_channel_plain_stack(tmp_path):
    data = _movie((2, 3, 8, 8), np.uint8)
    tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")  # shaped, no axes
    movie = open_movie(tmp_path / "s.tif", axes="TCZYX", channel_names=["nuclei"])
    assert movie.metadata.shape_zyx == (3, 8, 8)
    np.testing.assert_array_equal(movie.read_frame(1), data[1][np.newaxis])


def test_reopen_movie_keeps_the_config_fallbacks(tmp_path):
    """A plain TIFF read with config axes and pixel size reopens exactly as ingest read it."""
    import tifffile

    from marrowflow.io import MovieMetadata, open_movie, reopen_movie

    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)  # C, T, Y, X on disk
    tifffile.imwrite(tmp_path / "plain.tif", data)
    with open_movie(tmp_path / "plain.tif", axes="CTYX", channel_names=["a", "b"], pixel_size_um=0.3,
                    time_step_h=0.25) as movie:
        meta = MovieMetadata.from_dict(movie.metadata.to_dict())
        first = movie.read_frame(1)
    with reopen_movie(meta) as again:
        assert (again.metadata.pixel_size_um, again.metadata.time_step_h) == (0.3, 0.25)
        assert np.array_equal(again.read_frame(1), first)
    assert np.array_equal(first, data[:, 1])
