"""Frames in parallel (marrowflow.parallel, the rules' `threads:`): 1 and 2 threads give the same
bytes for labels, measurements and evaluation; the pool keeps frame order and names the failing
frame and file."""

import shutil
import threading
import time

import pytest

from marrowflow.evaluate import evaluate_sample
from marrowflow.io import open_labels, open_movie, write_table
from marrowflow.measure.cells import measure_movie
from marrowflow.parallel import FrameError, check_threads, map_frames
from marrowflow.segment.movie import segment_movie
from marrowflow.synthetic import OrganoidParams, simulate_organoid, write_synthetic

BUILT_IN = {"classic": {"preset": None}}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threads")
    sim = simulate_organoid(OrganoidParams(seed=11, n_frames=6, size=(160, 160), n_founders=12))
    write_synthetic(sim, folder / "movie.ome.tif", folder / "GT")
    return folder


def _run(folder, threads):
    out = folder / f"t{threads}"
    out.mkdir(exist_ok=True)
    with open_movie(folder / "movie.ome.tif") as movie:
        segment_movie(movie, BUILT_IN, channel=0, out_path=out / "labels.tif", threads=threads)
    with open_movie(folder / "movie.ome.tif") as movie, open_labels(out / "labels.tif") as labels:
        meta = movie.metadata
        cells = measure_movie(movie, labels, channel_names=meta.channel_names, time_step_h=meta.time_step_h,
                              pixel_size_um=meta.pixel_size_um, n_frames=meta.n_frames, threads=threads)
    write_table(cells, out / "cells.parquet")
    return out, cells


def test_one_and_two_threads_give_the_same_labels_and_measurements(synthetic):
    one, cells1 = _run(synthetic, 1)
    two, cells2 = _run(synthetic, 2)
    assert len(cells1) > 20  # the movie has cells: the comparison is not of two empty tables
    assert (one / "labels.tif").read_bytes() == (two / "labels.tif").read_bytes()
    assert cells1.to_csv().encode() == cells2.to_csv().encode()
    assert (one / "cells.parquet").read_bytes() == (two / "cells.parquet").read_bytes()


def test_one_and_two_threads_give_the_same_evaluation(synthetic, tmp_path):
    res = tmp_path / "res"  # the truth as the result: every CTC part is computed
    res.mkdir()
    shutil.copy(synthetic / "GT" / "TRA" / "man_track.txt", res / "res_track.txt")
    for mask in (synthetic / "GT" / "TRA").glob("man_track*.tif"):
        shutil.copy(mask, res / mask.name.replace("man_track", "mask"))
    one = evaluate_sample(res, synthetic / "GT", threads=1)
    two = evaluate_sample(res, synthetic / "GT", threads=2)
    assert one["ctc"]["TRA"] == pytest.approx(1.0)
    assert one == two


def _slow_square(x, delay):
    time.sleep(delay)
    return x * x


def test_the_pool_keeps_frame_order_and_bounds_the_frames_in_flight():
    read = []
    done = []
    lock = threading.Lock()

    def items():
        for i in range(12):
            with lock:
                read.append(i)
                assert len(read) - len(done) <= 2 * 2 + 1  # never more than 2 x threads pending (+ the one read)
            yield i, 0.02 * (12 - i)  # early frames finish last

    out = []
    for r in map_frames(_slow_square, items(), threads=2, source="movie.tif"):
        with lock:
            done.append(r)
        out.append(r)
    assert out == [i * i for i in range(12)]


@pytest.mark.parametrize("threads", [1, 2])
def test_an_error_in_a_worker_names_the_frame_and_the_file(threads):
    def fn(t):
        if t == 107:
            raise ValueError("bad pixel")
        return t

    with pytest.raises(FrameError, match=r"segment movie\.tif, frame 107: ValueError: bad pixel") as err:
        list(map_frames(fn, ((t,) for t in range(100, 110)), threads=threads, source="segment movie.tif",
                        frames=range(100, 110)))
    assert isinstance(err.value.__cause__, ValueError)


def test_an_error_in_a_worker_process_names_the_frame():
    with pytest.raises(FrameError, match=r"m\.tif, frame 3: TypeError"):
        list(map_frames(_slow_square, [(0, 0), (1, 0), (2, 0), ("x", 0)], threads=2, source="m.tif",
                        processes=True))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="threads_per_sample"):
        check_threads(bad)
