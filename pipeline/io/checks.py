"""Checks on frames and sample names that turn bad input into clear messages."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np

from marrowflow.errors import InputError


class EmptyFrameWarning(UserWarning):
    """A frame is all zeros (valid: it just has no cells)."""


def check_frame(frame: np.ndarray, path: str | os.PathLike, t: int) -> None:
    """Warn (EmptyFrameWarning) on an all-zero frame; raise InputError on NaN in a float frame."""
    if np.issubdtype(frame.dtype, np.floating) and np.isnan(frame).any():
        n_nan = int(np.isnan(frame).sum())
        raise InputError(f"{path}: frame {t}: expected finite pixel values, found {n_nan} NaN pixels. "
                         "Fix: replace NaN (e.g. by 0) when exporting the movie.")
    if not frame.any():
        warnings.warn(f"{path}: frame {t} is all zeros; it will have no cells.", EmptyFrameWarning,
                      stacklevel=2)


def check_unique_samples(names: Sequence[str], sheet_path: str | os.PathLike) -> None:
    """Raise InputError when sample names repeat, naming each duplicate and its rows (1-based)."""
    rows: dict[str, list[int]] = {}
    for row, name in enumerate(names, start=1):
        rows.setdefault(str(name), []).append(row)
    dups = {name: r for name, r in rows.items() if len(r) > 1}
    if dups:
        found = "; ".join(f"{name!r} on data rows {', '.join(map(str, r))}" for name, r in dups.items())
        raise InputError(f"{sheet_path}: expected each sample name once, found duplicates: {found}. "
                         "Fix: give every row its own sample name (e.g. add _2, _3).")
