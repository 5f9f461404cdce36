"""A small synthetic results folder (`<project>/results/<sample>/`) following the data contract,
for the plugin's tests and the opening benchmark. Track 1 divides into tracks 2 and 3 half way."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from marrowflow.io import LabelStackWriter, MovieMetadata, write_json, write_table

DEMO_TYPES = ("progenitor", "erythroid", "myeloid")


def _cells(n_frames: int, shape: tuple[int, int], n_cells: int, radius: int) -> pd.DataFrame:
    """Cell centres: track 1 divides at n_frames // 2 into 2 and 3; tracks 4.. are single cells."""
    rng = np.random.default_rng(0)
    h, w = shape
    rows = []
    half = n_frames // 2
    cy, cx = h / 2, w / 4
    for t in range(n_frames):
        if t < half:
            rows.append((t, 1, 0, cy, cx + t))
        else:
            rows += [(t, 2, 1, cy - 2 * radius - 1, cx + t), (t, 3, 1, cy + 2 * radius + 1, cx + t)]
    step = 2 * radius + 3
    grid = [(y, x) for y in range(radius + 1, h - radius - 1, step)
            for x in range(w // 2, w - radius - 1 - n_frames, step)]
    for k, (y, x) in enumerate(grid[: max(0, n_cells - 3)]):
        rows += [(t, 4 + k, 0, float(y), float(x + t)) for t in range(n_frames)]
    df = pd.DataFrame(rows, columns=["frame", "track_id", "parent_track_id", "y", "x"])
    df["label"] = df["track_id"]
    df["cell_type"] = [DEMO_TYPES[i % len(DEMO_TYPES)] for i in df["track_id"]]
    df["type_score"] = rng.uniform(0.3, 1.0, len(df)).round(3)
    df["type_source"] = "rule"
    return df


def _disk_frame(rows: pd.DataFrame, shape: tuple[int, int], radius: int) -> np.ndarray:
    out = np.zeros(shape, np.uint32)
    yy, xx = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    disk = yy ** 2 + xx ** 2 <= radius ** 2
    for lab, y, x in zip(rows["label"], rows["y"].round().astype(int), rows["x"].round().astype(int)):
        y0, x0 = y - radius, x - radius
        win = out[max(y0, 0):y0 + 2 * radius + 1, max(x0, 0):x0 + 2 * radius + 1]
        d = disk[max(0, -y0):max(0, -y0) + win.shape[0], max(0, -x0):max(0, -x0) + win.shape[1]]
        win[d] = lab
    return out


def make_demo_results(project: str | os.PathLike, sample: str = "demo", *, n_frames: int = 6,
                      shape: tuple[int, int] = (64, 96), n_cells: int = 5, radius: int = 4,
                      channel_names: tuple[str, ...] = ("nuclei", "CD34", "CD235a"),
                      pixel_size_um: float = 0.65, time_step_h: float = 0.5) -> Path:
    """Write `project/images/<sample>.ome.tif` and `project/results/<sample>/` (metadata.json,
    labels.tif, tracks.parquet, cells_typed.parquet, ctc/res_track.txt, counts.csv, provenance.json);
    return the results folder."""
    project = Path(project)
    results = project / "results" / sample
    (results / "ctc").mkdir(parents=True, exist_ok=True)
    movie_path = project / "images" / f"{sample}.ome.tif"
    movie_path.parent.mkdir(parents=True, exist_ok=True)
    cells = _cells(n_frames, shape, n_cells, radius)
    n_ch = len(channel_names)
    rng = np.random.default_rng(1)
    type_level = {name: i for i, name in enumerate(DEMO_TYPES)}

    def planes():
        for t in range(n_frames):
            rows = cells[cells["frame"] == t]
            labels = _disk_frame(rows, shape, radius)
            level = np.zeros(int(labels.max(initial=0)) + 1)
            level[rows["label"].to_numpy()] = [type_level[c] for c in rows["cell_type"]]
            for c in range(n_ch):
                signal = (labels > 0) * 800.0 if c == 0 else (level[labels] == (c % len(DEMO_TYPES))) * 600.0
                yield (100 + signal + rng.normal(0, 20, shape)).clip(0, 65535).astype(np.uint16)

    tifffile.imwrite(movie_path, planes(), shape=(n_frames, n_ch, *shape), dtype=np.uint16, ome=True,
                     compression="zlib", metadata={"axes": "TCYX", "Channel": {"Name": list(channel_names)},
                                                   "PhysicalSizeX": pixel_size_um, "PhysicalSizeY": pixel_size_um,
                                                   "TimeIncrement": time_step_h * 3600, "TimeIncrementUnit": "s"})
    with LabelStackWriter(results / "labels.tif", n_frames, shape) as writer:
        for t in range(n_frames):
            writer.write(t, _disk_frame(cells[cells["frame"] == t], shape, radius))
    md = MovieMetadata(path=str(movie_path.relative_to(project)), axes="TCYX", n_frames=n_frames,
                       n_channels=n_ch, shape_zyx=tuple(shape), dtype="uint16", channel_names=list(channel_names),
                       pixel_size_um=pixel_size_um, time_step_h=time_step_h)
    write_json(md.to_dict(), results / "metadata.json")
    cells.insert(0, "sample", sample)
    cells.insert(2, "time_h", cells["frame"] * time_step_h)
    cells["area_px"] = int(np.pi * radius ** 2)
    write_table(cells.drop(columns=["track_id", "parent_track_id"]), results / "cells_typed.parquet")
    write_table(cells, results / "tracks.parquet")
    g = cells.groupby("track_id")
    ctc = pd.DataFrame({"label": g.size().index, "begin": g["frame"].min().to_numpy(),
                        "end": g["frame"].max().to_numpy(), "parent": g["parent_track_id"].max().to_numpy()})
    ctc.to_csv(results / "ctc" / "res_track.txt", sep=" ", header=False, index=False)
    counts = cells.groupby(["sample", "frame", "time_h", "cell_type"]).size().rename("n").reset_index()
    write_table(counts, results / "counts.csv")
    write_json({"command": "marrowflow_review._demo.make_demo_results", "synthetic": True}, results / "provenance.json")
    return results
