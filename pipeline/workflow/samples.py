"""The sample sheet (TSV) and movie discovery: one checked row per sample, indexed by name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from marrowflow.errors import ConfigError
from marrowflow.workflow.discovery import RESERVED_SAMPLE_NAMES, discover_samples, expand_plates, is_reserved

SAMPLE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
SHEET_COLUMNS = ("sample", "path", "condition", "ground_truth", "channels", "replicate", "batch", "labels")


def sample_table(config: Mapping[str, Any], *, base_dir: str | Path = ".",
                 generated: set[str] | None = None) -> pd.DataFrame:
    """All samples: the sample sheet's rows (`samples`) plus one per movie found by `discover`.

    Sample names must be unique across both; the discovered ones get the config's channels and
    `discover.condition`.
    """
    parts = []
    if config.get("samples"):
        sheet = read_sample_sheet(Path(base_dir) / config["samples"], config, base_dir=base_dir, generated=generated)
        parts.append(expand_plates(sheet, base_dir).set_index("sample", drop=False))  # a plate: a sample per field
    discover = config.get("discover") or {}
    if discover.get("folder"):
        found = discover_samples(Path(base_dir) / discover["folder"], discover["pattern"])
        found["condition"] = discover["condition"]
        found["replicate"] = found["sample"]  # each movie its own organoid
        found["batch"] = ""
        found["ground_truth"] = ""
        found["labels"] = ""  # discovered movies are segmented
        found["channels"] = ",".join(c["name"] for c in config["channels"])
        parts.append(found.set_index("sample", drop=False))
    if not parts:
        raise ConfigError("config.yaml names no samples: set `samples` (a sample sheet) or `discover.folder`")
    table = pd.concat(parts)
    if table.empty:
        raise ConfigError(f"no samples: the sample sheet {config.get('samples')} has no rows below its header"
                          + (f" and no movie matches {discover.get('pattern')!r} under {discover['folder']}"
                             if discover.get("folder") else "")
                          + ". Fix: add one row per movie (sample, path, ...)")
    clash = sorted(table.index[table.index.duplicated()].unique())
    if clash:
        raise ConfigError(f"sample name(s) {clash} come from both the sample sheet {config.get('samples')} and "
                          f"the movies found under {discover.get('folder')}; rename the sheet's samples")
    return table


def read_sample_sheet(path: str | Path, config: Mapping[str, Any], *,
                      base_dir: str | Path = ".", generated: set[str] | None = None) -> pd.DataFrame:
    """Read and check the sample sheet; return one row per sample indexed by sample name.

    `generated` holds paths that the workflow itself will create (the demo movies); every other
    `path` and `ground_truth` must exist. Paths are resolved against `base_dir`. The `channels`
    column (comma-separated names) defaults to the config's channel names; `replicate` (the
    organoid a sample images) to the sample's name; `batch` is free text; `labels` (optional) is the
    sample's own segmentation, used instead of segmenting (docs/own-labels.md). Sample names use
    letters, digits and `_ . -`, do not start with '.' and are not the name of a folder the rules
    write under results/ (RESERVED_SAMPLE_NAMES).
    """
    path = Path(path)
    base_dir = Path(base_dir)
    generated = generated or set()
    if not path.is_file():
        raise ConfigError(f"Sample sheet {path} (config key 'samples') does not exist; "
                          "create it with columns sample, path[, condition, ground_truth, channels, replicate, batch, "
                          "labels]")
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, comment="#").fillna("")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Sample sheet {path} is not a readable TSV file: {exc}") from exc
    missing = [c for c in ("sample", "path") if c not in sheet.columns]
    if missing:
        raise ConfigError(f"Sample sheet {path} lacks column(s) {missing}; found {list(sheet.columns)}. "
                          "It must be tab-separated with a header line: sample<TAB>path...")
    unknown = [c for c in sheet.columns if c not in SHEET_COLUMNS]
    if unknown:
        raise ConfigError(f"Sample sheet {path}: unknown column(s) {unknown}; allowed: {list(SHEET_COLUMNS)}")
    for col in SHEET_COLUMNS[2:]:
        if col not in sheet.columns:
            sheet[col] = ""
    sheet["sample"] = sheet["sample"].str.strip()
    problems = []
    dup = sorted(sheet.loc[sheet["sample"].duplicated(), "sample"].unique())
    if dup:
        lines = {name: [n + 2 for n in sheet.index[sheet["sample"] == name]] for name in dup}
        where = "; ".join(f"{name!r} on lines {', '.join(map(str, rows))}" for name, rows in lines.items())
        problems.append(f"duplicate sample name(s) {dup} ({where}); every sample needs its own name "
                        "(e.g. add _2, _3)")
    default_channels = ",".join(c["name"] for c in config["channels"])
    for row_no, row in enumerate(sheet.itertuples(index=False), start=2):
        where = f"line {row_no} (sample {row.sample!r})"
        if not SAMPLE_NAME.match(row.sample):
            problems.append(f"{where}: sample names may use letters, digits, '_', '.', '-' only")
        elif row.sample.startswith("."):
            problems.append(f"{where}: a sample name may not start with '.' ('.' and '..' are paths, "
                            "'.name' a hidden folder); rename it, e.g. without the dot")
        elif is_reserved(row.sample):
            problems.append(f"{where}: {row.sample!r} is the name of a results folder the workflow writes "
                            f"(reserved: {', '.join(RESERVED_SAMPLE_NAMES)}); rename the sample, e.g. "
                            f"{row.sample}_1")
        if not row.path:
            problems.append(f"{where}: empty path")
        elif row.path not in generated and not (base_dir / row.path).exists():
            problems.append(f"{where}: path {row.path!r} does not exist (relative paths are read "
                            f"from {base_dir.resolve()})")
        if row.ground_truth and row.path not in generated and not (base_dir / row.ground_truth).is_dir():
            problems.append(f"{where}: ground_truth folder {row.ground_truth!r} does not exist")
        if row.labels and not (base_dir / row.labels).exists():
            problems.append(f"{where}: labels {row.labels!r} (a label stack TIFF or a folder of per-frame label "
                            f"TIFFs, docs/own-labels.md) does not exist (relative paths are read from "
                            f"{base_dir.resolve()})")
    if problems:
        raise ConfigError(f"Sample sheet {path}:\n  " + "\n  ".join(problems))
    sheet["channels"] = [c if c else default_channels for c in sheet["channels"]]
    sheet["condition"] = [c if c else "none" for c in sheet["condition"]]
    # the organoid a sample images (its fields share it; intervals are over organoids); default: its own
    sheet["replicate"] = [r if r else name for r, name in zip(sheet["replicate"], sheet["sample"])]
    return sheet.set_index("sample", drop=False)
