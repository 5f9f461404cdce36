"""Provenance of a results folder: what ran, on what, with which software and configuration.

`collect_provenance` gathers the record; `write_provenance` writes it as `provenance.json`
(atomically). Checksums are streamed, so large movies cost memory of one chunk only.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from marrowflow.errors import InputError
from marrowflow.io import write_json

KEY_PACKAGES = (
    "marrowflow", "numpy", "scipy", "pandas", "pyarrow", "scikit-image", "scikit-learn",
    "tifffile", "imagecodecs", "laptrack", "py-ctcmetrics", "cellpose", "torch", "snakemake",
    "snakemake-executor-plugin-slurm",
)
CHUNK_BYTES = 1 << 20


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of the config as canonical JSON (sorted keys, compact separators, UTF-8)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_checksums(inputs: Iterable[str | os.PathLike]) -> dict[str, str]:
    """sha256 per input file; a folder contributes every file below it (as `folder/relative`)."""
    sums: dict[str, str] = {}
    for item in inputs:
        path = Path(item)
        if path.is_file():
            sums[str(item)] = file_sha256(path)
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                sums[(Path(item) / file.relative_to(path)).as_posix()] = file_sha256(file)
        else:
            raise InputError(f"{path}: expected an input file or folder to checksum for "
                             "provenance, found nothing at that path. Fix: pass only inputs that "
                             "exist (the rule's declared inputs).")
    return sums


def git_revision(folder: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the git work tree holding `folder` (default: this package)."""
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"revision": rev, "dirty": bool(status.strip())}


def _iso(moment: datetime | float) -> str:
    """ISO 8601 in UTC from a datetime (naive = UTC) or a POSIX timestamp."""
    if isinstance(moment, datetime):
        stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    else:
        stamp = datetime.fromtimestamp(float(moment), tz=UTC)
    return stamp.astimezone(UTC).isoformat()


def collect_provenance(*, config: Mapping[str, Any], inputs: Iterable[str | os.PathLike],
                       command: str | Sequence[str], start: datetime | float,
                       end: datetime | float) -> dict[str, Any]:
    """The provenance record of one step or results folder.

    `inputs`: files or folders (folders are checksummed file by file); `command`: the command
    line (a list is joined shell-quoted); `start`/`end`: datetimes or POSIX timestamps.
    """
    return {
        "packages": package_versions(),
        "git": git_revision(),
        "config": json.loads(json.dumps(config, default=str)),
        "config_sha256": config_sha256(config),
        "inputs": input_checksums(inputs),
        "command": command if isinstance(command, str) else shlex.join(map(str, command)),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "start": _iso(start),
        "end": _iso(end),
    }


def write_provenance(folder: str | os.PathLike, *, config: Mapping[str, Any],
                     inputs: Iterable[str | os.PathLike], command: str | Sequence[str],
                     start: datetime | float, end: datetime | float,
                     name: str = "provenance.json") -> Path:
    """Collect the record and write it to `folder/name` atomically; return the path."""
    record = collect_provenance(config=config, inputs=inputs, command=command, start=start,
                                end=end)
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(record, path)
    return path
