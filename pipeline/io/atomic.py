"""Atomic file writing: write to a temporary name in the same folder, fsync, then rename."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _temp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"^\.tmp\.(\d+)\.([0-9a-f]{8})\.[0-9a-f]{8}\." + re.escape(name) + "$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files and folders that a killed writer of `path` left behind; return them.

    Only temps made on this host by a process that no longer runs are removed, so a writer
    running at the same time (or on another node of a shared file system) is left alone.
    """
    path = Path(path)
    pattern = _temp_pattern(path.name)
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.iterdir():
        match = pattern.match(entry.name)
        if match and match.group(2) == _HOST and not _pid_alive(int(match.group(1))):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            removed.append(entry)
    return removed


def _temp_name(path: Path) -> Path:
    return path.parent / f".tmp.{os.getpid()}.{_HOST}.{uuid.uuid4().hex[:8]}.{path.name}"


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some file systems do not allow opening folders; the rename still holds
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success fsync it and rename it onto `path`.

    On any error inside the block the temporary file is removed and `path` is left as it was,
    so a killed or failed job never leaves a half-written file under the final name. The
    temporary name keeps the final file name as its suffix (writers that choose the format by
    suffix keep working) and starts with a dot. Stale temps of killed writers are cleaned first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = _temp_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic_write: nothing was written to the temporary file for {path}")
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(path.parent, directory=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to `path`; on success replace `path` with it.

    The folder is named like `atomic_write`'s temporary files (so `clean_stale_temps` removes
    one that a killed writer left behind) and made with the permissions the umask allows, like
    a plain mkdir. On any error inside the block it is removed and `path` is left as it was.
    Files written into it with `atomic_write` are durable when it is renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = _temp_name(path)
    tmp.mkdir()
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
        _fsync_path(path.parent, directory=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
