"""How well each dataset's SEG ground truth lines up with its images.

    .venv/bin/python benchmarks/gt_registration.py [--data ../shared/data] [--every 3]

For every isolated annotated object (no other object within 8 px) the script compares the
centroid of the background-subtracted intensity around the object with the centroid of its
mask; a consistent offset means the masks sit shifted against the pixels (e.g. a half-pixel
convention of the simulator). It then scores the classic preset of the dataset with its labels
shifted by whole pixels: if a shift scores better than none, part of the SEG loss is the
registration of the ground truth, not the segmentation. Nothing here changes the pipeline;
the figures explain a ceiling (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from marrowflow.segment.metrics import seg_sums
from marrowflow.segment.segmenter import make_segmenter

from bench_data import DATA_HELP, default_data_dir
from bench_segmentation import DATASETS, load


def centroid_offsets(image: np.ndarray, gt: np.ndarray, margin: int = 6) -> np.ndarray:
    """(dy, dx) = intensity centroid - mask centroid of each isolated object of one frame."""
    image = image.astype(np.float64)
    background = float(np.median(image[gt == 0]))
    weight = np.clip(image - background, 0, None)
    out = []
    for lab, sl in enumerate(ndi.find_objects(gt), 1):
        if sl is None:
            continue
        box = tuple(slice(max(s.start - margin - 2, 0), s.stop + margin + 2) for s in sl)
        g, w = gt[box], weight[box]
        mask = g == lab
        if mask.sum() < 50:
            continue
        region = ndi.binary_dilation(mask, iterations=margin)
        if (ndi.binary_dilation(region, iterations=2) & (g > 0) & ~mask).any():
            continue  # a neighbour's light would pull the intensity centroid
        light = w * region
        if light.sum() == 0:
            continue
        out.append(np.subtract(ndi.center_of_mass(light), ndi.center_of_mass(mask)))
    return np.asarray(out, float).reshape(-1, 2)


def shifted_seg(preds: list[np.ndarray], gts: list[np.ndarray], dy: int, dx: int) -> float:
    """SEG over all frames with every prediction rolled by (dy, dx) pixels."""
    total = n = 0
    for p, g in zip(preds, gts):
        s, k = seg_sums(np.roll(p, (dy, dx), axis=(0, 1)), g)
        total, n = total + s, n + k
    return total / n


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data_dir(), help=DATA_HELP)
    ap.add_argument("--every", type=int, default=3, help="use every n-th annotated frame")
    args = ap.parse_args(argv)
    for name, preset, _, _ in DATASETS.values():
        _, images, gts, px = load(args.data, name)
        images, gts = images[::args.every], gts[::args.every]
        d = np.concatenate([centroid_offsets(i, g) for i, g in zip(images, gts)])
        print(f"{name}: {len(d)} isolated objects; intensity - mask centroid (dy, dx) px: "
              f"median {np.median(d, 0).round(2)}, mean {d.mean(0).round(2)}")
        seg = make_segmenter({"backend": "classic", "classic": {"preset": preset}}, pixel_size_um=px)
        preds = [seg(i) for i in images]
        table = {(dy, dx): shifted_seg(preds, gts, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
        best = max(table, key=table.get)
        print(f"  classic ({preset}) SEG unshifted {table[(0, 0)]:.4f}; best whole-pixel shift of the "
              f"labels {best}: {table[best]:.4f}", flush=True)


if __name__ == "__main__":
    main()
