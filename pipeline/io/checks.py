"""Checks on frames that turn bad input into clear messages."""

from __future__ import annotations

import os
import warnings

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


class NoCellsWarning(UserWarning):
    """A movie has no cell in any frame (an empty movie): every table of it is empty."""


def warn_if_no_cells(n_cells: int, step: str, what: str = "") -> bool:
    """Warn (NoCellsWarning) when a step gets no cell at all; return whether it did.

    `what`: what this means for the step's outputs (e.g. "the thresholds table is empty")."""
    if n_cells:
        return False
    detail = f"; {what}" if what else ""
    warnings.warn(f"{step}: no cell in any frame (is the movie empty?){detail}", NoCellsWarning, stacklevel=2)
    return True
