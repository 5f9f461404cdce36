"""Configuration and sample sheet: validated against the JSON schema, defaults filled in.

Every problem is reported before any job starts, naming the file, the key, what is allowed and
what was found.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from marrowflow.contract import measure_columns
from marrowflow.errors import ConfigError
from marrowflow.schema import load_schema

ALLOW_YTE = "MARROWFLOW_ALLOW_YTE"  # set to 1 to let a config file use Snakemake's YTE templating (runs code)


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


def refuse_yte(path: str | Path, *, allowed: bool | None = None) -> None:
    """Refuse a config file that enables Snakemake's YTE templating (`__use_yte__: true`).

    A YTE template runs Python code when Snakemake loads the file, even in a dry run; call this
    before Snakemake reads the file. `allowed` defaults to the environment variable
    MARROWFLOW_ALLOW_YTE being 1. The file must be plain YAML (no Python tags). A missing file is
    left to Snakemake.
    """
    path = Path(path)
    if allowed is None:
        allowed = os.environ.get(ALLOW_YTE) == "1"
    if allowed or not path.is_file():
        return
    try:
        with open(path, encoding="utf-8") as fh:
            document = yaml.safe_load(fh)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not plain YAML (a config may not use Python tags): {exc}") from exc
    if isinstance(document, dict) and document.get("__use_yte__"):
        raise ConfigError(f"{path} enables YTE templating (__use_yte__), which runs the code written in the "
                          f"file; it was not loaded. If you wrote it or trust it as you would a Snakefile, "
                          f"run with the environment variable {ALLOW_YTE}=1")


def _allowed_types(schema: Mapping[str, Any]) -> set[str]:
    """JSON types a schema (or any of its oneOf/anyOf alternatives) accepts."""
    kinds = schema.get("type", [])
    found = {kinds} if isinstance(kinds, str) else set(kinds)
    for alternative in schema.get("oneOf", []) + schema.get("anyOf", []):
        found |= _allowed_types(alternative)
    return found


def _parse_scalar(text: str, schema: Mapping[str, Any]) -> Any:
    """`text` as the integer, number, boolean or null the schema asks for, else `text` unchanged."""
    kinds = _allowed_types(schema)
    enum = schema.get("enum")
    if "string" in kinds or (enum is not None and text in enum):
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and "number" in kinds:
        try:
            value = float(text)
        except ValueError:
            return text
    if enum is not None:
        return value if not isinstance(value, str) and value in enum else text
    fits = {"null": value is None, "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    return value if any(fits.get(kind, False) for kind in kinds) else text


def _container_schema(schema: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The schema, or its first oneOf/anyOf alternative, that accepts a value of JSON type `kind`."""
    for candidate in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]:
        kinds = candidate.get("type", [])
        if kind in ([kinds] if isinstance(kinds, str) else kinds):
            return candidate
    return {}


def coerce_strings(value: Any, schema: Mapping[str, Any]) -> Any:
    """Turn strings into the integers, numbers, booleans and nulls the schema asks for.

    Snakemake passes nested `--config` values as text (`tracking={gap_closing_frames: 3}` gives
    "3"); a string is converted only where the schema does not allow a string and the text reads
    cleanly as YAML of an allowed type. Returns a new value; anything else is left for validation.
    """
    if isinstance(value, str):
        return _parse_scalar(value, schema)
    if isinstance(value, dict):
        schema = _container_schema(schema, "object")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            out[key] = coerce_strings(item, sub)
        return out
    if isinstance(value, list):
        items = _container_schema(schema, "array").get("items", {})
        return [coerce_strings(item, items) for item in value] if isinstance(items, dict) else value
    return value


def _gate_features(config: Mapping[str, Any]) -> set[str]:
    """Names a class condition may use (alone or as a side of a ratio "A/B"): the config's
    channels and the columns of cells.parquet (`area_um2`, `eccentricity`, ..., `mean_<channel>`)."""
    channels = [c["name"] for c in config["channels"]]
    return set(channels) | set(measure_columns(channels, ndim=3))


def _check_gates(config: Mapping[str, Any], source: str) -> None:
    """Every feature a class condition names (a key of `when`, or each side of "A/B") must be a
    channel or a measured column."""
    allowed = _gate_features(config)
    channels = [c["name"] for c in config["channels"]]
    measured = sorted(allowed - set(channels) - {f"mean_{c}" for c in channels} - {f"bg_{c}" for c in channels})
    for i, item in enumerate(config.get("classification", {}).get("classes", [])):
        for feature in item["when"]:
            unknown = [part.strip() for part in str(feature).split("/") if part.strip() not in allowed]
            if unknown:
                raise ConfigError(
                    f"{source}: classification.classes[{i}].when ({item['name']}) names "
                    f"{', '.join(map(repr, unknown))}, which is neither a channel nor a measured feature. "
                    f"Channels (config.yaml `channels`; a sample sheet's `channels` column may rename them per "
                    f"sample, but gates use these names): {', '.join(channels)}; features: {', '.join(measured)}, "
                    f"mean_<channel>, bg_<channel>, or a ratio \"A/B\" of two of these")


def _check_folders(config: Mapping[str, Any], source: str) -> None:
    """`reviews` must be apart from `results`: rules write results, never reviews."""
    results, reviews = Path(config["results"]).resolve(), Path(config["reviews"]).resolve()
    if results == reviews or results.is_relative_to(reviews) or reviews.is_relative_to(results):
        relation = ("is" if results == reviews
                    else "is inside" if reviews.is_relative_to(results) else "contains")
        raise ConfigError(f"{source}: reviews ({config['reviews']!r}) {relation} the results folder "
                          f"results ({config['results']!r}); human corrections must live apart from what the "
                          "workflow writes and removes: give `reviews` a folder of its own (default: reviews)")


def validate_config(config: Mapping[str, Any], *, source: str = "config.yaml",
                    schema: dict | None = None) -> dict:
    """Return a validated copy of `config` with the schema's defaults filled in.

    Strings where the schema wants an integer, number, boolean or null are converted first (see
    `coerce_strings`). Raises ConfigError listing every problem, each naming the key and what is
    allowed; then checks what the schema cannot: channel names, the features the classes' gates
    name, and that `reviews` and `results` are apart.
    """
    schema = load_schema() if schema is None else schema
    filled = coerce_strings(copy.deepcopy(dict(config)), schema)
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
    _check_gates(filled, source)
    _check_folders(filled, source)
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
