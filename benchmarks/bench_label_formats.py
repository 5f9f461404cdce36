"""Label stack formats: write time, read time and disk size of TIFF (labels.tif) against OME-Zarr
(labels.ome.zarr) for the labels of the GOWT1 sequence (Fluo-N2DH-GOWT1 01: 92 frames 1024x1024).

The labels are the classic segmentation of every frame with the schema's defaults (written once
as TIFF, then read back frame by frame as the input of each timed write). Times are reported as
ratios OME-Zarr / TIFF within one run, the formats alternating `--repeats` times (the machine is
shared: absolute seconds are shown but mean little); each timed write includes reading the source
frames from the TIFF, the same for both. Sizes: the whole OME-Zarr (every pyramid level) and its
full resolution alone. Memory: the peak of traced allocations while
writing the first 10 frames and all frames as OME-Zarr (flat if the writer streams).

    .venv/bin/python benchmarks/bench_label_formats.py [--data DIR] [--frames N] [--repeats 3]

Not a test: segmenting the 92 frames takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from marrowflow.io import LabelStackWriter, open_labels, open_movie
from marrowflow.io.ome_zarr import LABEL_NAME
from marrowflow.segment.segmenter import SegmentationParams, make_segmenter

from bench_data import DATA_HELP, default_data_dir


def disk_bytes(path: Path) -> int:
    """Size of a file, or of every file below a folder."""
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def copy_labels(source: Path, target: Path, n_frames: int | None = None) -> float:
    """Write the first `n_frames` (all) frames of `source` to `target` (format by name); seconds taken."""
    start = time.perf_counter()
    with open_labels(source) as stack:
        n = stack.n_frames if n_frames is None else n_frames
        with LabelStackWriter(target, n, stack.shape_zyx, scale=(1.0, 1.0, 1.0)) as writer:
            for t in range(n):
                writer.write(t, stack.read_frame(t))
    return time.perf_counter() - start


def read_all(path: Path) -> float:
    """Seconds to read every frame of a label stack through `open_labels`."""
    start = time.perf_counter()
    with open_labels(path) as stack:
        for frame in stack:
            frame.max()
    return time.perf_counter() - start


def segment_sequence(movie_dir: Path, out: Path, n_frames: int | None) -> int:
    """Classic segmentation (schema defaults) of the sequence's frames into `out` (TIFF)."""
    with open_movie(movie_dir, channel_names=["nuclei"]) as movie:
        n = movie.n_frames if n_frames is None else min(n_frames, movie.n_frames)
        segment = make_segmenter(SegmentationParams.from_config({}))
        with LabelStackWriter(out, n, movie.metadata.shape_zyx) as writer:
            for t in range(n):
                writer.write(t, segment(movie.read_frame(t)[0]))
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir(), help=DATA_HELP)
    parser.add_argument("--frames", type=int, default=None, help="first N frames only (default: all 92)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "source.tif"
        n = segment_sequence(args.data / "ctc-Fluo-N2DH-GOWT1" / "01", source, args.frames)
        times: dict[str, list[float]] = {"tiff_write": [], "zarr_write": [], "tiff_read": [], "zarr_read": []}
        for r in range(args.repeats):
            for fmt, name in (("tiff", "labels.tif"), ("zarr", "labels.ome.zarr")):
                target = tmp / f"r{r}" / name
                times[f"{fmt}_write"].append(copy_labels(source, target))
                times[f"{fmt}_read"].append(read_all(target))
        zarr_out = tmp / "r0" / "labels.ome.zarr"
        sizes = {"tiff": disk_bytes(tmp / "r0" / "labels.tif"), "zarr": disk_bytes(zarr_out),
                 "zarr_full_resolution_only": disk_bytes(zarr_out / "labels" / LABEL_NAME / "0")}
        peaks = {}
        for k in (min(10, n), n):
            tracemalloc.start()
            copy_labels(source, tmp / f"mem{k}" / "labels.ome.zarr", k)
            peaks[k] = tracemalloc.get_traced_memory()[1] / 2 ** 20
            tracemalloc.stop()
        med = {k: statistics.median(v) for k, v in times.items()}
        print(json.dumps({
            "frames": n, "repeats": args.repeats,
            "median_s": {k: round(v, 2) for k, v in med.items()},
            "write_ratio_zarr_over_tiff": round(med["zarr_write"] / med["tiff_write"], 2),
            "read_ratio_zarr_over_tiff": round(med["zarr_read"] / med["tiff_read"], 2),
            "disk_mib": {k: round(v / 2 ** 20, 2) for k, v in sizes.items()},
            "size_ratio_zarr_over_tiff": round(sizes["zarr"] / sizes["tiff"], 2),
            "zarr_write_peak_traced_mib": {str(k): round(v, 1) for k, v in peaks.items()},
        }, indent=2))


if __name__ == "__main__":
    main()
