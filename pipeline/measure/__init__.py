"""Per-cell measurements: position, size, shape and background-corrected marker means."""

from marrowflow.measure.cells import BackgroundParams, MeasureParams, measure_columns, measure_frame, measure_movie

__all__ = [
    "BackgroundParams", "MeasureParams", "measure_columns", "measure_frame", "measure_movie",
]
