"""Streaming label stacks, chunked segmentation gathered == unsplit, CTC masks, tables and JSON."""

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from skimage.filters import gaussian
from skimage.measure import label

from marrowflow.errors import InputError
from marrowflow.io import (
    LabelStackWriter,
    frame_chunks,
    gather_label_chunks,
    open_labels,
    open_movie,
    read_json,
    read_label_frame,
    read_table,
    table_format,
    write_ctc_masks,
    write_json,
    write_table,
)


def _segment(frame):
    image = gaussian(frame[0].astype(np.float32), sigma=1.0)
    return label(image > image.mean()).astype(np.uint32)


def _blob_movie(path, n_frames=7, shape=(48, 56), seed=3):
    rng = np.random.default_rng(seed)
    data = (rng.random((n_frames, *shape)) > 0.93).astype(np.uint16) * 1000
    tifffile.imwrite(path, data, metadata={"axes": "TYX"}, photometric="minisblack")
    return path


def _segment_range(movie_path, out_path, start, stop):
    with open_movie(movie_path) as movie, \
            LabelStackWriter(out_path, stop - start, movie.metadata.shape_zyx) as writer:
        for t in range(start, stop):
            writer.write(t - start, _segment(movie.read_frame(t)))


def test_label_stack_round_trip_2d_and_3d(tmp_path):
    rng = np.random.default_rng(0)
    for shape in ((20, 30), (3, 20, 30)):
        stack = rng.integers(0, 70000, (4, *shape)).astype(np.int64)
        path = tmp_path / f"labels{len(shape)}.tif"
        with LabelStackWriter(path, 4, shape) as writer:
            for t, frame in enumerate(stack):
                writer.write(t, frame)
        with tifffile.TiffFile(path) as tf:
            assert tf.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
            assert tf.series[0].shape == (4, *shape) and tf.series[0].dtype == np.uint32
            assert tf.series[0].axes == ("TZYX" if len(shape) == 3 else "TYX")
        labels = open_labels(path)
        assert labels.n_frames == len(labels) == 4 and labels.shape_zyx == shape
        np.testing.assert_array_equal(labels.read_frame(2), stack[2])
        assert labels.read_frame(2).dtype == np.uint32
        np.testing.assert_array_equal(np.stack(list(labels)), stack)
        labels.close()
        np.testing.assert_array_equal(read_label_frame(path, 3), stack[3])


def test_label_writer_errors_leave_no_file(tmp_path):
    path = tmp_path / "labels.tif"
    with pytest.raises(ValueError, match="only 1 of 3 frames"):
        with LabelStackWriter(path, 3, (8, 8)) as writer:
            writer.write(0, np.zeros((8, 8), np.uint32))
    with pytest.raises(ValueError, match="expected frame 1, got 2"):
        with LabelStackWriter(path, 3, (8, 8)) as writer:
            writer.write(0, np.zeros((8, 8), np.uint32))
            writer.write(2, np.zeros((8, 8), np.uint32))
    with pytest.raises(ValueError, match="shape"):
        with LabelStackWriter(path, 1, (8, 8)) as writer:
            writer.write(0, np.zeros((8, 9), np.uint32))
    with pytest.raises(ValueError, match="outside"):
        with LabelStackWriter(path, 1, (8, 8)) as writer:
            writer.write(0, -np.ones((8, 8), np.int32))
    assert list(tmp_path.iterdir()) == []


def test_label_writer_does_not_modify_input(tmp_path):
    frame = np.arange(64, dtype=np.int64).reshape(8, 8)
    before = frame.copy()
    with LabelStackWriter(tmp_path / "l.tif", 1, (8, 8)) as writer:
        writer.write(0, frame)
    np.testing.assert_array_equal(frame, before)


def test_open_labels_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_labels(tmp_path / "labels.tif")


