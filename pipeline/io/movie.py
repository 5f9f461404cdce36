"""Lazy movie readers: OME-TIFF, ImageJ hyperstacks, plain multi-page TIFF, per-frame TIFF folders,
OME-Zarr images (`marrowflow.io.ome_zarr`) and vendor formats (through bioio). Frames come out one
at a time as (C, [Z], Y, X)."""

from __future__ import annotations

import itertools
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import tifffile

from marrowflow.errors import InputError
from marrowflow.io.checks import check_frame
from marrowflow.io.metadata import MovieMetadata, length_to_um, time_to_h
from marrowflow.io.ome_zarr import ZARR_SUFFIXES, OmeZarrSource, is_zarr

TIFF_SUFFIXES = (".tif", ".tiff")
VENDOR_SUFFIXES = (".nd2", ".czi", ".lif", ".lsm", ".oib", ".oif", ".ims", ".vsi")
_KNOWN = "TCZYX"
_FRAME_NUMBER = re.compile(r"(\d+)(?!.*\d)")


class _Source(Protocol):
    axes: str            # axes of the stored data, letters from TCZYX
    shape: tuple[int, ...]

    def read(self, t: int) -> tuple[np.ndarray, str]: ...

    def close(self) -> None: ...


def _tiff_error(path: Path, err: Exception) -> InputError:
    if "imagecodecs" in str(err):
        return InputError(f"{path}: expected a TIFF codec to decompress the frames, found the "
                          f"imagecodecs package missing ({err}). Fix: pip install imagecodecs.")
    return InputError(f"{path}: expected a readable TIFF, found a truncated or corrupt file ({err}). "
                      "Fix: export or copy the file again.")


def _check_complete(page: tifffile.TiffPage, path: Path, size: int) -> None:
    """Raise InputError when a page's pixel data extends past the end of the file."""
    ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts) if c]
    if ends and max(ends) > size:
        raise InputError(f"{path}: expected {max(ends)} bytes of image data, found a file of {size} bytes "
                         "(truncated, e.g. an interrupted copy). Fix: copy or export the file again.")


def _validate_axes(axes: str, path: Path) -> str:
    axes = axes.upper()
    bad = set(axes) - set(_KNOWN)
    if bad or len(set(axes)) != len(axes) or not {"Y", "X"} <= set(axes):
        raise InputError(f"{path}: expected axes made of distinct letters from TCZYX including Y and X, "
                         f"found {axes!r}. Fix: give axes (config key image.axes) such as 'TCYX' or 'TZYX'.")
    return axes


_READINGS = {"T": "{n} frames", "C": "{n} channels", "Z": "{n} z-planes"}


def _axes_readings(shape: tuple[int, ...], one_frame: bool) -> list[str]:
    """Likely axes of a plain TIFF of `shape` (image planes last; stack axes in TCZ or ImageJ's TZC
    order), each with what it would mean."""
    n_stack = len(shape) - 2
    readings = []
    for combo in itertools.permutations("CZ" if one_frame else "TCZ", n_stack):
        order = "".join(a for a in "TCZ" if a in combo), "".join(a for a in "TZC" if a in combo)
        if "".join(combo) in order:
            parts = [_READINGS[a].format(n=n) for a, n in zip(combo, shape)]
            what = "a movie of" if "T" in combo else "one frame of"
            readings.append(f"{''.join(combo)}YX ({what} {' x '.join(parts)})")
    return readings


def _ambiguous_axes(path: Path, shape: tuple[int, ...], one_frame: bool, flat: bool,
                    planes_last: bool = True) -> InputError:
    """The error for a plain TIFF whose axes neither the file nor image.axes states; `flat`: a
    multi-page TIFF that does not even state its shape (its pages may hold several axes);
    `planes_last`: Y and X are its last two dimensions (not so for samples per pixel, e.g. RGB)."""
    plausible = planes_last and 0 < len(shape) - 2 <= 3 - one_frame
    readings = _axes_readings(shape, one_frame) if plausible else []
    could_be = f"; it could be {', or '.join(readings)}" if readings else ""
    if readings and flat and len(shape) == 3:
        could_be += (", or several of these axes one after another in its pages (e.g. "
                     f"{'CZYX' if one_frame else 'TCYX'}, with the channels listed in the config)")
    where = " (one frame of the folder)" if one_frame else ""
    example = {3: "ZYX", 4: "CZYX" if one_frame else "TZYX"}.get(len(shape), "CZYX" if one_frame else "TCZYX")
    return InputError(
        f"{path}: expected axes in the file's metadata (OME-TIFF, ImageJ hyperstack or tifffile "
        f"axes) or in the config, found a plain TIFF of shape {shape} without axes{where}{could_be}. "
        f"Fix: set image.axes in config.yaml to the right reading, one letter per dimension in file "
        f"order (e.g. `image: {{axes: {example}}}`; a single ZYX or CZYX stack is a one-frame movie), "
        "or save the file as OME-TIFF or ImageJ hyperstack with its axes.")


