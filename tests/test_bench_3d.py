"""benchmarks/bench_3d.py: the streamed movie is the generator's, its truth is valid CTC, and on a
tiny 3D movie the benchmark times and sizes every step of the workflow with 1 and 2 threads."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from marrowflow.io import open_movie
from marrowflow.synthetic import simulate_frames, simulate_organoid
from marrowflow.track.ctc import check_ctc

# the rules every run with ground truth goes through (their outputs are in rule all)
CORE_STEPS = {"ingest", "segment", "measure", "classify", "track", "lineage", "evaluate", "export", "plots",
              "summary", "provenance"}


@pytest.fixture(scope="module")
def bench_3d(repo_root):
    """The benchmark script as a module."""
    spec = importlib.util.spec_from_file_location("bench_3d", repo_root / "benchmarks" / "bench_3d.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("ndim", [3, 2])
def test_streamed_frames_are_those_of_the_generator(bench_3d, ndim):
    p = bench_3d.organoid_params(4, 4, 32, ndim=ndim, n_founders=6, cycle_time_h=1.0)
    ref = simulate_organoid(p)
    n = 0
    for t, (image, labels, types, _) in enumerate(simulate_frames(p)):
        np.testing.assert_array_equal(image, ref.movie[t])
        np.testing.assert_array_equal(labels, ref.labels[t])
        truth = ref.cell_types[ref.cell_types["frame"] == t]
        assert types == dict(zip(truth["label"], truth["cell_type"]))
        n += 1
    assert n == 4 and (ref.tracks["parent"] > 0).any()  # divisions happened


def test_movie_and_truth_are_written_frame_by_frame(bench_3d, tmp_path):
    p = bench_3d.organoid_params(4, 4, 32, n_founders=6, cycle_time_h=1.0, seg_every_frames=2)
    made = bench_3d.write_movie(p, 3, tmp_path / "movie.ome.tif", tmp_path / "GT")
    ref = simulate_organoid(p)
    assert made["shape"] == [4, 3, 4, 32, 32] and made["n_tracks"] == len(ref.tracks)
    with open_movie(tmp_path / "movie.ome.tif") as movie:
        meta = movie.metadata
        assert (meta.axes, meta.n_frames, meta.shape_zyx) == ("TCZYX", 4, (4, 32, 32))
        assert meta.channel_names == ["nuclei", "CD34", "CD235a"]
        assert meta.z_step_um == pytest.approx(p.pixel_size_um * p.z_anisotropy)
        np.testing.assert_array_equal(movie.read_frame(3), ref.movie[3, :3])
    tracks = pd.read_csv(tmp_path / "GT" / "TRA" / "man_track.txt", sep=" ", names=["label", "begin", "end", "parent"])
    check_ctc(tracks)
    pd.testing.assert_frame_equal(tracks, ref.tracks[["label", "begin", "end", "parent"]])
    types = pd.read_csv(tmp_path / "GT" / "cell_types.csv")
    pd.testing.assert_frame_equal(types, ref.cell_types.sort_values(["frame", "label"], ignore_index=True))
    assert sorted(f.name for f in (tmp_path / "GT" / "SEG").iterdir()) == ["man_seg000.tif", "man_seg002.tif",
                                                                          "man_seg003.tif"]
    assert len(list((tmp_path / "GT" / "TRA").glob("man_track*.tif"))) == 4


def test_more_channels_than_drawn_is_refused(bench_3d, tmp_path):
    p = bench_3d.organoid_params(2, 4, 32, n_founders=2)
    with pytest.raises(ValueError, match="--channels 6"):
        bench_3d.write_movie(p, 6, tmp_path / "movie.ome.tif", tmp_path / "GT")


def test_steps_sum_jobs_and_keep_the_largest_process(bench_3d):
    keys = ("rule", "wall_s", "work_s", "cpu_s", "rss_self_mib", "rss_workers_mib")
    records = [dict(zip(keys, r)) for r in [("provenance", 1.0, 0.5, 0.8, 150.0, 0.0),
                                            ("provenance", 2.0, None, 1.0, 120.0, 0.0),
                                            ("segment", 3.0, 2.5, 5.0, 200.0, 260.0)]]
    steps = bench_3d.step_table(records)
    assert steps["provenance"] == {"jobs": 2, "wall_s": 3.0, "work_s": 0.5, "cpu_s": 1.8, "peak_rss_mib": 150.0}
    assert steps["segment"]["peak_rss_mib"] == 260


def test_ratios_with_one_thread_count_for_the_longest_movie(bench_3d):
    def run(*rss):  # per thread count: a segment step of that peak RSS
        return {"threads": {k: {"steps": {"segment": {"wall_s": 10.0 / k, "peak_rss_mib": r}}}
                            for k, r in zip((1, 2), rss) if r}}
    runs = {10: run(100.0, 120.0), 100: run(None, 132.0)}  # the 100-frame movie ran with 2 threads only
    assert bench_3d.thread_ratios(runs[10]["threads"], [1, 2]) == {"segment": 2.0}
    assert bench_3d.thread_ratios(runs[100]["threads"], [2]) == {}
    memory = bench_3d.memory_ratios(runs, [2])
    assert memory == {"frames": [10, 100], 2: {"steps": {"segment": 1.1}, "peak": 1.1}}


@pytest.mark.slow
def test_tiny_3d_run_reports_every_step_with_1_and_2_threads(bench_3d, tmp_path):
    report = bench_3d.bench([2], [1, 2], tmp_path, z=4, size=32, n_channels=4, n_founders=6)
    run = report["runs"][2]
    assert run["identical_outputs"] and run["movie"]["shape"] == [2, 4, 4, 32, 32]
    for k in (1, 2):
        steps = run["threads"][k]["steps"]
        assert CORE_STEPS <= set(steps), f"{k} thread(s): steps missing: {CORE_STEPS - set(steps)}"
        for rule, s in steps.items():
            assert s["wall_s"] > 0 and s["cpu_s"] > 0 and s["jobs"] >= 1, (k, rule, s)
            assert 30 < s["peak_rss_mib"] < 4000, (k, rule, s)
        assert run["threads"][k]["total_s"] > sum(s["wall_s"] for s in steps.values()) * 0.5
    assert set(run["ratio"]) == set(run["threads"][1]["steps"]) and all(v > 0 for v in run["ratio"].values())
    assert report["memory"][1]["peak"] == pytest.approx(1.0) and report["memory"]["frames"] == [2, 2]
    table = bench_3d.markdown(report)
    for rule in run["threads"][1]["steps"]:
        assert f"| {rule} |" in table
