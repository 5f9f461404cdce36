"""Configuration and sample sheet: validated against the JSON schema, defaults filled in.

Every problem is reported before any job starts, naming the file, the key, what is allowed and
what was found.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

from pipeline.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
SAMPLE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
SHEET_COLUMNS = ("sample", "path", "condition", "ground_truth", "channels")


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    """Read the configuration's JSON schema (YAML)."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _with_defaults(validator_class):
    """Extend a jsonschema validator so that it fills in `default` values while validating."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _with_defaults(jsonschema.Draft202012Validator)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    where = _key_path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"{source}: unknown key(s) {', '.join(map(repr, extra))} at {where}{hint}"
    if error.validator == "enum":
        return (f"{source}: key '{where}' is {error.instance!r}; allowed values: "
                f"{', '.join(map(repr, error.validator_value))}")
    if error.validator == "required":
        return f"{source}: {error.message} (at {where}); add it to the file"
    return f"{source}: key '{where}': {error.message}"


def validate_config(config: Mapping[str, Any], *, source: str = "config.yaml",
                    schema: dict | None = None) -> dict:
    """Return a validated copy of `config` with the schema's defaults filled in.

    Raises ConfigError listing every problem, each naming the key and what is allowed.
    """
    schema = load_schema() if schema is None else schema
    filled = copy.deepcopy(dict(config))
    errors = sorted(_DefaultingValidator(schema).iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(_describe(e, source) for e in errors))
    names = [c["name"] for c in filled["channels"]]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{source}: channel name(s) {duplicated} appear more than once in 'channels'")
    seg_channel = filled.get("segmentation", {}).get("channel")
    if seg_channel is not None and seg_channel not in names:
        raise ConfigError(f"{source}: segmentation.channel is {seg_channel!r}, which is not one of "
                          f"the channels {names}; use one of those names")
    return filled


def load_config(path: str | Path) -> dict:
    """Read a YAML config file and validate it (see `validate_config`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist; copy config.yaml from the repository")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    return validate_config(raw, source=str(path))


def segmentation_channel(config: Mapping[str, Any], channel_names: list[str]) -> int:
    """Index of the channel to segment: `segmentation.channel`, else the nuclear one, else 0."""
    wanted = config.get("segmentation", {}).get("channel")
    if wanted is None:
        nuclear = [c["name"] for c in config["channels"] if c.get("role") == "nuclear"]
        wanted = nuclear[0] if nuclear else channel_names[0]
    if wanted in channel_names:
        return channel_names.index(wanted)
    if len(channel_names) == 1:
        return 0
    raise ConfigError(f"The channel to segment, {wanted!r}, is not among this sample's channels "
                      f"{channel_names}; set segmentation.channel or the sheet's channels column")


def sample_table(config: Mapping[str, Any], *, base_dir: str | Path = ".",
                 generated: set[str] | None = None) -> pd.DataFrame:
    """All samples: the sample sheet's rows (`samples`) plus one per movie found by `discover`.

    Sample names must be unique across both; the discovered ones get the config's channels and
    `discover.condition`.
    """
    from pipeline.discovery import discover_samples

    parts = []
    if config.get("samples"):
        parts.append(read_sample_sheet(Path(base_dir) / config["samples"], config, base_dir=base_dir,
                                       generated=generated))
    discover = config.get("discover") or {}
    if discover.get("folder"):
        found = discover_samples(Path(base_dir) / discover["folder"], discover["pattern"])
        found["condition"] = discover["condition"]
        found["ground_truth"] = ""
        found["channels"] = ",".join(c["name"] for c in config["channels"])
        parts.append(found.set_index("sample", drop=False))
    if not parts:
        raise ConfigError("config.yaml names no samples: set `samples` (a sample sheet) or `discover.folder`")
    table = pd.concat(parts)
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
    column (comma-separated names) defaults to the config's channel names.
    """
    path = Path(path)
    base_dir = Path(base_dir)
    generated = generated or set()
    if not path.is_file():
        raise ConfigError(f"Sample sheet {path} (config key 'samples') does not exist; "
                          "create it with columns sample, path[, condition, ground_truth, channels]")
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
        problems.append(f"duplicate sample name(s) {dup}; every sample needs its own name")
    default_channels = ",".join(c["name"] for c in config["channels"])
    for row_no, row in enumerate(sheet.itertuples(index=False), start=2):
        where = f"line {row_no} (sample {row.sample!r})"
        if not SAMPLE_NAME.match(row.sample):
            problems.append(f"{where}: sample names may use letters, digits, '_', '.', '-' only")
        if not row.path:
            problems.append(f"{where}: empty path")
        elif row.path not in generated and not (base_dir / row.path).exists():
            problems.append(f"{where}: path {row.path!r} does not exist (relative paths are read "
                            f"from {base_dir.resolve()})")
        if row.ground_truth and row.path not in generated and not (base_dir / row.ground_truth).is_dir():
            problems.append(f"{where}: ground_truth folder {row.ground_truth!r} does not exist")
    if problems:
        raise ConfigError(f"Sample sheet {path}:\n  " + "\n  ".join(problems))
    sheet["channels"] = [c if c else default_channels for c in sheet["channels"]]
    sheet["condition"] = [c if c else "none" for c in sheet["condition"]]
    return sheet.set_index("sample", drop=False)