def _check_stated_axes(path: Path, stated: str, shape: tuple[int, ...], given: str | None) -> None:
    """Raise InputError when `given` (image.axes) contradicts the axes a file states: an axis of
    the file longer than 1 that `given` lacks (e.g. the file says ZYX, the config TYX). Order and
    singleton axes are not compared: the file's own order is used."""
    if given is None:
        return
    given = _validate_axes(given, path)
    sizes = dict(zip(stated, shape))
    missing = [a for a in stated if sizes.get(a, 1) > 1 and a not in given]
    if missing:
        extra = [a for a in given if a not in stated and a not in "YX"]
        instead = f" (image.axes has {', '.join(extra)} instead)" if extra else ""
        raise InputError(
            f"{path}: expected image.axes {given!r} to agree with the axes the file states, found "
            f"the file's axes {stated!r} (shape {shape}): its {', '.join(missing)} "
            f"{'axis is' if len(missing) == 1 else 'axes are'} missing from image.axes{instead}. "
            f"Fix: remove image.axes from config.yaml (files that state their axes are read with "
            f"them) or set it to {stated!r}.")


def _normalise(data: np.ndarray, axes: str) -> np.ndarray:
    """Transpose frame data with `axes` (no T) to (C, [Z], Y, X)."""
    if "C" not in axes:
        data, axes = data[np.newaxis], "C" + axes
    order = [axes.index(a) for a in "CZYX" if a in axes]
    return np.ascontiguousarray(np.transpose(data, order))


def _tiff_axes_from_file(series: tifffile.TiffPageSeries, tf: tifffile.TiffFile) -> str | None:
    """The series' axes when the file states them (OME, ImageJ, tifffile 'shaped' with axes), else None."""
    axes = series.axes.upper()
    if "S" in axes and "C" not in axes:
        axes = axes.replace("S", "C")
    shaped_axes = tf.is_shaped and bool((tf.shaped_metadata or [{}])[0].get("axes"))
    stated = tf.is_ome or tf.is_imagej or shaped_axes or axes == "YX"
    if stated and set(axes) <= set(_KNOWN) and len(set(axes)) == len(axes):
        return axes
    return None


def _resolve_shape(shape: tuple[int, ...], axes: str, channel_names: Sequence[str] | None,
                   path: Path) -> tuple[int, ...]:
    """Shape of the data seen with `axes`; unflattens a plain page stack (e.g. T*C pages).

    A C in `axes` for a single channel (one channel name) may be absent from the data.
    """
    if len(axes) == len(shape):
        return shape
    if "C" in axes and channel_names is not None and len(channel_names) == 1 and len(axes) == len(shape) + 1:
        squeezed = list(shape)
        squeezed.insert(axes.index("C"), 1)
        return tuple(squeezed)
    n_planes = int(np.prod(shape[:-2]))
    stack_axes = axes[:-2]
    if len(axes) > len(shape) and axes[-2:] in ("YX", "XY") and len(shape) >= 2:
        sizes = {"C": len(channel_names)} if channel_names else {}
        unknown = [a for a in stack_axes if a not in sizes]
        if len(unknown) <= 1:
            known = int(np.prod([sizes[a] for a in stack_axes if a in sizes]))
            if unknown and n_planes % known == 0:
                sizes[unknown[0]] = n_planes // known
            if int(np.prod([sizes[a] for a in stack_axes])) == n_planes:
                return tuple(sizes[a] for a in stack_axes) + tuple(shape[-2:])
    raise InputError(f"{path}: expected data with the {len(axes)} dimensions that axes {axes!r} name, "
                     f"found data of shape {shape} ({len(shape)} dimensions). Fix: give axes (config key "
                     "image.axes) with one letter per dimension, in file order (e.g. 'TYX' for a plain "
                     "stack of 2D frames).")


