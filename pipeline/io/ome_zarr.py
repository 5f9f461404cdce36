"""OME-Zarr (NGFF 0.4 and 0.5): images read lazily frame by frame, plate/well layouts listed as
fields, label stacks written frame by frame as an NGFF label image with a multiscale pyramid.

The metadata is parsed and written by the `ome-zarr` package (`ZarrLocation`, `ome_zarr.writer`)
and the pixels go through `zarr`; nothing here parses NGFF JSON by hand. What is ours: mapping
the NGFF axes onto the readers' TCZYX letters with clear errors, and streaming a label stack
frame by frame (ome-zarr's writers take the whole array, or a dask graph, at once).

`zarr` and `ome_zarr` are imported where they are used: importing ome-zarr (dask and its models)
takes most of a second, which every rule job would pay through `marrowflow.io` otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from marrowflow.errors import InputError
from marrowflow.io.atomic import atomic_dir
from marrowflow.io.metadata import length_to_um, time_to_h

ZARR_SUFFIXES = (".ome.zarr", ".zarr")
_ZARR_MARKERS = ("zarr.json", ".zattrs", ".zgroup")
_AXIS_LETTERS = {"t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}
# pyramid: halve Y and X while the smaller side stays at least this big, up to MAX_LEVELS levels
MIN_LEVEL_SIZE = 64
MAX_LEVELS = 5
LABEL_NAME = "segmentation"  # the label image inside a written labels.ome.zarr: <path>/labels/segmentation

if TYPE_CHECKING:
    from ome_zarr.io import ZarrLocation


def is_zarr(path: str | os.PathLike) -> bool:
    """Whether `path` is a zarr group folder (v2 or v3 metadata inside)."""
    p = Path(path)
    return p.is_dir() and any((p / m).is_file() for m in _ZARR_MARKERS)


def _location(path: Path) -> ZarrLocation:
    from ome_zarr.io import parse_url

    try:
        location = parse_url(str(path), mode="r")
    except Exception as err:  # zarr raises many types on corrupt metadata
        raise InputError(f"{path}: expected readable zarr metadata, found an error ({err}). Fix: copy or "
                         "write the OME-Zarr again (an interrupted copy leaves broken JSON).") from err
    if location is None and is_zarr(path):
        raise InputError(f"{path}: expected readable zarr group metadata, found files zarr cannot read as a "
                         "group (corrupt JSON, e.g. an interrupted copy). Fix: copy or write the OME-Zarr again.")
    if location is None:
        raise InputError(f"{path}: expected an OME-Zarr group (zarr.json or .zattrs inside), found none. "
                         "Fix: point the path at the .zarr folder of an image (or a plate's field).")
    return location


def plate_fields(path: str | os.PathLike) -> list[tuple[str, str]] | None:
    """The fields of an OME-Zarr plate as (`<row><column>_<field>`, path below the plate, e.g.
    "A/1/0"), in the plate's well order; None when `path` is no plate."""
    path = Path(path)
    attrs = _location(path).root_attrs
    if "plate" not in attrs:
        return None
    fields = []
    for well in attrs["plate"].get("wells", []):
        row, column = well["path"].split("/")
        well_path = path / row / column
        images = _location(well_path).root_attrs.get("well", {}).get("images", []) if well_path.is_dir() else []
        if not images:
            raise InputError(f"{well_path}: expected the well of plate {path.name} listing its images "
                             "(well metadata), found none. Fix: rewrite the plate (e.g. with ome-zarr's "
                             "write_plate_metadata / write_well_metadata) or list the fields in a sample sheet.")
        fields += [(f"{row}{column}_{image['path']}", f"{row}/{column}/{image['path']}") for image in images]
    return fields


