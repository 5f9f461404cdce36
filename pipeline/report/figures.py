"""Saving matplotlib figures atomically and reproducibly."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from marrowflow.io import atomic_write  # noqa: E402


def save_figure(fig: matplotlib.figure.Figure, path: str | Path, *, dpi: int = 120) -> None:
    """Write `fig` to `path` (format from the suffix) atomically, without timestamps, and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".") or "png"
    metadata = {"Software": None} if fmt == "png" else {"CreationDate": None} if fmt == "pdf" else None
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
    plt.close(fig)