class _TiffSource:
    """One TIFF file (OME, ImageJ, shaped or plain), read page by page."""

    def __init__(self, path: Path, axes: str | None, channel_names: Sequence[str] | None, *,
                 one_frame: bool = False):
        self.path = path
        self.tf = None
        self.one_frame = one_frame  # a per-frame file of a folder: no T axis in it
        try:
            self._open(axes, channel_names)
        except BaseException:
            self.close()
            raise

    def _open(self, axes: str | None, channel_names: Sequence[str] | None) -> None:
        path = self.path
        try:
            self.tf = tifffile.TiffFile(path)
            series = self.tf.series[0]
            size = path.stat().st_size
            _check_complete(series.pages[0] if len(series.pages) else self.tf.pages[0], path, size)
            last = series.pages[len(series.pages) - 1]
            if last is not None and hasattr(last, "dataoffsets"):
                _check_complete(last, path, size)
        except InputError:
            raise
        except Exception as err:  # tifffile raises many types on a corrupt file
            raise _tiff_error(path, err) from err
        self.series = series
        self.dtype = np.dtype(series.dtype)
        if self.tf.is_ome and len(self.tf.series) > 1:
            warnings.warn(f"{path}: holds {len(self.tf.series)} OME images (e.g. stage positions); only the "
                          "first is read. Split the file (one movie per position) to analyse the others.",
                          stacklevel=4)
        file_axes = _tiff_axes_from_file(series, self.tf)
        shape = tuple(series.shape)
        if file_axes is not None:
            _check_stated_axes(path, file_axes, shape, axes)
            self.axes = file_axes
        elif axes is not None:
            self.axes = _validate_axes(axes, path)
            if self.axes[-2:] not in ("YX", "XY"):
                raise InputError(f"{path}: expected axes ending with Y and X (a TIFF stores image planes "
                                 f"as its last two dimensions), found {self.axes!r}, which puts Y and X on "
                                 f"dimensions that are not the image planes (data shape {shape}). Fix: list "
                                 "the axes in file order ending with YX (e.g. 'TCYX').")
        elif len(shape) == 2:
            self.axes = "YX"
        else:
            raise _ambiguous_axes(path, shape, self.one_frame, flat=not self.tf.is_shaped,
                                  planes_last=series.axes.upper().endswith("YX"))
        self.shape = _resolve_shape(shape, self.axes, channel_names, path)
        n_pages = len(series.pages)
        self.n_grid = next((k for k in range(len(self.shape), -1, -1)
                            if int(np.prod(self.shape[:k])) == n_pages), None)
        if self.n_grid is None:
            raise InputError(f"{path}: expected one TIFF page per plane, found {n_pages} pages for data "
                             f"of shape {self.shape} with axes {self.axes!r}. Fix: save the movie with one "
                             "page per frame/plane (e.g. via Fiji 'Save As > Tiff' or tifffile).")
        self.page_index = np.arange(n_pages).reshape(self.shape[:self.n_grid])

    @property
    def file_metadata(self) -> dict:
        """Pixel size, z step, time step and channel names that the file itself states."""
        if self.tf.is_ome:
            return _ome_metadata(self.tf.ome_metadata)
        if self.tf.is_imagej:
            return _imagej_metadata(self.tf)
        return {}

    def read(self, t: int) -> tuple[np.ndarray, str]:
        """Frame t in the stored axes without T; reads only the pages holding frame t."""
        idx, axes = self.page_index, self.axes
        t_in_grid = "T" in axes and axes.index("T") < self.n_grid
        if t_in_grid:
            idx = np.take(idx, t, axis=axes.index("T"))
        try:
            data = self.tf.asarray(key=[int(i) for i in idx.ravel()], series=0)
        except Exception as err:
            raise _tiff_error(self.path, err) from err
        data = data.reshape(idx.shape + self.shape[self.n_grid:])
        if "T" in axes and not t_in_grid:  # frames share a page (e.g. 3 frames stored as RGB)
            data = np.take(data, t, axis=axes.index("T"))
        return data, axes.replace("T", "")

    def close(self) -> None:
        if self.tf is not None:
            self.tf.close()


def _ome_metadata(xml: str) -> dict:
    root = ET.fromstring(xml)
    pixels = root.find("./{*}Image/{*}Pixels")
    if pixels is None:
        return {}
    get = pixels.attrib.get

    def num(key: str) -> float | None:
        return float(get(key)) if get(key) not in (None, "") else None

    names = [c.attrib.get("Name") for c in pixels.findall("./{*}Channel")]
    time_step = time_to_h(num("TimeIncrement"), get("TimeIncrementUnit"))
    return {
        "pixel_size_um": length_to_um(num("PhysicalSizeX"), get("PhysicalSizeXUnit")),
        "z_step_um": length_to_um(num("PhysicalSizeZ"), get("PhysicalSizeZUnit")),
        "time_step_h": time_step if time_step is not None else _ome_plane_time_step(pixels),
        "channel_names": names if names and all(names) else None,
    }


