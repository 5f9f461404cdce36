"""Threads benchmark: wall time of segment and measure on a 2D movie with 1 and 2 threads.

Writes the synthetic 1024x1024 nuclei movie of bench_streaming.py (default 20 frames), then in one
run segments it (`segment_movie`, classic built-in defaults) and measures it (`measure_sample`,
as the workflow does: each worker reads its own frames) with 1 and then 2 threads, checks that
both give the same label bytes and the same table, and prints the wall times, CPU seconds and the
1-thread / 2-thread ratio per step (target >= 1.7 on 2 free cores), and the seconds segment's
main thread spends reading frames and writing labels (its serial part; `segment_bound_1_over_2`,
from CPU seconds, is the speed-up this leaves on free cores).
Report the ratio, not the seconds,
when other work shares the machine: with the cores busy the ratio says nothing, the CPU seconds
(about equal for 1 and 2 threads when the pool adds no work) still do.

    .venv/bin/python benchmarks/bench_threads.py [--frames 20] [--size 1024] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per thread: the pool, not BLAS, uses the cores
sys.path.insert(0, str(Path(__file__).parent))

from bench_streaming import make_movie  # noqa: E402


def _cpu_s() -> float:
    """CPU seconds of this process (all threads) and of its finished worker processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def serial_s(movie_path: Path, labels_path: Path, out: Path) -> float:
    """CPU seconds the calling thread spends reading the frames and writing the labels: the part
    no pool shortens (Amdahl)."""
    from marrowflow.io import LabelStackWriter, open_labels, open_movie

    t0 = time.process_time()
    with open_movie(movie_path) as movie, open_labels(labels_path) as labels, \
            LabelStackWriter(out / "copy.tif", movie.n_frames, movie.metadata.shape_zyx) as writer:
        for t in range(movie.n_frames):
            movie.read_frame(t)
            writer.write(t, labels.read_frame(t))
    return time.process_time() - t0


def run(movie_path: Path, out: Path, threads: int) -> dict:
    """Segment then measure the movie with `threads`; wall seconds per step."""
    from marrowflow.io import SampleFrames, open_movie
    from marrowflow.measure.cells import measure_sample
    from marrowflow.segment.movie import segment_movie

    labels_path = out / f"labels_{threads}.tif"
    c0 = _cpu_s()
    t0 = time.perf_counter()
    with open_movie(movie_path) as movie:
        segment_movie(movie, {"classic": {"preset": None}}, channel=0, out_path=labels_path, threads=threads)
    t1 = time.perf_counter()
    c1 = _cpu_s()
    with open_movie(movie_path) as movie:
        meta = movie.metadata
    cells = measure_sample(SampleFrames(meta, labels_path), channel_names=["nuclei"], time_step_h=0.25,
                           pixel_size_um=0.5, threads=threads)
    t2 = time.perf_counter()
    c2 = _cpu_s()
    return {"segment_s": t1 - t0, "measure_s": t2 - t1,
            "segment_cpu_s": c1 - c0, "measure_cpu_s": c2 - c1, "labels": labels_path.read_bytes(),
            "cells": cells.to_csv().encode(), "n_cells": len(cells)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, nargs=2, default=[1, 2])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        movie = Path(tmp) / "movie.tif"
        make_movie(movie, args.frames, args.size)
        runs = {n: run(movie, Path(tmp), n) for n in args.threads}
        a, b = args.threads
        serial = serial_s(movie, Path(tmp) / f"labels_{a}.tif", Path(tmp))
    same = runs[a]["labels"] == runs[b]["labels"] and runs[a]["cells"] == runs[b]["cells"]
    report = {"frames": args.frames, "size": args.size, "cpus": os.cpu_count(),
              "load_avg_1min": round(os.getloadavg()[0], 2), "n_cells": runs[a]["n_cells"],
              "identical_outputs": same}
    for step in ("segment", "measure"):
        report[f"{step}_s"] = {n: round(runs[n][f"{step}_s"], 2) for n in args.threads}
        report[f"{step}_cpu_s"] = {n: round(runs[n][f"{step}_cpu_s"], 2) for n in args.threads}
        report[f"{step}_ratio_{a}_over_{b}"] = round(runs[a][f"{step}_s"] / runs[b][f"{step}_s"], 2)
    report["read_write_serial_cpu_s"] = round(serial, 2)
    # on free cores: wall = serial part + the rest shared by the workers
    one, many = runs[a]["segment_cpu_s"], runs[b]["segment_cpu_s"]
    report[f"segment_bound_{a}_over_{b}"] = round(one / (serial + (many - serial) * a / b), 2)
    print(json.dumps(report, indent=1))
    if not same:
        sys.exit(f"{a} and {b} threads gave different outputs")


if __name__ == "__main__":
    main()
