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

_TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")


def _table_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise ValueError(f"{path}: expected a table file ending in {', '.join(_TABLE_SUFFIXES)}, "
                         f"found {suffix!r}")
    return suffix[1:]


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write `df` (without its index) as parquet, csv or tsv chosen by suffix, atomically.

    The same table always gives the same bytes (no timestamps are stored).
    """
    path = Path(path)
    kind = _table_kind(path)
    with atomic_write(path) as tmp:
        if kind == "parquet":
            df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        else:
            df.to_csv(tmp, index=False, sep="," if kind == "csv" else "\t", lineterminator="\n")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a parquet, csv or tsv table; raise InputError naming the file when it cannot."""
    path = Path(path)
    kind = _table_kind(path)
    if not path.is_file():
        raise InputError(f"{path}: expected a {kind} table, found no such file. Fix: check the path "
                         "or rerun the step that makes it.")
    try:
        if kind == "parquet":
            return pd.read_parquet(path, engine="pyarrow")
        return pd.read_csv(path, sep="," if kind == "csv" else "\t")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(f"{path}: expected a readable {kind} table, found an unreadable file ({err}). "
                         "Fix: delete it and rerun the step that makes it.") from err


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