def _ome_plane_time_step(pixels: ET.Element) -> float | None:
    """Median interval between frames from the Plane elements' DeltaT (first channel and plane)."""
    times = {}
    for plane in pixels.findall("./{*}Plane"):
        a = plane.attrib
        factor = time_to_h(1.0, a.get("DeltaTUnit"))
        if a.get("DeltaT") and factor and a.get("TheC", "0") == "0" and a.get("TheZ", "0") == "0":
            times[int(a.get("TheT", "0"))] = float(a["DeltaT"]) * factor
    steps = np.diff([times[t] for t in sorted(times)]) / np.diff(sorted(times)) if len(times) > 1 else []
    return float(np.median(steps)) if len(steps) and np.median(steps) > 0 else None


def _imagej_metadata(tf: tifffile.TiffFile) -> dict:
    meta = tf.imagej_metadata or {}
    unit = meta.get("unit")
    pixel = None
    tag = tf.pages[0].tags.get("XResolution")
    if tag is not None and unit is not None:
        num, den = tag.value
        if num > 0 and den > 0 and (num, den) != (1, 1):
            pixel = length_to_um(den / num, unit)
    n_channels = int(meta.get("channels", 1))
    labels = meta.get("Labels")
    names = list(labels[:n_channels]) if isinstance(labels, list) and len(labels) >= n_channels else None
    return {
        "pixel_size_um": pixel,
        "z_step_um": length_to_um(meta.get("spacing"), unit) if unit else None,
        "time_step_h": time_to_h(meta.get("finterval"), meta.get("tunit")),
        "channel_names": names if names and all(names) and len(set(names)) == len(names) else None,
    }


def _frame_number(path: Path) -> int | None:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    match = _FRAME_NUMBER.search(name)
    return int(match.group(1)) if match else None


class _FolderSource:
    """A folder of per-frame TIFFs (e.g. the Cell Tracking Challenge's t000.tif, t001.tif, ...)."""

    def __init__(self, folder: Path, axes: str | None, channel_names: Sequence[str] | None):
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        frames = [p for p in entries if p.is_file() and p.suffix.lower() in TIFF_SUFFIXES]
        others = [p.name for p in entries if p not in frames]
        if others:
            raise InputError(f"{folder}: expected only per-frame TIFF files (t000.tif, t001.tif, ...), found "
                             f"other entries: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}. "
                             "Fix: move them out of the folder.")
        if not frames:
            raise InputError(f"{folder}: expected per-frame TIFF files (t000.tif, ...), found none. "
                             "Fix: point the sample's path at the folder holding the frames.")
        numbers = [_frame_number(p) for p in frames]
        if None in numbers:
            bad = frames[numbers.index(None)]
            raise InputError(f"{bad}: expected a frame number in the file name (e.g. t007.tif), found none. "
                             "Fix: rename the frames with their frame numbers.")
        by_number: dict[int, Path] = {}
        for n, p in zip(numbers, frames):
            if n in by_number:
                raise InputError(f"{folder}: expected one file per frame number, found {by_number[n].name} "
                                 f"and {p.name} both numbered {n}. Fix: remove one of them.")
            by_number[n] = p
        first, last = min(by_number), max(by_number)
        missing = sorted(set(range(first, last + 1)) - set(by_number))
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise InputError(f"{folder}: expected consecutive frame numbers {first}..{last}, found "
                             f"{len(missing)} missing: {shown}. Fix: restore the missing frames, or "
                             "renumber the files if the gap is intended.")
        self.paths = [by_number[n] for n in range(first, last + 1)]
        self.folder = folder
        first_src = _TiffSource(self.paths[0], axes.replace("T", "") if axes else None, channel_names,
                                one_frame=True)
        try:
            frame_axes, frame_shape = first_src.axes, first_src.shape
            self.stored_shape = tuple(first_src.series.shape)
            self.dtype, self._file_metadata = first_src.dtype, first_src.file_metadata
        finally:
            first_src.close()
        if "T" in frame_axes:
            raise InputError(f"{self.paths[0]}: expected one frame per file, found a T axis "
                             f"(shape {frame_shape}). Fix: give the movie file itself, not its folder.")
        for p in self.paths[1:]:
            self._check_like_first(p, frame_shape)
        self.frame_axes = frame_axes
        self.frame_shape = frame_shape
        self.axes = "T" + frame_axes
        self.shape = (len(self.paths), *frame_shape)

    def _check_like_first(self, path: Path, shape: tuple[int, ...]) -> None:
        try:
            with tifffile.TiffFile(path) as tf:
                series = tf.series[0]
                found, dtype = tuple(series.shape), np.dtype(series.dtype)
                _check_complete(series.pages[0], path, path.stat().st_size)
        except InputError:
            raise
        except Exception as err:
            raise _tiff_error(path, err) from err
        if found != self.stored_shape or dtype != self.dtype:
            raise InputError(f"{path}: expected a frame like {self.paths[0].name} (shape {self.stored_shape}, "
                             f"{self.dtype}), found shape {found}, {dtype}. Fix: all frames of a movie must "
                             "have the same size and pixel type; re-export the odd one.")

    @property
    def file_metadata(self) -> dict:
        return self._file_metadata

    def read(self, t: int) -> tuple[np.ndarray, str]:
        path = self.paths[t]
        try:
            with tifffile.TiffFile(path) as tf:
                data = tf.series[0].asarray()
        except Exception as err:
            raise _tiff_error(path, err) from err
        return data.reshape(self.frame_shape), self.frame_axes

    def close(self) -> None:
        """Nothing stays open between frames."""


