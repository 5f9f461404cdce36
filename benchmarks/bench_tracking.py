"""Tracking speed on synthetic detections: detections per second (target >= 10,000/s).

Cells random-walk in a square field (about `--per-frame` at a time), divide and vanish at small
rates, and are missed in 1 % of frames (gap closing). Times `track_cells` (method sparse_lap) on
all frames, and laptrack itself on the first `--laptrack-frames` frames for comparison, and
reports how many division events were recovered exactly.

    .venv/bin/python benchmarks/bench_tracking.py [--detections 100000 --frames 200]
    .venv/bin/python benchmarks/bench_tracking.py --method motile --detections 20000 --frames 100

`--method motile` times the global tracker instead (no masks here, so distance and area costs
only; the ILP's size is what it would be with overlaps, which add few candidates).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from marrowflow.track.ctc import tracks_to_ctc
from marrowflow.track.linking import track_cells


def synthetic_detections(n_frames: int, per_frame: int, seed: int = 0) -> tuple[pd.DataFrame, set]:
    """Cells table (frame, label, y, x, area_px) and the true divisions {(frame of mother, label)}."""
    rng = np.random.default_rng(seed)
    side = np.sqrt(per_frame) * 60.0  # ~60 px between neighbours
    pos = rng.uniform(0, side, (per_frame, 2))
    ident = np.arange(per_frame)
    next_id = per_frame
    rows, divisions = [], set()
    for t in range(n_frames):
        seen = rng.random(len(pos)) > 0.01
        labels = np.arange(1, len(pos) + 1)
        rows.append(pd.DataFrame({"frame": t, "label": labels[seen], "y": pos[seen, 0], "x": pos[seen, 1],
                                  "area_px": 300, "cell": ident[seen]}))
        pos = pos + rng.normal(0, 2.0, pos.shape)
        divide = rng.random(len(pos)) < 0.004
        die = (rng.random(len(pos)) < 0.004) & ~divide
        for i in np.flatnonzero(divide & seen):
            divisions.add((t, int(labels[i])))
        angle = rng.uniform(0, np.pi, divide.sum())
        offset = 5.0 * np.column_stack([np.cos(angle), np.sin(angle)])
        kids = np.concatenate([pos[divide] + offset, pos[divide] - offset])
        keep = ~divide & ~die
        pos = np.concatenate([pos[keep], kids])
        ident = np.concatenate([ident[keep], np.arange(next_id, next_id + len(kids))])
        next_id += len(kids)
    return pd.concat(rows, ignore_index=True), divisions


def found_divisions(tracks: pd.DataFrame) -> set:
    ctc = tracks_to_ctc(tracks)
    parents = ctc.loc[ctc["parent"] > 0, "parent"].value_counts()
    mothers = parents[parents >= 2].index
    last = tracks.sort_values("frame").groupby("track_id").last()
    return {(int(last.at[m, "frame"]), int(last.at[m, "label"])) for m in mothers}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detections", type=int, default=100_000)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--laptrack-frames", type=int, default=10)
    ap.add_argument("--method", default="sparse_lap", choices=["sparse_lap", "motile"])
    args = ap.parse_args(argv)
    cells, truth = synthetic_detections(args.frames, round(args.detections / args.frames / 0.99))
    cfg = {"max_distance_px": 15.0, "gap_closing_frames": 2, "divisions": True, "method": args.method}
    t0 = time.perf_counter()
    tracks = track_cells(cells.drop(columns="cell"), cfg)
    dt = time.perf_counter() - t0
    found = found_divisions(tracks)
    tp = len(found & truth)
    print(f"{args.method}: {len(cells)} detections, {args.frames} frames in {dt:.2f} s = "
          f"{len(cells) / dt:,.0f} detections/s; divisions: {len(truth)} true, {len(found)} found, "
          f"{tp} exact (precision {tp / max(len(found), 1):.3f}, recall {tp / max(len(truth), 1):.3f})")
    if args.laptrack_frames:
        sub = cells[cells["frame"] < args.laptrack_frames].drop(columns="cell")
        t0 = time.perf_counter()
        track_cells(sub, {**cfg, "method": "laptrack"})
        dt = time.perf_counter() - t0
        print(f"laptrack:   {len(sub)} detections, {args.laptrack_frames} frames in {dt:.2f} s = "
              f"{len(sub) / dt:,.0f} detections/s")


if __name__ == "__main__":
    main()
