"""Frames in parallel (marrowflow.parallel, the rules' `threads:`): 1 and 2 threads give the same
bytes for labels, measurements and evaluation; the pool keeps frame order and names the failing
frame and file."""

import pickle
import shutil
import threading
import time

import numpy as np
import pytest

import marrowflow.io.sample_frames as sample_frames_module
from marrowflow.errors import InputError
from marrowflow.evaluate import evaluate_sample
from marrowflow.io import LabelStackWriter, SampleFrames, open_labels, open_movie, write_table
from marrowflow.measure.cells import measure_movie, measure_sample
from marrowflow.parallel import MAX_SAMPLE_THREADS, FrameError, check_threads, map_frames, sample_threads
from marrowflow.segment.movie import segment_movie
from marrowflow.synthetic import OrganoidParams, simulate_organoid, write_synthetic

from workflow_helpers import run_snakemake, tiny_demo_row, write_project

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


def _measure_sample(folder, labels_path, threads, **kwargs):
    with open_movie(folder / "movie.ome.tif") as movie:
        meta = movie.metadata
    return measure_sample(SampleFrames(meta, labels_path, **kwargs), channel_names=meta.channel_names,
                          time_step_h=meta.time_step_h, pixel_size_um=meta.pixel_size_um, threads=threads)


def test_workers_that_read_their_own_frames_give_the_same_table(synthetic, monkeypatch):
    """measure_sample (the measure rule: each worker reads its own frames) equals measure_movie
    fed by the main process; with 2 threads the main process opens no movie at all."""
    one, cells = _run(synthetic, 1)
    opened = []
    real = sample_frames_module.reopen_movie
    monkeypatch.setattr(sample_frames_module, "reopen_movie", lambda meta: opened.append(meta) or real(meta))
    for threads in (1, 2):
        opened.clear()
        got = _measure_sample(synthetic, one / "labels.tif", threads)
        assert got.to_csv().encode() == cells.to_csv().encode()
        assert len(opened) == (1 if threads == 1 else 0)  # forked workers count in their own memory


@pytest.mark.parametrize("threads", [1, 2])
def test_workers_apply_relabel_to_their_frames(synthetic, threads):
    one, _ = _run(synthetic, 1)
    got = _measure_sample(synthetic, one / "labels.tif", threads, relabel=_keep_label_1_in_frame_2)
    assert set(got.loc[got["frame"] == 2, "label"]) == {1}
    assert got.loc[got["frame"] != 2, "label"].nunique() > 1


def _keep_label_1_in_frame_2(labels, t):
    return np.where(labels == 1, labels, 0) if t == 2 else labels


def test_sample_frames_check_lengths_and_pickle_without_readers(synthetic, tmp_path):
    one, _ = _run(synthetic, 1)
    with open_movie(synthetic / "movie.ome.tif") as movie:
        meta = movie.metadata
    frames = SampleFrames(meta, one / "labels.tif")
    image, labels = frames.read(0)
    assert image.shape[1:] == labels.shape == meta.shape_zyx
    copy = pickle.loads(pickle.dumps(frames))
    assert copy._readers == {} and np.array_equal(copy.read(0)[1], labels)
    frames.close()
    copy.close()
    short = tmp_path / "short.tif"
    with LabelStackWriter(short, meta.n_frames - 1, meta.shape_zyx) as writer:
        for t in range(meta.n_frames - 1):
            writer.write(t, labels)
    with pytest.raises(InputError, match=r"short\.tif has 5 frame\(s\), the movie .*movie\.ome\.tif 6"):
        SampleFrames(meta, short)


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


@pytest.mark.parametrize(("setting", "cores", "n_samples", "expected"), [
    (None, 2, 7, 1),  # the demo: seven samples side by side, one thread each
    (None, 8, 1, 8),  # one sample: every core
    (None, 8, 3, 2),
    (None, 64, 2, MAX_SAMPLE_THREADS),
    (None, None, 3, MAX_SAMPLE_THREADS),  # no core count: cluster execution
    (3, 2, 7, 3),  # set: as set (Snakemake lowers it to the cores)
])
def test_threads_per_sample_shares_the_cores_among_the_samples(setting, cores, n_samples, expected):
    assert sample_threads(setting, cores, n_samples) == expected


def test_a_set_threads_per_sample_is_checked():
    with pytest.raises(ValueError, match="threads_per_sample"):
        sample_threads(0, 4, 1)


@pytest.mark.slow
@pytest.mark.parametrize(("samples", "threads"), [(["a"], 4), (["a", "b"], 2)])
def test_the_workflow_gives_each_sample_its_share_of_the_cores(tmp_path, samples, threads):
    project = write_project(tmp_path, [tiny_demo_row(name) for name in samples])
    result = run_snakemake(project, "-n", "--cores", "4", "results/a/cells.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = {block.split(":", 1)[0]: block for block in result.stdout.split("\nrule ")[1:]}
    for rule in ("segment", "measure"):
        assert f"threads: {threads}" in jobs[rule] and f"cpus_per_task={threads}" in jobs[rule], jobs[rule]
