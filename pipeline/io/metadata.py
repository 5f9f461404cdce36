"""Movie metadata: the normalised description of one time-lapse movie, plus unit conversions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

_LENGTH_TO_UM = {
    "µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "\\u00b5m": 1.0, "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "millimeter": 1e3, "cm": 1e4,
    "m": 1e6, "meter": 1e6, "å": 1e-4, "angstrom": 1e-4,
}
_TIME_TO_H = {
    "h": 1.0, "hr": 1.0, "hrs": 1.0, "hour": 1.0, "hours": 1.0,
    "min": 1 / 60, "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60,
    "s": 1 / 3600, "sec": 1 / 3600, "secs": 1 / 3600, "second": 1 / 3600, "seconds": 1 / 3600,
    "ms": 1 / 3.6e6, "millisecond": 1 / 3.6e6, "milliseconds": 1 / 3.6e6,
    "µs": 1 / 3.6e9, "μs": 1 / 3.6e9, "us": 1 / 3.6e9, "d": 24.0, "day": 24.0, "days": 24.0,
}


def length_to_um(value: float | None, unit: str | None) -> float | None:
    """Convert a length in `unit` (µm, nm, mm, micron, ...; None means µm) to µm.

    Returns None for a missing, non-positive value or a unit that is not physical (pixel).
    """
    if value is None or not value > 0:
        return None
    factor = _LENGTH_TO_UM.get((unit or "µm").strip().lower())
    return None if factor is None else float(value) * factor


def time_to_h(value: float | None, unit: str | None) -> float | None:
    """Convert a time interval in `unit` (s, sec, min, h, ms, ...; None means s) to hours."""
    if value is None or not value > 0:
        return None
    factor = _TIME_TO_H.get((unit or "s").strip().lower())
    return None if factor is None else float(value) * factor


@dataclass
class MovieMetadata:
    """What a pipeline step needs to know about one movie.

    `axes` is the normalised order of the whole movie, always "TCYX" or "TCZYX": frames come
    out of `Movie.read_frame` as (C, [Z], Y, X). `shape_zyx` is a frame's spatial shape.
    `file_axes` records how the stored data were read (file order, possibly without T or C);
    pass it as `open_movie(meta.path, axes=meta.file_axes, ...)` to reopen a plain TIFF exactly.
    """

    path: str
    axes: str
    n_frames: int
    n_channels: int
    shape_zyx: tuple[int, ...]
    dtype: str
    channel_names: list[str] = field(default_factory=list)
    pixel_size_um: float | None = None
    z_step_um: float | None = None
    time_step_h: float | None = None
    file_axes: str | None = None  # axes of the stored data in file order, as read (e.g. "TZCYX")

    @property
    def ndim_spatial(self) -> int:
        """2 for (Y, X) frames, 3 for (Z, Y, X) frames."""
        return len(self.shape_zyx)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame as `Movie.read_frame` returns it: (C, [Z], Y, X)."""
        return (self.n_channels, *self.shape_zyx)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["shape_zyx"] = list(self.shape_zyx)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MovieMetadata:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["shape_zyx"] = tuple(int(s) for s in kwargs["shape_zyx"])
        kwargs["channel_names"] = list(kwargs.get("channel_names") or [])
        return cls(**kwargs)