class _BioioSource:
    """Vendor formats (ND2, CZI, LIF, ...) through bioio; dimensions are always TCZYX there."""

    def __init__(self, path: Path):
        try:
            from bioio import BioImage
        except ImportError as err:
            raise InputError(f"{path}: expected the optional extra 'vendor' (bioio) to read {path.suffix} "
                             "files, found bioio not installed. Fix: pip install 'marrowflow[vendor]' plus the "
                             "bioio reader for the format (e.g. bioio-nd2, bioio-czi, bioio-lif), or "
                             "convert the file to OME-TIFF (e.g. with bfconvert).") from err
        try:
            self.image = BioImage(path)
            self.data = self.image.dask_data
        except Exception as err:
            raise InputError(f"{path}: expected a movie bioio can read, found an error ({err}). Fix: install "
                             "the bioio plugin for this format or convert the file to OME-TIFF.") from err
        self.axes = "TCZYX" if self.data.shape[2] > 1 else "TCYX"
        self.shape = tuple(self.data.shape) if "Z" in self.axes else tuple(
            s for i, s in enumerate(self.data.shape) if i != 2)
        self.dtype = np.dtype(self.data.dtype)

    @property
    def file_metadata(self) -> dict:
        sizes = self.image.physical_pixel_sizes
        names = [str(c) for c in (self.image.channel_names or [])]
        return {"pixel_size_um": sizes.X, "z_step_um": sizes.Z if "Z" in self.axes else None,
                "time_step_h": None, "channel_names": names or None}

    def read(self, t: int) -> tuple[np.ndarray, str]:
        data = np.asarray(self.data[t].compute())
        return (data if "Z" in self.axes else data[:, 0]), self.axes[1:]

    def close(self) -> None:
        """bioio keeps no handle open between reads."""


class Movie:
    """A movie opened lazily: `read_frame(t)` reads one frame as (C, [Z], Y, X) from disk."""

    def __init__(self, metadata: MovieMetadata, source: _Source):
        self.metadata = metadata
        self._source = source

    @property
    def n_frames(self) -> int:
        return self.metadata.n_frames

    def read_frame(self, t: int) -> np.ndarray:
        """Frame `t` (0-based) as (C, [Z], Y, X); warns on an all-zero frame, raises on NaN."""
        if not 0 <= t < self.n_frames:
            raise IndexError(f"{self.metadata.path}: frame {t} out of range 0..{self.n_frames - 1}")
        data, axes = self._source.read(t)
        frame = _normalise(data, axes)
        check_frame(frame, self.metadata.path, t)
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.read_frame(t) for t in range(self.n_frames))

    def __len__(self) -> int:
        return self.n_frames

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Movie:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stating_axes(source: _Source, path: Path, axes: str | None) -> _Source:
    """`source` (whose format always states its axes) once `axes` is checked against them."""
    try:
        _check_stated_axes(path, source.axes, source.shape, axes)
    except BaseException:
        source.close()
        raise
    return source