class OmeZarrSource:
    """The highest resolution of an OME-Zarr image, read one frame at a time (the movie readers'
    source interface: `axes`, `shape`, `dtype`, `file_metadata`, `read(t)`, `close()`)."""

    def __init__(self, path: Path, channel_names: Sequence[str] | None = None):
        self.path = path
        location = _location(path)
        attrs = location.root_attrs
        if "plate" in attrs:
            raise InputError(f"{path}: expected an OME-Zarr image, found a plate. Fix: list the movies with "
                             "discover.folder (one sample per well and field, e.g. <plate>_A1_0) or give "
                             "a field's path (<plate>/A/1/0).")
        if "multiscales" not in attrs:
            raise InputError(f"{path}: expected OME-Zarr image metadata (multiscales), found a zarr group "
                             f"with keys {sorted(attrs) or 'none'}. Fix: convert the image to OME-Zarr "
                             "(e.g. ome_zarr.writer.write_image or bioformats2raw) or give its image group.")
        multiscale = attrs["multiscales"][0]
        self.axes = self._axes(multiscale.get("axes"))
        dataset = multiscale["datasets"][0]
        import zarr

        self.data = zarr.open_array(location.store, path=dataset["path"], mode="r")
        self.shape = tuple(int(s) for s in self.data.shape)
        if len(self.shape) != len(self.axes):
            raise InputError(f"{path}: expected {len(self.axes)} dimensions ({self.axes}) in its highest "
                             f"resolution {dataset['path']!r}, found shape {self.shape}. Fix: rewrite the image.")
        self.dtype = np.dtype(self.data.dtype)
        n_channels = dict(zip(self.axes, self.shape)).get("C", 1)
        if "C" not in self.axes and channel_names is not None and len(channel_names) > 1:
            raise InputError(f"{path}: expected a channel axis for the {len(channel_names)} channels configured "
                             f"({', '.join(channel_names)}), found axes {self.axes!r} without one. Fix: configure "
                             "one channel for this sample (sample sheet column channels) or write the image "
                             "with a 'c' axis.")
        self.file_metadata = self._metadata(multiscale, dataset, attrs, n_channels)

    def _axes(self, axes: list | None) -> str:
        if not axes:
            raise InputError(f"{self.path}: expected named axes in the multiscales metadata (NGFF 0.4 or "
                             "0.5), found none (NGFF 0.1-0.3). Fix: rewrite the image with a current "
                             "ome-zarr (ome_zarr.writer.write_image).")
        names = [a["name"] if isinstance(a, dict) else a for a in axes]
        unknown = [n for n in names if str(n).lower() not in _AXIS_LETTERS]
        if unknown:
            raise InputError(f"{self.path}: expected axes named from t, c, z, y, x, found {names} "
                             f"({', '.join(map(str, unknown))} unknown). Fix: rewrite the image with "
                             "those axes (e.g. a stage position as separate images of a plate).")
        self.units = {_AXIS_LETTERS[str(a["name"]).lower()]: a.get("unit")
                      for a in axes if isinstance(a, dict)}
        return "".join(_AXIS_LETTERS[str(n).lower()] for n in names)

    def _metadata(self, multiscale: dict, dataset: dict, attrs: dict, n_channels: int) -> dict:
        scale = np.ones(len(self.axes))
        for transforms in (dataset.get("coordinateTransformations", []),
                           multiscale.get("coordinateTransformations", [])):
            for transform in transforms:
                if transform.get("type") == "scale":
                    scale = scale * np.asarray(transform["scale"], dtype=float)
        self.scale = tuple(float(s) for s in scale)
        sizes = dict(zip(self.axes, scale))

        def length(axis: str) -> float | None:
            """µm per pixel; a scale without a unit is taken as µm (as NGFF's examples), 1 without one as unknown."""
            if axis not in sizes or (self.units.get(axis) is None and sizes[axis] == 1.0):
                return None
            return length_to_um(float(sizes[axis]), self.units.get(axis))

        channels = attrs.get("omero", {}).get("channels", [])
        names = [str(c.get("label") or "") for c in channels]
        return {
            "pixel_size_um": length("X"),
            "z_step_um": length("Z"),
            "time_step_h": time_to_h(float(sizes["T"]), self.units["T"]) if self.units.get("T") else None,
            "channel_names": names if len(names) == n_channels and all(names) and len(set(names)) == len(names)
            else None,
        }

    def read(self, t: int) -> tuple[np.ndarray, str]:
        """Frame t in the stored axes without T (reads only the chunks holding it)."""
        if "T" not in self.axes:
            return np.asarray(self.data[...]), self.axes
        index = tuple(t if a == "T" else slice(None) for a in self.axes)
        return np.asarray(self.data[index]), self.axes.replace("T", "")

    def close(self) -> None:
        """zarr keeps no file open between reads."""


