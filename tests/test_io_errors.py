"""Bad inputs give InputError naming the file, what was expected, what was found and the fix."""

import warnings

import numpy as np
import pytest
import tifffile

from marrowflow.errors import InputError
from marrowflow.io import EmptyFrameWarning, check_frame, open_movie


def _frames(folder, n=3, shape=(8, 8), numbers=None):
    folder.mkdir(parents=True, exist_ok=True)
    for t in numbers if numbers is not None else range(n):
        tifffile.imwrite(folder / f"t{t:03d}.tif", np.full(shape, t + 1, np.uint8))
    return folder


def _assert_actionable(err, path_fragment, *fragments):
    text = str(err.value)
    assert path_fragment in text and "expected" in text and "found" in text and "Fix:" in text, text
    for fragment in fragments:
        assert fragment in text, text


def test_missing_path(tmp_path):
    with pytest.raises(InputError) as err:
        open_movie(tmp_path / "nope.ome.tif")
    _assert_actionable(err, "nope.ome.tif", "nothing at this path")


def test_truncated_tiff(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.ones((4, 64, 64), np.uint16), metadata={"axes": "TYX"})
    path.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(InputError) as err:
        with open_movie(path) as movie:
            movie.read_frame(3)
    _assert_actionable(err, "cut.tif", "truncated")


def test_corrupt_tiff(tmp_path):
    path = tmp_path / "junk.tif"
    path.write_bytes(b"this is not a tiff at all" * 10)
    with pytest.raises(InputError) as err:
        open_movie(path)
    _assert_actionable(err, "junk.tif", "corrupt")


def test_non_image_file_in_frame_folder(tmp_path):
    folder = _frames(tmp_path / "01")
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as err:
        open_movie(folder)
    _assert_actionable(err, "01", "notes.txt")


def test_non_tiff_named_like_a_frame(tmp_path):
    folder = _frames(tmp_path / "01")
    (folder / "t003.tif").write_text("not an image")
    with pytest.raises(InputError) as err:
        open_movie(folder)
    _assert_actionable(err, "t003.tif")


def test_frames_of_different_shapes(tmp_path):
    folder = _frames(tmp_path / "01")
    tifffile.imwrite(folder / "t003.tif", np.ones((9, 8), np.uint8))
    with pytest.raises(InputError) as err:
        open_movie(folder)
    _assert_actionable(err, "t003.tif", "(8, 8)", "(9, 8)")


def test_missing_frame_numbers(tmp_path):
    folder = _frames(tmp_path / "01", numbers=[0, 1, 3])
    with pytest.raises(InputError) as err:
        open_movie(folder)
    _assert_actionable(err, "01", "missing: 2")


def test_missing_frame_numbers_real_subset(shared_data):
    with pytest.raises(InputError) as err:  # the MSC subset keeps only the 18 annotated frames
        open_movie(shared_data / "ctc-Fluo-C2DL-MSC-segsubset" / "01")
    _assert_actionable(err, "01", "consecutive frame numbers 5..47")


def test_plain_stack_without_axes(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.ones((5, 8, 8), np.uint8))
    with pytest.raises(InputError) as err:
        open_movie(path)
    _assert_actionable(err, "plain.tif", "image.axes", "(5, 8, 8)")


@pytest.mark.parametrize("axes, found", [("TCZYX", "5 dimensions"), ("TYXQ", "'TYXQ'"),
                                         ("TTYX", "'TTYX'"), ("YXT", "not the image planes")])
def test_axes_not_matching_data(tmp_path, axes, found):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.ones((6, 8, 8), np.uint8))
    with pytest.raises(InputError) as err:
        open_movie(path, axes=axes)
    _assert_actionable(err, "plain.tif", found)


def test_channel_count_differs_from_config(tmp_path):
    path = tmp_path / "two.ome.tif"
    tifffile.imwrite(path, np.ones((2, 2, 8, 8), np.uint8), ome=True, metadata={"axes": "TCYX"})
    with pytest.raises(InputError) as err:
        open_movie(path, channel_names=["nuclei", "CD34", "CD235a"])
    _assert_actionable(err, "two.ome.tif", "expected 3 channels", "found 2")


def test_vendor_format_without_bioio_names_the_extra(tmp_path):
    path = tmp_path / "scan.nd2"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(InputError) as err:
        open_movie(path)
    _assert_actionable(err, "scan.nd2", "marrowflow[vendor]", "bioio")


def test_unknown_file_type(tmp_path):
    path = tmp_path / "movie.avi"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(InputError) as err:
        open_movie(path)
    _assert_actionable(err, "movie.avi", "OME-TIFF")


def test_empty_frame_warns_and_reads(tmp_path):
    data = np.ones((3, 8, 8), np.uint16)
    data[1] = 0
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, data, metadata={"axes": "TYX"})
    with open_movie(path) as movie:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            movie.read_frame(0)
        with pytest.warns(EmptyFrameWarning, match="frame 1 is all zeros"):
            frame = movie.read_frame(1)
    assert frame.shape == (1, 8, 8) and not frame.any()


def test_check_frame_nan_raises():
    frame = np.ones((1, 4, 4), np.float32)
    frame[0, 1, 2] = np.nan
    with pytest.raises(InputError, match=r"m\.tif: frame 7: expected finite.*found 1 NaN"):
        check_frame(frame, "m.tif", 7)
    check_frame(np.ones((1, 4, 4), np.float32), "m.tif", 7)


def test_nan_in_float_movie(tmp_path):
    data = np.ones((2, 8, 8), np.float32)
    data[1, 0, 0] = np.nan
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, data, metadata={"axes": "TYX"})
    with open_movie(path) as movie:
        movie.read_frame(0)
        with pytest.raises(InputError, match="f.tif: frame 1"):
            movie.read_frame(1)


def test_non_ascii_and_space_paths(tmp_path):
    folder = _frames(tmp_path / "données brutes" / "échantillon 1")
    movie = open_movie(folder)
    assert movie.n_frames == 3 and movie.read_frame(2)[0, 0, 0] == 3
    path = tmp_path / "données brutes" / "film ß 1.ome.tif"
    tifffile.imwrite(path, np.ones((2, 8, 8), np.uint8), ome=True, metadata={"axes": "TYX"})
    assert open_movie(path).read_frame(1).shape == (1, 8, 8)


def test_missing_codec_names_imagecodecs(tmp_path, monkeypatch):
    path = tmp_path / "lzw.tif"
    tifffile.imwrite(path, np.ones((2, 8, 8), np.uint8), compression="lzw", metadata={"axes": "TYX"})

    def no_codec(*args, **kwargs):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    with open_movie(path) as movie:
        monkeypatch.setattr(movie._source.tf, "asarray", no_codec)
        with pytest.raises(InputError, match="lzw.tif: expected a TIFF codec.*pip install imagecodecs"):
            movie.read_frame(0)