def _open_source(path: Path, axes: str | None, channel_names: Sequence[str] | None) -> _Source:
    if is_zarr(path) or path.name.lower().endswith(ZARR_SUFFIXES):
        return _stating_axes(OmeZarrSource(path, channel_names), path, axes)
    if path.is_dir():
        return _FolderSource(path, axes, channel_names)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return _TiffSource(path, axes, channel_names)
    if suffix in VENDOR_SUFFIXES:
        return _stating_axes(_BioioSource(path), path, axes)
    raise InputError(f"{path}: expected a TIFF/OME-TIFF file, an OME-Zarr, a folder of per-frame TIFFs or a vendor "
                     f"file ({', '.join(VENDOR_SUFFIXES)}), found a {suffix or 'suffix-less'} file. Fix: "
                     "convert the movie to OME-TIFF or point the sample's path at the right file.")


def open_movie(path: str | os.PathLike, *, axes: str | None = None,
               channel_names: Sequence[str] | None = None, pixel_size_um: float | None = None,
               time_step_h: float | None = None, z_step_um: float | None = None) -> Movie:
    """Open a movie lazily (nothing but headers is read here): a TIFF file, a folder of per-frame
    TIFFs, an OME-Zarr image (its highest resolution) or a vendor file.

    `axes` (letters of TCZYX in file order) is used only when the file does not state its axes
    (plain TIFF); a single stack without T (ZYX, CZYX) is a one-frame movie. A plain TIFF of more
    than two dimensions without `axes` is an InputError listing the readings it could have, and
    `axes` contradicting the axes a file states is one too (`_check_stated_axes`).
    `pixel_size_um`, `time_step_h`, `z_step_um` fill in what the file's metadata lacks; the file
    wins when it states them. `channel_names`, when given, name the channels (they win over the
    file's names) and must match the file's channel count.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: expected a movie file or a folder of frames, found nothing at this "
                         "path. Fix: correct the sample's path (a relative path is taken from the working "
                         "directory).")
    source = _open_source(path, axes, channel_names)
    try:
        meta = _build_metadata(path, source, channel_names, pixel_size_um, time_step_h, z_step_um)
    except BaseException:
        source.close()
        raise
    return Movie(meta, source)


def reopen_movie(meta: MovieMetadata, path: str | os.PathLike | None = None) -> Movie:
    """Open the movie that `meta` (a sample's metadata.json) describes, exactly as ingest read it:
    the stored axes, the channel names, and the pixel size, time and z step from the config's
    fallbacks. `path` replaces `meta.path` (e.g. resolved against the project folder)."""
    return open_movie(meta.path if path is None else path, axes=meta.file_axes,
                      channel_names=meta.channel_names, pixel_size_um=meta.pixel_size_um,
                      time_step_h=meta.time_step_h, z_step_um=meta.z_step_um)


def _build_metadata(path: Path, source: _Source, channel_names: Sequence[str] | None,
                    pixel_size_um: float | None, time_step_h: float | None,
                    z_step_um: float | None) -> MovieMetadata:
    sizes = dict(zip(source.axes, source.shape))
    n_channels = sizes.get("C", 1)
    spatial = tuple(sizes[a] for a in "ZYX" if a in sizes)
    found = source.file_metadata
    if channel_names is not None and len(channel_names) != n_channels:
        raise InputError(f"{path}: expected {len(channel_names)} channels ({', '.join(channel_names)}), "
                         f"found {n_channels} (axes {source.axes!r}, shape {source.shape}). Fix: give one "
                         "channel name per channel (config key channels, or a sample's own channel names), "
                         "or correct the axes (image.axes) if the channel axis is in the wrong place.")
    names = list(channel_names) if channel_names is not None else (
        found.get("channel_names") if found.get("channel_names") and len(found["channel_names"]) == n_channels
        else [f"c{i}" for i in range(n_channels)])
    return MovieMetadata(
        path=str(path),
        axes="TC" + ("Z" if "Z" in sizes else "") + "YX",
        file_axes=source.axes,
        n_frames=sizes.get("T", 1),
        n_channels=n_channels,
        shape_zyx=spatial,
        dtype=str(source.dtype),
        channel_names=[str(n) for n in names],
        pixel_size_um=found.get("pixel_size_um") or pixel_size_um,
        z_step_um=(found.get("z_step_um") or z_step_um) if "Z" in sizes else None,
        time_step_h=found.get("time_step_h") or time_step_h,
    )
