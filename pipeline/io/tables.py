"""Tables (parquet / csv / tsv) and JSON, written atomically and deterministically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marrowflow.errors import InputError
from marrowflow.io.atomic import atomic_write

TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
"""File suffix -> table format, for `read_table` and `write_table`."""


def table_format(path: str | os.PathLike) -> str:
    """"parquet", "csv" or "tsv" by the file's suffix; InputError for any other suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: expected a table file ending in {', '.join(TABLE_SUFFIXES)}, "
                         f"found {suffix or 'no suffix'!r}. Fix: name the file with one of those suffixes.")
    return TABLE_SUFFIXES[suffix]


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write `df` (without its index) as parquet, csv or tsv chosen by suffix (`TABLE_SUFFIXES`), atomically.

    The same table always gives the same bytes (no timestamps are stored).
    """
    path = Path(path)
    kind = table_format(path)
    with atomic_write(path) as tmp:
        if kind == "parquet":
            df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        else:
            df.to_csv(tmp, index=False, sep="," if kind == "csv" else "\t", lineterminator="\n")


def read_table(path: str | os.PathLike, *, fix: str | None = None) -> pd.DataFrame:
    """Read a parquet, csv or tsv table; raise InputError naming the file when it cannot.

    `fix` is the advice the error gives; the default suits a step's own outputs (rerun the step),
    a caller reading a user's file passes its own (e.g. what the table must hold).
    """
    path = Path(path)
    kind = table_format(path)
    if not path.is_file():
        raise InputError(f"{path}: expected a {kind} table, found no such file. "
                         f"Fix: {fix or 'check the path or rerun the step that makes it'}.")
    try:
        if kind == "parquet":
            return pd.read_parquet(path, engine="pyarrow")
        return pd.read_csv(path, sep="," if kind == "csv" else "\t")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: expected a readable {kind} table, found an unreadable file ({err}). "
                         f"Fix: {fix or 'delete it and rerun the step that makes it'}.") from err


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _nan_to_none(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(value) for value in obj]
    return obj


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write `obj` as JSON (sorted keys, indent 2, NaN/inf as null, numpy types converted), atomically."""
    text = json.dumps(_nan_to_none(json.loads(json.dumps(obj, default=_json_default))),
                      sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_write(path) as tmp:
        Path(tmp).write_text(text + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; raise InputError naming the file when it is missing or invalid."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: expected a JSON file, found no such file. Fix: check the path "
                         "or rerun the step that makes it.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: expected valid JSON, found an unreadable file ({err}). "
                         "Fix: delete it and rerun the step that makes it.") from err
