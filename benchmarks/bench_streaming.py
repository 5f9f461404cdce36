"""Streaming benchmark: peak memory must not grow with the number of frames.

For each N (default 50 and 500) a fresh subprocess writes a synthetic N-frame 1024x1024 uint16
movie frame by frame, and another fresh subprocess runs read -> segment -> measure -> write
labels frame by frame, reporting wall time per stage and its peak RSS (ru_maxrss). Target:
peak RSS at the largest N <= 1.2 x peak RSS at the smallest.

    .venv/bin/python benchmarks/bench_streaming.py [--frames 50 500] [--size 1024] [--workdir DIR]

Not a test: it takes minutes (about 0.3-0.6 s per frame on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def synthetic_frame(t: int, size: int, n_nuclei: int = 250) -> np.ndarray:
    """One deterministic frame of blurred nuclei plus noise (uint16)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(1000 + t)
    image = np.zeros((size, size), np.float32)
    ys, xs = rng.integers(10, size - 10, (2, n_nuclei))
    image[ys, xs] = 1.0
    image = gaussian_filter(image, sigma=4.0) * 2.0e4 * 2 * np.pi * 16
    image += rng.normal(200.0, 20.0, image.shape).astype(np.float32)
    return np.clip(image, 0, 65535).astype(np.uint16)


def make_movie(path: Path, n_frames: int, size: int) -> dict:
    """Write the synthetic movie frame by frame (never held in memory as a whole)."""
    import tifffile

    start = time.perf_counter()
    frames = (synthetic_frame(t, size) for t in range(n_frames))
    tifffile.imwrite(path, frames, shape=(n_frames, size, size), dtype=np.uint16,
                     compression="zlib", photometric="minisblack", metadata={"axes": "TYX"})
    return {"make_s": time.perf_counter() - start, "make_peak_rss_mib": _peak_rss_mib()}


def _segmenter():
    from marrowflow.segment.segmenter import segment_frame

    params = {"backend": "classic", "classic": {"preset": None}}  # built-in classic defaults
    return "marrowflow.segment classic", lambda image: segment_frame(image, params)


def _measurer():
    from marrowflow.measure.cells import measure_frame

    return "marrowflow.measure", lambda labels, image, t: measure_frame(
        labels, image, channel_names=["nuclei"], frame=t, time_h=t * 0.25, pixel_size_um=0.5)


def process(movie_path: Path, out_dir: Path) -> dict:
    """read -> segment -> measure -> write labels, one frame at a time; times per stage."""
    import pandas as pd

    from marrowflow.io import LabelStackWriter, open_movie, write_table

    seg_name, segment = _segmenter()
    measure_name, measure = _measurer()
    times = dict.fromkeys(("read", "segment", "measure", "write_labels", "write_table"), 0.0)
    tables = []
    baseline = _peak_rss_mib()
    start = time.perf_counter()
    with open_movie(movie_path) as movie, \
            LabelStackWriter(out_dir / "labels.tif", movie.n_frames, movie.metadata.shape_zyx) as writer:
        for t in range(movie.n_frames):
            t0 = time.perf_counter()
            image = movie.read_frame(t)
            t1 = time.perf_counter()
            labels = segment(image[0])
            t2 = time.perf_counter()
            tables.append(measure(labels, image, t))
            t3 = time.perf_counter()
            writer.write(t, labels)
            t4 = time.perf_counter()
            times["read"] += t1 - t0
            times["segment"] += t2 - t1
            times["measure"] += t3 - t2
            times["write_labels"] += t4 - t3
    t5 = time.perf_counter()  # leaving the block waits for the last frame's compression
    cells = pd.concat(tables, ignore_index=True)
    write_table(cells, out_dir / "cells.parquet")
    times["write_table"] = time.perf_counter() - t5
    return {"segmenter": seg_name, "measurer": measure_name, "n_cells": len(cells),
            "stage_s": {k: round(v, 2) for k, v in times.items()},
            "total_s": round(time.perf_counter() - start, 2),
            "rss_after_imports_mib": round(baseline, 1), "peak_rss_mib": round(_peak_rss_mib(), 1)}


def _child(args: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, *args], env=env, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--make", nargs=3, metavar=("MOVIE", "N", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--process", nargs=2, metavar=("MOVIE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        print(json.dumps(make_movie(Path(args.make[0]), int(args.make[1]), int(args.make[2]))))
        return
    if args.process:
        print(json.dumps(process(Path(args.process[0]), Path(args.process[1]))))
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        results = {}
        for n in args.frames:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            movie = folder / "movie.tif"
            made = _child(["--make", str(movie), str(n), str(args.size)])
            result = {**made, **_child(["--process", str(movie), str(folder)])}
            result["movie_mib"] = round(movie.stat().st_size / 2**20, 1)
            results[n] = result
            print(f"N={n}: {json.dumps(result)}", flush=True)
            for path in folder.iterdir():
                path.unlink()
        small, large = min(results), max(results)
        ratio = results[large]["peak_rss_mib"] / results[small]["peak_rss_mib"]
        print(f"peak RSS {large} frames / {small} frames = {ratio:.3f} (target <= 1.2): "
              f"{'OK' if ratio <= 1.2 else 'FAIL'}")


if __name__ == "__main__":
    main()