class OmeZarrLabels:
    """A label stack stored as an OME-Zarr label image (t, [z], y, x): the `labels/segmentation`
    that `OmeZarrLabelWriter` writes, or `path` itself; the highest resolution read per frame."""

    def __init__(self, path: Path):
        if not is_zarr(path):
            raise InputError(f"{path}: expected an OME-Zarr label image, found no zarr group. Fix: check the "
                             "path or rerun the segmentation step.")
        source = OmeZarrSource(path / "labels" / LABEL_NAME if (path / "labels" / LABEL_NAME).is_dir() else path)
        if source.axes not in ("TYX", "TZYX"):
            raise InputError(f"{path}: expected labels with axes t[z]yx, found {source.axes!r}. Fix: "
                             "save labels with marrowflow.io.LabelStackWriter.")
        self.path, self._source = path, source
        self.n_frames = source.shape[0]
        self.shape_zyx = source.shape[1:]

    def read_frame(self, t: int) -> np.ndarray:
        """Labels of frame `t` as uint32."""
        if not 0 <= t < self.n_frames:
            raise IndexError(f"{self.path}: frame {t} out of range 0..{self.n_frames - 1}")
        return self._source.read(t)[0].astype(np.uint32, copy=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.read_frame(t) for t in range(self.n_frames))

    def __len__(self) -> int:
        return self.n_frames

    @property
    def scale(self) -> tuple[float, ...]:
        """(t, [z], y, x) scale of the highest resolution (its coordinateTransformations)."""
        return self._source.scale

    def close(self) -> None:
        """zarr keeps no file open between reads."""

    def __enter__(self) -> OmeZarrLabels:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pyramid_shapes(shape_zyx: Sequence[int]) -> list[tuple[int, ...]]:
    """The frame shape of each pyramid level: Y and X halved (rounded up) per level, Z kept."""
    shapes = [tuple(int(s) for s in shape_zyx)]
    while len(shapes) < MAX_LEVELS and min(shapes[-1][-2:]) // 2 >= MIN_LEVEL_SIZE:
        *z, y, x = shapes[-1]
        shapes.append((*z, (y + 1) // 2, (x + 1) // 2))
    return shapes


class OmeZarrLabelWriter:
    """Write a (T, [Z], Y, X) uint32 label stack frame by frame as an OME-Zarr (NGFF 0.5) label
    image `<path>/labels/segmentation` (labels nest under an image's `labels` group in NGFF; the
    container holds no image of its own): one chunk per frame and level, a pyramid of
    nearest-neighbour halvings in Y and X (`pyramid_shapes`).

    Written into a temporary sibling folder; the NGFF metadata is added only once every frame is
    in, then the folder is renamed onto `path`, so a killed job leaves nothing under `path` (and
    its temporary folder holds no multiscales metadata). `scale` is (t, [z], y, x) in hours and
    µm; None (or a None entry) where unknown: scale 1 and no unit on that axis.
    """

    def __init__(self, path: str | os.PathLike, n_frames: int, shape_zyx: Sequence[int], *,
                 scale: Sequence[float | None] | None = None):
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.shape_zyx = tuple(int(s) for s in shape_zyx)
        self.scale = tuple(scale) if scale is not None else (None,) * (1 + len(self.shape_zyx))
        if len(self.scale) != 1 + len(self.shape_zyx):
            raise ValueError(f"{path}: scale must give t and each of {len(self.shape_zyx)} spatial axes, "
                             f"got {self.scale}")
        self.shapes = pyramid_shapes(self.shape_zyx)

    def __enter__(self) -> OmeZarrLabelWriter:
        import zarr

        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_dir(self.path))
        try:
            root = zarr.open_group(zarr.storage.LocalStore(tmp), mode="w", zarr_format=3)
            self._labels = root.create_group("labels")
            self._image = self._labels.create_group(LABEL_NAME)
            self.arrays = [self._image.create_array(str(level), shape=(self.n_frames, *shape), chunks=(1, *shape),
                                                    dtype=np.uint32, fill_value=0,
                                                    compressors=zarr.codecs.BloscCodec(cname="zstd", clevel=5))
                           for level, shape in enumerate(self.shapes)]
        except BaseException:
            self._stack.close()
            raise
        return self

    def write(self, t: int, labels: np.ndarray) -> None:
        """Write frame `t` at every pyramid level."""
        for level, array in enumerate(self.arrays):
            array[t] = labels if level == 0 else labels[..., :: 2 ** level, :: 2 ** level]

    def _write_metadata(self) -> None:
        names = "t" + "zyx"[-len(self.shape_zyx):]
        kinds = {"t": ("time", "hour")}
        axes = [{"name": a, "type": kinds.get(a, ("space",))[0],
                 **({"unit": kinds.get(a, (None, "micrometer"))[1]} if s is not None else {})}
                for a, s in zip(names, self.scale)]
        base = [1.0 if s is None else float(s) for s in self.scale]
        datasets = [{"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [
            s * (2 ** level if a in "yx" else 1) for a, s in zip(names, base)]}]}
            for level in range(len(self.shapes))]
        from ome_zarr.format import FormatV05
        from ome_zarr.writer import write_label_metadata, write_multiscales_metadata

        fmt = FormatV05()
        write_multiscales_metadata(self._image, datasets, fmt=fmt, axes=axes, name=LABEL_NAME)
        write_label_metadata(self._labels, LABEL_NAME, fmt=fmt)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self._write_metadata()
            except BaseException as err:
                self._stack.__exit__(type(err), err, err.__traceback__)
                raise
        self._stack.__exit__(exc_type, exc, tb)
