"""Tiny synthetic fluorescent-nuclei images with known instance masks (for the segmentation tests)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def blobs_image(shape=(128, 128), n=10, radius=(6, 9), seed=0, touching_pairs=0, noise=0.04):
    """(image float32, labels uint32): `n` bright disks (plus `touching_pairs` pairs of disks
    that touch), blurred, on a dim background with Gaussian noise."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint32)
    yy, xx = np.indices(shape)
    placed = []

    def free(cy, cx, r, ignore=()):
        return all(np.hypot(cy - y, cx - x) > r + q + 3 for k, (y, x, q) in enumerate(placed) if k not in ignore)

    def disk(cy, cx, r):
        label = len(placed) + 1
        labels[((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (labels == 0)] = label
        placed.append((cy, cx, r))

    tries = 0
    while len(placed) < n + 2 * touching_pairs and tries < 5000:
        tries += 1
        r = rng.uniform(*radius)
        cy, cx = rng.uniform(r + 2, shape[0] - r - 2), rng.uniform(r + 2, shape[1] - r - 2)
        if len(placed) < 2 * touching_pairs:
            ang = rng.uniform(0, np.pi)
            cy2, cx2 = cy + 2 * r * np.sin(ang) * 0.95, cx + 2 * r * np.cos(ang) * 0.95
            if not (r + 2 < cy2 < shape[0] - r - 2 and r + 2 < cx2 < shape[1] - r - 2):
                continue
            if not (free(cy, cx, r) and free(cy2, cx2, r)):
                continue
            disk(cy, cx, r)
            disk(cy2, cx2, r)
        elif free(cy, cx, r):
            disk(cy, cx, r)
    bright = rng.uniform(0.6, 1.0, len(placed) + 1)
    bright[0] = 0.1
    image = ndi.gaussian_filter(bright[labels].astype(np.float32), 1.0)
    image = image + rng.normal(0, noise, shape).astype(np.float32)
    return image.astype(np.float32), labels
