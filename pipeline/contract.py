"""Names of the data contract that every step shares (see DESIGN.md, "Data contract").

Imports nothing heavy: the Snakefile and every step read it.
"""

from __future__ import annotations

from collections.abc import Sequence

UNKNOWN = "unknown"
"""The `cell_type` of a cell that no configured class claims."""


def measure_columns(channel_names: Sequence[str], ndim: int = 2) -> dict[str, str]:
    """Column name -> dtype of the table `measure_frame` returns, in column order."""
    cols = {"frame": "int64", "time_h": "float64", "label": "int64"}
    if ndim == 3:
        cols["z"] = "float64"
    cols.update({"y": "float64", "x": "float64", "area_px": "int64", "area_um2": "float64"})
    if ndim == 3:
        cols["volume_um3"] = "float64"
    cols.update({"eccentricity": "float64", "solidity": "float64", "major_axis_px": "float64"})
    cols.update({f"mean_{name}": "float64" for name in channel_names})
    cols.update({f"bg_{name}": "float64" for name in channel_names})
    return cols