def test_frame_chunks():
    assert frame_chunks(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert frame_chunks(6, 3) == [(0, 3), (3, 6)]
    assert frame_chunks(2, 10) == [(0, 2)]
    with pytest.raises(ValueError):
        frame_chunks(0, 3)


def test_chunked_segmentation_equals_unsplit(tmp_path):
    movie = _blob_movie(tmp_path / "movie.tif")
    _segment_range(movie, tmp_path / "unsplit.tif", 0, 7)
    chunks = []
    for i, (start, stop) in enumerate(frame_chunks(7, 4)):
        chunks.append(tmp_path / f"chunk{i}.tif")
        _segment_range(movie, chunks[-1], start, stop)
    assert len(chunks) == 2
    assert gather_label_chunks(chunks, tmp_path / "gathered.tif") == 7
    whole, gathered = open_labels(tmp_path / "unsplit.tif"), open_labels(tmp_path / "gathered.tif")
    assert gathered.n_frames == 7
    for t in range(7):
        a, b = whole.read_frame(t), gathered.read_frame(t)
        assert a.max() > 0 and a.tobytes() == b.tobytes()
    assert (tmp_path / "unsplit.tif").read_bytes() == (tmp_path / "gathered.tif").read_bytes()


def test_gather_rejects_mismatched_chunks(tmp_path):
    for name, shape in (("a.tif", (8, 8)), ("b.tif", (8, 9))):
        with LabelStackWriter(tmp_path / name, 1, shape) as writer:
            writer.write(0, np.ones(shape, np.uint32))
    with pytest.raises(InputError, match="b.tif: expected frames of shape"):
        gather_label_chunks([tmp_path / "a.tif", tmp_path / "b.tif"], tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()


def test_write_ctc_masks(tmp_path):
    mask = np.zeros((10, 12), np.uint32)
    mask[2:5, 3:6] = 7
    path = write_ctc_masks(tmp_path / "ctc", 4, mask)
    assert path == tmp_path / "ctc" / "mask004.tif"
    back = tifffile.imread(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, mask)
    assert write_ctc_masks(tmp_path / "ctc", 1234, mask).name == "mask1234.tif"
    with pytest.raises(ValueError, match="uint16"):
        write_ctc_masks(tmp_path / "ctc", 0, np.full((2, 2), 70000))


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".tsv"])
def test_table_round_trip_and_determinism(tmp_path, suffix):
    df = pd.DataFrame({"sample": ["a", "b"], "frame": [0, 1], "area_um2": [1.5, np.nan]})
    write_table(df, tmp_path / f"t1{suffix}")
    write_table(df, tmp_path / f"t2{suffix}")
    assert (tmp_path / f"t1{suffix}").read_bytes() == (tmp_path / f"t2{suffix}").read_bytes()
    pd.testing.assert_frame_equal(read_table(tmp_path / f"t1{suffix}"), df)


def test_table_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_text("nope")
    with pytest.raises(InputError, match="bad.parquet: expected a readable parquet"):
        read_table(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="xlsx"):
        write_table(pd.DataFrame(), tmp_path / "t.xlsx")
    with pytest.raises(InputError, match="Fix: give a cell table"):
        read_table(tmp_path / "missing.csv", fix="give a cell table")


def test_table_suffix_decides_the_format(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_table(df, tmp_path / "t.pq")
    write_table(df, tmp_path / "t.TSV")
    assert table_format(tmp_path / "t.pq") == "parquet" and pd.read_parquet(tmp_path / "t.pq").equals(df)
    assert (tmp_path / "t.TSV").read_text() == "a\tb\n1\tx\n2\ty\n"
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.TSV"), df)


def test_json_sorted_indented_numpy_and_nan(tmp_path):
    obj = {"b": np.int64(2), "a": [np.float32(0.5), float("nan")], "c": {"z": 1, "y": None}}
    write_json(obj, tmp_path / "x.json")
    text = (tmp_path / "x.json").read_text()
    assert text == json.dumps({"a": [0.5, None], "b": 2, "c": {"y": None, "z": 1}},
                              sort_keys=True, indent=2) + "\n"
    assert read_json(tmp_path / "x.json") == {"a": [0.5, None], "b": 2, "c": {"y": None, "z": 1}}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="bad.json: expected valid JSON"):
        read_json(tmp_path / "bad.json")


def test_writers_on_non_ascii_space_paths(tmp_path):
    folder = tmp_path / "résultats échantillon 1"
    with LabelStackWriter(folder / "labels ß.tif", 1, (4, 4)) as writer:
        writer.write(0, np.eye(4, dtype=np.uint32))
    np.testing.assert_array_equal(read_label_frame(folder / "labels ß.tif", 0), np.eye(4))
    write_table(pd.DataFrame({"a": [1]}), folder / "cells ü.parquet")
    assert read_table(folder / "cells ü.parquet")["a"].tolist() == [1]


def test_open_labels_written_by_other_tools(tmp_path):
    stack = np.arange(3 * 6 * 7, dtype=np.uint8).reshape(3, 6, 7)
    tifffile.imwrite(tmp_path / "rgb_like.tif", stack)  # tifffile stores 3 planes as one RGB page
    tifffile.imwrite(tmp_path / "pages.tif", stack.astype(np.uint16), photometric="minisblack")
    tifffile.imwrite(tmp_path / "one.tif", stack[0].astype(np.int32))
    for name, n_frames in (("rgb_like.tif", 3), ("pages.tif", 3), ("one.tif", 1)):
        with open_labels(tmp_path / name) as labels:
            assert labels.n_frames == n_frames and labels.shape_zyx == (6, 7)
            frame = labels.read_frame(n_frames - 1)
            assert frame.dtype == np.uint32
            np.testing.assert_array_equal(frame, stack[n_frames - 1])
