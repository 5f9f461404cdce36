"""Saving matplotlib figures atomically and reproducibly, without pyplot (no backend switch)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from marrowflow.io import atomic_write

NO_CELLS = "no cells"


def mark_no_cells(ax: Axes, text: str = NO_CELLS) -> None:
    """Write `text` ("no cells") across `ax`: the figure of an empty movie is valid and says so."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.4")


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> None:
    """Write `fig` to `path` (format from the suffix) atomically, without timestamps."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".") or "png"
    metadata = {"Software": None} if fmt == "png" else {"CreationDate": None} if fmt == "pdf" else None
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
