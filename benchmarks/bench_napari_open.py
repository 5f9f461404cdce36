"""Time from opening a results folder in napari (marrowflow reader) to the first shown frame.

    .venv/bin/python benchmarks/bench_napari_open.py [results/<sample>] [--frames 92] [--size 1024]
        [--baseline] [--runs 3]

Without a path it builds (once) a synthetic 92-frame 1024x1024 two-channel project under
/tmp/marrowflow_bench and opens that. Needs a display: without $DISPLAY it starts Xvfb
(pyvirtualdisplay). Reports viewer start, open -> first drawn frame (target < 5 s), and the time
to show another frame. `--baseline` also times napari alone (fresh process) adding two images and
a labels layer of the same shape held in memory: the floor any reader pays for napari's first use
of each layer type (imports, vispy visuals, numba JIT) on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _synthetic(frames: int, size: int) -> Path:
    from marrowflow_review._demo import make_demo_results

    project = Path(f"/tmp/marrowflow_bench/{frames}x{size}")
    results = project / "results" / "bench"
    if not (results / "tracks.parquet").is_file():
        t0 = time.perf_counter()
        make_demo_results(project, "bench", n_frames=frames, shape=(size, size), n_cells=400, radius=6,
                          channel_names=("nuclei", "CD34"))
        print(f"built synthetic results in {time.perf_counter() - t0:.1f} s: {results}")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", help="a results/<sample>/ folder (default: synthetic)")
    parser.add_argument("--frames", type=int, default=92)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--baseline", action="store_true", help="also time napari alone (see above)")
    parser.add_argument("--runs", type=int, default=1, help="fresh processes to time; medians reported")
    parser.add_argument("--napari-only", help=argparse.SUPPRESS)  # internal: "T,Y,X" of the baseline
    args = parser.parse_args(argv)
    if args.runs > 1:
        _repeat(args)
        return
    display = None
    if not os.environ.get("DISPLAY"):
        from pyvirtualdisplay import Display

        display = Display(visible=False, size=(1600, 1000))
        display.start()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    results = Path(args.results) if args.results else _synthetic(args.frames, args.size)

    import napari
    from qtpy.QtWidgets import QApplication

    t0 = time.perf_counter()
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    QApplication.processEvents()
    t_viewer = time.perf_counter() - t0
    if args.napari_only:
        _napari_only(viewer, tuple(int(n) for n in args.napari_only.split(",")))
        return

    t0 = time.perf_counter()
    viewer.open(str(results), plugin="marrowflow")
    QApplication.processEvents()
    viewer.screenshot(canvas_only=True, flash=False)  # forces the first frame to be drawn
    t_open = time.perf_counter() - t0

    shape = viewer.layers["labels"].data.shape
    n_frames = shape[0]
    t0 = time.perf_counter()
    viewer.dims.set_current_step(0, n_frames // 2)
    QApplication.processEvents()
    viewer.screenshot(canvas_only=True, flash=False)
    t_step = time.perf_counter() - t0

    t0 = time.perf_counter()
    _, widget = viewer.window.add_plugin_dock_widget("marrowflow", "Review")
    QApplication.processEvents()
    t_widget = time.perf_counter() - t0
    n_cells = len(widget.session.tracks)

    print(f"results: {results} ({n_frames} frames, {shape[1:]} px, {n_cells} cells)")
    print(f"viewer start: {t_viewer:.2f} s")
    print(f"open -> first frame shown: {t_open:.2f} s  (target < 5 s)")
    print(f"show frame {n_frames // 2}: {t_step:.2f} s")
    print(f"dock review widget: {t_widget:.2f} s")
    viewer.close()
    if args.baseline:
        import subprocess

        subprocess.run([sys.executable, __file__, "--napari-only", ",".join(map(str, shape))], check=True)
    if display is not None:
        display.stop()
    sys.exit(0 if t_open < 5 else 1)


def _repeat(args: argparse.Namespace) -> None:
    """Run the benchmark `args.runs` times, each in a fresh process; print the medians."""
    import re
    import statistics
    import subprocess

    results = str(args.results) if args.results else str(_synthetic(args.frames, args.size))
    times: dict[str, list[float]] = {"open -> first frame shown": [], "baseline": []}
    for _ in range(args.runs):
        cmd = [sys.executable, __file__, results] + (["--baseline"] if args.baseline else [])
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        print(out.strip())
        for key, found in times.items():
            match = re.search(re.escape(key) + r".*?([0-9.]+) s", out)
            if match:
                found.append(float(match.group(1)))
    for key, found in times.items():
        if found:
            print(f"median over {len(found)} runs, {key}: {statistics.median(found):.2f} s")
    sys.exit(0 if statistics.median(times["open -> first frame shown"]) < 5 else 1)


def _napari_only(viewer, shape: tuple[int, ...]) -> None:
    import numpy as np
    from qtpy.QtWidgets import QApplication

    t0 = time.perf_counter()
    image = np.broadcast_to(np.zeros((1, *shape[1:]), np.uint16), shape)
    labels = np.broadcast_to(np.zeros((1, *shape[1:]), np.uint32), shape)
    viewer.add_image(image, contrast_limits=(0, 1))
    viewer.add_image(image, contrast_limits=(0, 1), blending="additive")
    viewer.add_labels(labels)
    QApplication.processEvents()
    viewer.screenshot(canvas_only=True, flash=False)
    print(f"baseline, napari alone (2 images + labels in memory) -> first frame shown: "
          f"{time.perf_counter() - t0:.2f} s")
    viewer.close()


if __name__ == "__main__":
    main()
