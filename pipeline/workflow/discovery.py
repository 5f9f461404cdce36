"""Find the movies in a folder and give each a unique, safe sample name; an OME-Zarr plate gives
one sample per well and field (`<plate>_A1_0`)."""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from pathlib import Path

import pandas as pd

from marrowflow.errors import InputError
from marrowflow.io.ome_zarr import is_zarr, plate_fields

_MOVIE_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".ome.zarr", ".zarr", ".nd2", ".czi", ".lif", ".lsm",
                   ".ims", ".oib", ".oif", ".vsi")
_NUMBER = re.compile(r"(\d+)")
# Folders the rules write under results/ beside the samples' (workflow/rules/summary.smk, provenance.smk):
# no sample may be called so (compared without case, for case-insensitive file systems).
RESERVED_SAMPLE_NAMES = ("summary",)


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in _NUMBER.split(text)]


def sanitise_name(name: str) -> str:
    """Make `name` a safe sample name: accents dropped, other characters outside [A-Za-z0-9_.-]
    replaced by '_', runs of '_' collapsed, leading/trailing '._-' stripped ('sample' if empty)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.-]", "_", ascii_name)).strip("._-")
    return safe or "sample"


def sample_name(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """Sample name of a movie: the file name without its movie suffix (.ome.tif, .tif, .nd2, ...),
    or for a folder of frames its path below `root` joined with '_'; then sanitised."""
    path = Path(path)
    if path.is_dir() and not is_zarr(path):
        rel = path.relative_to(root) if root is not None and path != Path(root) else Path(path.name)
        return sanitise_name("_".join(rel.parts))
    name = path.name
    for suffix in _MOVIE_SUFFIXES:
        if name.lower().endswith(suffix):
            return sanitise_name(name[: -len(suffix)])
    return sanitise_name(path.stem)


def is_reserved(name: str) -> bool:
    """Whether `name` is the name of a folder the rules write under results/ (see RESERVED_SAMPLE_NAMES)."""
    return name.lower() in RESERVED_SAMPLE_NAMES


def unique_names(names: list[str]) -> list[str]:
    """Make names unique in order: the 2nd, 3rd ... use of a name get _2, _3 ... (skipping taken names).

    A reserved name (`summary`) counts as used already, so even its first use becomes `summary_2`.
    """
    taken = set(names)
    seen: dict[str, int] = {n: 1 for n in names if is_reserved(n)}
    out = []
    for name in names:
        if name not in seen:
            seen[name] = 1
            out.append(name)
            continue
        n = seen[name]
        while True:
            n += 1
            candidate = f"{name}_{n}"
            if candidate not in taken:
                break
        seen[name] = n
        taken.add(candidate)
        out.append(candidate)
    return out


def _warn_frame_like_files(files: list[Path], root: Path) -> None:
    """Warn when several files of one folder differ only in their numbers (t000.tif, t001.tif ...):
    they are probably the frames of one movie, which a folder pattern would find as one sample."""
    groups: dict[tuple[Path, str], int] = {}
    for path in files:
        key = (path.parent, re.sub(r"\d+", "#", path.name))
        groups[key] = groups.get(key, 0) + 1
    for (folder, shape), count in groups.items():
        if count >= 3:
            rel = folder.relative_to(root).as_posix()
            warnings.warn(f"{folder}: {count} files named like {shape!r} were found as {count} samples; "
                          f"if they are the frames of one movie, use a pattern naming the folder "
                          f"(e.g. {rel!r}) so that it counts as one sample.", stacklevel=3)


def expand_plates(table: pd.DataFrame, base_dir: str | os.PathLike = ".") -> pd.DataFrame:
    """Replace each row whose `path` is an OME-Zarr plate by one row per well and field: sample
    `<sample>_<row><column>_<field>` (e.g. plate_A1_0), path `<path>/<row>/<column>/<field>`;
    other columns are copied. Rows that are no plate stay as they are, in order."""
    rows = []
    for row in table.to_dict("records"):
        full = Path(base_dir) / row["path"]
        fields = plate_fields(full) if is_zarr(full) else None
        if fields is None:
            rows.append(row)
            continue
        if not fields:
            raise InputError(f"{full}: expected wells with images in the OME-Zarr plate, found none. Fix: "
                             "write the plate's wells and fields, or leave the plate out.")
        base = str(row["path"]).rstrip("/")
        rows += [{**row, "sample": sanitise_name(f"{row['sample']}_{name}"), "path": f"{base}/{sub}"}
                 for name, sub in fields]
    return pd.DataFrame(rows, columns=table.columns)


def discover_samples(folder: str | os.PathLike, pattern: str = "**/*.tif*") -> pd.DataFrame:
    """One row per movie under `folder` matching the glob `pattern`: columns `sample, path`.

    A matched file is one movie. A matched folder (e.g. pattern "*/01" for Cell Tracking
    Challenge data) is one movie made of per-frame TIFFs, and files inside it are not movies of
    their own; a matched OME-Zarr folder (e.g. pattern "*.ome.zarr") is one image, or for a plate
    one movie per well and field (`expand_plates`), and nothing inside it is matched again. Rows
    are in natural path order; sample names come from the file (or folder) names and are made
    unique with _2, _3 ... in that order (a movie called like a results folder, `summary.tif`,
    becomes `summary_2`). Hidden entries are ignored.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: expected a folder of movies, found "
                         f"{'a file' if root.exists() else 'nothing'} at this path. Fix: give the folder "
                         "that holds the movies.")
    matches = [p for p in root.glob(pattern)
               if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    zarrs = [p for p in matches if is_zarr(p)]
    matches = [p for p in matches if not any(z in p.parents for z in zarrs)]
    folders = [p for p in matches if p.is_dir()]
    files = [p for p in matches if p.is_file() and p.name.lower().endswith(_MOVIE_SUFFIXES)
             and not any(d in p.parents for d in folders)]
    movies = sorted(folders + files, key=lambda p: _natural_key(p.relative_to(root).as_posix()))
    if not movies:
        raise InputError(f"{root}: expected movies matching {pattern!r}, found none. Fix: check the "
                         "folder and the pattern (e.g. '**/*.ome.tif' for files, '*/01' for folders of "
                         "per-frame TIFFs).")
    _warn_frame_like_files(files, root)
    found = expand_plates(pd.DataFrame({"sample": [sample_name(p, root) for p in movies],
                                        "path": [str(p) for p in movies]}))
    found["sample"] = unique_names(list(found["sample"]))
    return found
