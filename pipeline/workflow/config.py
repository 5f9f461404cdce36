"""Configuration and sample sheet: validated against the JSON schema, defaults filled in.

Every problem is reported before any job starts, naming the file, the key, what is allowed and
what was found.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from marrowflow.errors import ConfigError
from marrowflow.schema import load_schema


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
