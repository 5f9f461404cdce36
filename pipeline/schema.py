"""The configuration's JSON schema (package data `marrowflow/config.schema.yaml`) and the
defaults it declares.

The schema is the one place a default is written: the workflow fills a config in from it, and
each step's parameter object takes its field defaults from it (`schema_fields`), so a library
call without a config behaves like a workflow run that leaves the key out.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

import yaml

from marrowflow.errors import ConfigError

SCHEMA_FILE = "config.schema.yaml"


@functools.cache
def _schema() -> dict:
    text = (resources.files("marrowflow") / SCHEMA_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_schema() -> dict:
    """The configuration's JSON schema (a fresh copy; safe to modify)."""
    return copy.deepcopy(_schema())


def section_schema(path: str) -> dict:
    """The schema of the config section at the dotted `path` (e.g. "classification.track_vote");
    `*` stands for the value schema of a free-form mapping (e.g. "demo.*")."""
    node = _schema()
    for part in path.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    return node


def section_defaults(path: str) -> dict[str, Any]:
    """{key: default} of every key of the section at `path` that the schema gives a default."""
    props = section_schema(path).get("properties", {})
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def schema_fields(path: str) -> Callable[[str], Any]:
    """A function key -> dataclass field whose default is the schema's default of that key in
    the section at `path` (lists and mappings: a fresh copy per instance).

        _schema = schema_fields("tracking")

        @dataclass(frozen=True)
        class TrackingParams:
            gap_closing_frames: int = _schema("gap_closing_frames")
    """
    defaults = section_defaults(path)

    def schema_field(key: str) -> Any:
        value = defaults[key]
        if isinstance(value, (list, dict)):
            return dataclasses.field(default_factory=functools.partial(copy.deepcopy, value))
        return dataclasses.field(default=value)

    return schema_field


def check_keys(section: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Raise ConfigError naming `where` when `section` has keys outside `allowed`."""
    allowed = sorted(allowed)
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {allowed}. Fix the spelling or remove the key")


def check_choice(path: str, key: str, value: Any) -> None:
    """Raise ConfigError when `value` is not one of the schema's `enum` for `key` of section `path`."""
    allowed = section_schema(path)["properties"][key]["enum"]
    if value not in allowed:
        raise ConfigError(f"{path}.{key} is {value!r}; allowed: {', '.join(map(repr, allowed))}")


def config_section(cls: type, section: Mapping[str, Any] | None) -> Any:
    """`cls(**section)` for a parameter class whose fields are the keys of its config section
    `cls.SECTION`; keys left out take the field defaults, unknown keys raise ConfigError."""
    section = dict(section or {})
    check_keys(section, [f.name for f in dataclasses.fields(cls)], cls.SECTION)
    return cls(**section)


def as_params(cls: type, params: Any, **convert: Any) -> Any:
    """`params` itself when it is a `cls`, else `cls.from_config(params, **convert)` (a config
    mapping, or None for the defaults): library functions take either."""
    return params if isinstance(params, cls) else cls.from_config(params, **convert)
